/* CPU feature detection and the choice of SIMD level, made once at load time. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static atomic_int current_level = -1;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux gives a process the AMX tile data state only when asked (arch_prctl ARCH_REQ_XCOMP_PERM for
 * XFEATURE_XTILEDATA, since 5.16); a tile instruction before that raises SIGILL. The request fails, and AMX stays
 * unused, on an older kernel, in a VM that does not pass the state through, or where a thread's alternate signal
 * stack is too small for the larger signal frame. */
#define T4J_ARCH_REQ_XCOMP_PERM 0x1023
#define T4J_XFEATURE_XTILEDATA 18

static int amx_granted(uint64_t xcr0) {
    if (((xcr0 >> 17) & 3) != 3) return 0; /* the OS manages no tile state (XTILECFG, XTILEDATA) */
#ifdef SYS_arch_prctl
    return syscall(SYS_arch_prctl, T4J_ARCH_REQ_XCOMP_PERM, T4J_XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static int32_t detect_features(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = xgetbv0();
    int os_ymm = (xcr0 & 0x6) == 0x6;            /* XMM and YMM state */
    int os_zmm = (xcr0 & 0xe6) == 0xe6;          /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int avx512vnni = (c >> 11) & 1;
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    int avxvnni = (a1 >> 4) & 1;
    int amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1, amx_bf16 = (d >> 22) & 1;
    int32_t f = 0;
    if (os_ymm && avx2 && fma) f |= T4J_FEATURE_AVX2_FMA;
    if (os_zmm && (f & T4J_FEATURE_AVX2_FMA) && avx512f && avx512dq && avx512bw && avx512vl) f |= T4J_FEATURE_AVX512;
    if ((f & T4J_FEATURE_AVX512) && avx512vnni) f |= T4J_FEATURE_AVX512_VNNI;
    if (os_ymm && avxvnni) f |= T4J_FEATURE_AVX_VNNI;
    int amx = (f & T4J_FEATURE_AVX512) && amx_tile && (amx_int8 || amx_bf16) && amx_granted(xcr0);
    if (amx && (f & T4J_FEATURE_AVX512_VNNI) && amx_int8) f |= T4J_FEATURE_AMX_INT8;
    if (amx && amx_bf16) f |= T4J_FEATURE_AMX_BF16;
    return f;
}

/* Data or unified cache of one level from the deterministic cache leaf: ways × partitions × line × sets. */
static int64_t cache_bytes_cpuid(int32_t level) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    unsigned leaf = 4;
    if (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) { /* "AuthenticAMD": the same format in 0x8000001D */
        if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !((c >> 22) & 1)) return 0; /* no topology extensions */
        leaf = 0x8000001D;
    }
    for (unsigned i = 0; i < 16; i++) {
        if (!__get_cpuid_count(leaf, i, &a, &b, &c, &d)) return 0;
        unsigned type = a & 0x1F, lvl = (a >> 5) & 7;
        if (type == 0) break;                                  /* no more caches */
        if ((int32_t)lvl != level || (type != 1 && type != 3)) continue; /* 1 data, 3 unified */
        int64_t ways = ((b >> 22) & 0x3FF) + 1, partitions = ((b >> 12) & 0x3FF) + 1, line = (b & 0xFFF) + 1, sets = (int64_t)c + 1;
        return ways * partitions * line * sets;
    }
    return 0;
}
#else
static int32_t detect_features(void) { return 0; }
static int64_t cache_bytes_cpuid(int32_t level) { return 0; }
#endif

T4J_EXPORT int64_t t4j_cache_bytes(int32_t level) { return level >= 1 && level <= 3 ? cache_bytes_cpuid(level) : 0; }

static int32_t highest_supported(void) {
    int32_t f = t4j_cpu_features();
    if (f & T4J_FEATURE_AVX512) return T4J_LEVEL_AVX512;
    if (f & T4J_FEATURE_AVX2_FMA) return T4J_LEVEL_AVX2;
    return T4J_LEVEL_PORTABLE;
}

