/* CPU feature detection and the choice of SIMD level, made once at load time. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static atomic_int current_level = -1;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

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
    int32_t f = 0;
    if (os_ymm && avx2 && fma) f |= T4J_FEATURE_AVX2_FMA;
    if (os_zmm && (f & T4J_FEATURE_AVX2_FMA) && avx512f && avx512dq && avx512bw && avx512vl) f |= T4J_FEATURE_AVX512;
    if ((f & T4J_FEATURE_AVX512) && avx512vnni) f |= T4J_FEATURE_AVX512_VNNI;
    if (os_ymm && avxvnni) f |= T4J_FEATURE_AVX_VNNI;
    return f;
}
#else
static int32_t detect_features(void) { return 0; }
#endif

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

T4J_EXPORT int32_t t4j_abi_version(void) { return 1; }

T4J_EXPORT void t4j_noop(void) {}

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