/* T4J_SIMD=portable|avx2|avx512 lowers the level chosen at load time. */
static int32_t level_from_env(void) {
    const char *s = getenv("T4J_SIMD");
    if (s == NULL) return T4J_LEVEL_AVX512;
    if (strcmp(s, "portable") == 0) return T4J_LEVEL_PORTABLE;
    if (strcmp(s, "avx2") == 0) return T4J_LEVEL_AVX2;
    return T4J_LEVEL_AVX512;
}

int t4j_amx_env_off(void) {
    const char *s = getenv("T4J_AMX");
    return s != NULL && strcmp(s, "0") == 0;
}

T4J_EXPORT int32_t t4j_abi_version(void) { return 1; }

T4J_EXPORT void t4j_noop(void) {}

/* The read loop: whole vectors a load, a sum per stream (the sums only keep the loads from being dropped). What
 * bounds one thread is the lines it keeps in flight, not the arithmetic: on a Zen 5 VM one stream of 8-byte loads
 * read 25-29 GB/s, four streams 36, while the int8 GEMV streamed its weights at up to 42; the widest loads keep
 * the load queue from being the limit, the streams the prefetchers' depth (the caller tries several). */
#define T4J_READ_BODY(vec)                                                             \
    const vec *p = buf;                                                                \
    int64_t part = bytes / 64 / s_count * (64 / (int64_t)sizeof(vec)); /* vectors a stream */ \
    vec sum[16];                                                                       \
    memset(sum, 0, sizeof sum);                                                        \
    for (int64_t i = 0; i < part; i += 64 / (int64_t)sizeof(vec))                     \
        for (int s = 0; s < s_count; s++)                                              \
            for (int64_t v = 0; v < 64 / (int64_t)sizeof(vec); v++) sum[s] += p[s * part + i + v]; \
    uint64_t total = 0;                                                                \
    for (int s = 0; s < 16; s++)                                                       \
        for (size_t l = 0; l < sizeof(vec) / 8; l++) total += sum[s][l];               \
    return (int64_t)total;

typedef uint64_t t4j_u64x1 __attribute__((vector_size(8)));
static int64_t read_portable(const void *buf, int64_t bytes, int s_count) { T4J_READ_BODY(t4j_u64x1) }

#if defined(__x86_64__)
typedef uint64_t t4j_u64x4 __attribute__((vector_size(32)));
typedef uint64_t t4j_u64x8 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static int64_t read_avx2(const void *buf, int64_t bytes, int s_count) { T4J_READ_BODY(t4j_u64x4) }
__attribute__((target("avx512f"))) static int64_t read_avx512(const void *buf, int64_t bytes, int s_count) { T4J_READ_BODY(t4j_u64x8) }
#endif

T4J_EXPORT int64_t t4j_peak_read(const void *buf, int64_t bytes, int32_t streams) {
    int s_count = T4J_MIN(T4J_MAX(streams, 1), 16);
#if defined(__x86_64__)
    int32_t level = t4j_simd_level();
    if (level == T4J_LEVEL_AVX512) return read_avx512(buf, bytes, s_count);
    if (level == T4J_LEVEL_AVX2) return read_avx2(buf, bytes, s_count);
#endif
    return read_portable(buf, bytes, s_count);
}

T4J_EXPORT int32_t t4j_cpu_features(void) {
    static atomic_int features = -1;
    int32_t f = atomic_load(&features);
    if (f < 0) {
        f = detect_features();
        atomic_store(&features, f);
    }
    return f;
}

T4J_EXPORT int32_t t4j_set_simd_level(int32_t level) {
    int32_t l = T4J_MIN(T4J_MAX(level, T4J_LEVEL_PORTABLE), highest_supported());
    atomic_store(&current_level, l);
    return l;
}

T4J_EXPORT int32_t t4j_simd_level(void) {
    int32_t l = atomic_load(&current_level);
    return l >= 0 ? l : t4j_set_simd_level(level_from_env());
}

__attribute__((constructor)) static void choose_level_at_load(void) { (void)t4j_simd_level(); }
