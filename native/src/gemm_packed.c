/* gemm_packed: a linear layer's weights packed once, ahead of the calls (inference on frozen weights): W's B slivers
 * laid out as the driver (gemm.c) would pack them at every call, for the current level, tile and K block, then
 * the driver run with each sliver read where it lies (ARCHITECTURE.md, "GEMM": packed weights); where AMX-BF16 is on,
 * gemm_amx.c's tiles too, after the slivers or alone ("GEMM": f32 products on AMX tiles). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_driver.h"

#define PACKED_MAGIC 0x74346a4c50463332LL /* "t4jLPF32" */
#define PACKED_HEADER 64                  /* bytes before the slivers, which stay 64-byte aligned */

typedef struct {
    int64_t magic, n, k, kb, npad;
    int32_t level, alt_tile; /* the SIMD level packed for; its second tile (1) or its own (0) */
    int32_t format;          /* FORMAT_SLIVERS, FORMAT_AMX_F32 or FORMAT_AMX_TILES */
} packed_header;

/* the driver's B slivers; those and gemm_amx.c's bf16 piece tiles after them; the tiles alone (t4j_linear_pack_many_rows) */
enum { FORMAT_SLIVERS = 0, FORMAT_AMX_F32 = 1, FORMAT_AMX_TILES = 2 };
#define AMX_MIN_ROWS T4J_LINEAR_AMX_MIN_ROWS /* products of more rows take the AMX tiles, where packed so */

/* What t4j_linear_set_amx asked: -1 until first asked (then the environment's T4J_AMX=0 says off), 0 or 1. */
static atomic_int amx_wish = -1;

/* Whether weights packed now take AMX tiles: asked for, the CPU's, and the level AVX-512 (the split and the epilogue
 * are AVX-512 code) */
T4J_EXPORT int32_t t4j_linear_amx(void) {
    int s = atomic_load(&amx_wish);
    if (s < 0) {
        s = !t4j_amx_env_off();
        atomic_store(&amx_wish, s);
    }
#if defined(__x86_64__)
    return s && (t4j_cpu_features() & T4J_FEATURE_AMX_BF16) != 0 && t4j_simd_level() == T4J_LEVEL_AVX512;
#else
    return 0;
#endif
}

/* Under AMX_MIN_FLOPS the packing at the call and the threads' wake-ups cost what the tiles gain (two
 * threads on the Xeon: 128 x 384 x 384 at 0.79x the FMA kernels' speed, 512 x 384 x 384 at 1.01x, 1536 x 384 x 384 at
 * 1.34x; BENCHMARKS.md, thirty-ninth session). 32 columns and 32 k, the tiles' own widths: fewer would be padded with
 * zeros to them. The smaller operand's packing within T4J_AMX_F32_MAX_PACKED, the scratch a thread keeps. A stored
 * transposed (a weight gradient's gᵀ x) and k over AMX_MAX_K_A_TRANSPOSED tokens: in MiniLM's full fine-tuning step
 * these ran 1.04-1.12x slower on the tiles at 2048 tokens, at the FMA kernels' speed at 1536 and 0.86-1.02x their time
 * at 1024 (BENCHMARKS.md, thirty-ninth session): both operands are a step's activations, packed or split at the call. */
#define AMX_MIN_FLOPS 1.5e8
#define AMX_MAX_K_A_TRANSPOSED 1536
int t4j_amx_f32_wanted(int32_t trans_a, int64_t m, int64_t n, int64_t k) {
    return m > AMX_MIN_ROWS && n >= 32 && k >= 32 && 2.0 * (double)m * (double)n * (double)k >= AMX_MIN_FLOPS && (!trans_a || k <= AMX_MAX_K_A_TRANSPOSED) &&
           t4j_amx_f32_packed_bytes(T4J_MIN(m, n), k) <= T4J_AMX_F32_MAX_PACKED && t4j_linear_amx();
}

T4J_EXPORT int32_t t4j_gemm_on_amx(int32_t trans_a, int64_t m, int64_t n, int64_t k) { return t4j_amx_f32_wanted(trans_a, m, n, k); }

T4J_EXPORT int32_t t4j_linear_packed_amx(const void *packed) {
    packed_header h;
    memcpy(&h, packed, sizeof h);
    return h.magic == PACKED_MAGIC && h.format != FORMAT_SLIVERS;
}

T4J_EXPORT int32_t t4j_linear_set_amx(int32_t on) {
    atomic_store(&amx_wish, on != 0);
    return t4j_linear_amx();
}

/* The tile packed weights of n outputs take: the one the GEMM takes for a C of 128 rows (a sequence's tokens; rows
 * come in multiples of 8 more often than of 12) by n; *alt says whether it is the level's second tile. Any tile gives
 * the same bits. */
static const t4j_gemm_impl *packed_tile_for(int64_t n, int *alt) {
    const t4j_gemm_impl *level = t4j_gemm_current(), *I = t4j_gemm_tile_for(level, 128, n);
    *alt = I != level;
    return I;
}

/* many_rows: for products of more than AMX_MIN_ROWS rows only (t4j_linear_pack_many_rows): the tiles alone where AMX is on */
static int64_t packed_size(int64_t n, int64_t k, int many_rows) {
    if (n <= 0 || k <= 0) return PACKED_HEADER; /* no slivers: the header says the shape */
    int alt;
    const t4j_gemm_impl *I = packed_tile_for(n, &alt);
    int64_t slivers = t4j_ceil_div(n, I->nr) * I->nr * k * (int64_t)sizeof(float); /* a multiple of 128 bytes: the tiles stay aligned */
#if defined(__x86_64__)
    /* the tiles take at least the slivers' bytes (6 a weight, outputs padded to 32, against 4 padded to 32 or 48), so
     * tiles-only bytes hold the slivers of weights that cannot take tiles */
    if (t4j_linear_amx()) return PACKED_HEADER + (many_rows ? 0 : slivers) + t4j_amx_f32_packed_bytes(n, k);
#endif
    (void)many_rows;
    return PACKED_HEADER + slivers;
}

T4J_EXPORT int64_t t4j_linear_packed_size(int64_t n, int64_t k) { return packed_size(n, k, 0); }

T4J_EXPORT int64_t t4j_linear_packed_size_many_rows(int64_t n, int64_t k) { return packed_size(n, k, 1); }

static int32_t pack(int64_t n, int64_t k, const float *w, int64_t ldw, void *packed, int64_t bytes, int many_rows) {
    if (n < 0 || k < 0 || ldw < k || ((uintptr_t)packed & 63) != 0 || bytes < packed_size(n, k, many_rows)) return T4J_ERR_INVALID;
    int alt;
    const t4j_gemm_impl *I = packed_tile_for(n, &alt);
    int64_t npad = t4j_ceil_div(n, I->nr) * I->nr, blocks[3];
    t4j_gemm_blocks(blocks);
    packed_header h = {.magic = PACKED_MAGIC, .n = n, .k = k, .kb = k > 0 ? t4j_gemm_k_block(k, blocks[1]) : 0, .npad = npad,
                       .level = t4j_simd_level(), .alt_tile = alt, .format = FORMAT_SLIVERS};
#if defined(__x86_64__)
    if (n > 0 && k > 0 && t4j_linear_amx()) {
        /* AMX's tiles after the slivers (which rows few enough take: AMX_MIN_ROWS), or alone; W with a NaN or an
         * infinity keeps the slivers alone */
        int32_t rc = t4j_amx_f32_pack(n, k, w, ldw, (uint16_t *)((char *)packed + PACKED_HEADER + (many_rows ? 0 : npad * k * (int64_t)sizeof(float))));
        if (rc == T4J_ERR_NO_MEMORY) return rc;
        if (rc == T4J_OK) {
            h.format = many_rows ? FORMAT_AMX_TILES : FORMAT_AMX_F32;
            memcpy(packed, &h, sizeof h);
            if (many_rows) return T4J_OK;
        }
    }
#endif
    memcpy(packed, &h, sizeof h);
    float *dst = (float *)((char *)packed + PACKED_HEADER);
    /* B = W^T: element (k index p, column j) at w[j*ldw + p], packed by the driver's own routine */
    t4j_kseg seg = {.b = w, .rsb = 1, .csb = ldw, .k = k, .alpha = 1.0f};
    kview bv = {&seg, 1, 1};
    for (int64_t pc = 0; pc < k; pc += h.kb) {
        int64_t kc = T4J_MIN(h.kb, k - pc);
        for (int64_t j = 0; j < npad; j += I->nr) t4j_gemm_pack_view(I, &bv, j, T4J_MIN(I->nr, n - j), pc, kc, I->nr, dst + pc * npad + j * kc);
    }
    return T4J_OK;
}

T4J_EXPORT int32_t t4j_linear_pack(int64_t n, int64_t k, const float *w, int64_t ldw, void *packed, int64_t bytes) { return pack(n, k, w, ldw, packed, bytes, 0); }

T4J_EXPORT int32_t t4j_linear_pack_many_rows(int64_t n, int64_t k, const float *w, int64_t ldw, void *packed, int64_t bytes) {
    return pack(n, k, w, ldw, packed, bytes, 1);
}

T4J_EXPORT int32_t t4j_linear_packed(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, float *y, int64_t ldy) {
    return t4j_linear_packed_lowrank(m, n, k, x, ldx, packed, bias, y, ldy, NULL);
}

int32_t t4j_linear_packed_lowrank(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, float *y, int64_t ldy,
                                  const t4j_lowrank *L) {
    packed_header h;
    memcpy(&h, packed, sizeof h);
    if (h.magic != PACKED_MAGIC || h.n != n || h.k != k) return T4J_ERR_INVALID;
    int alt;
    const t4j_gemm_impl *I = packed_tile_for(n, &alt);
    int64_t blocks[3];
    t4j_gemm_blocks(blocks);
    if (m <= 0 || n <= 0) return T4J_OK;
    if (k == 0) { /* no products: y is the bias */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) y[i * ldy + j] = bias ? bias[j] : 0.0f;
        return t4j_gemm_lowrank_pass(I, L, m, n, y, ldy, T4J_OK);
    }
#if defined(__x86_64__)
    /* more rows than AMX_MIN_ROWS on AMX tiles (while it is on); fewer on the slivers, whose 4 bytes a weight stream from
     * memory faster than the tiles' 6 (MiniLM's batch 1 at 16 tokens: 3.2 against 2.4 ms). The tiles' layout depends on
     * no tile or K block of the FMA kernels': only the slivers are checked against those. */
    if (h.format != FORMAT_SLIVERS && m > AMX_MIN_ROWS && t4j_linear_amx()) {
        const uint16_t *tiles = (const uint16_t *)((const char *)packed + PACKED_HEADER + (h.format == FORMAT_AMX_F32 ? h.npad * k * (int64_t)sizeof(float) : 0));
        return t4j_amx_f32_linear(m, n, k, x, ldx, tiles, bias, y, ldy, L);
    }
#endif
    if (h.format == FORMAT_AMX_TILES) return T4J_ERR_WRONG_PACKING; /* no slivers for few rows, or with AMX off */
    if (h.level != t4j_simd_level() || h.alt_tile != alt || h.kb != t4j_gemm_k_block(k, blocks[1])) return T4J_ERR_WRONG_PACKING;
    t4j_kseg seg = {.a = x, .rsa = ldx, .csa = 1, .k = k, .alpha = 1.0f};
    gemm_job J = {.impl = I, .m = m, .n = n, .k = k, .mc = blocks[0], .nc = blocks[2], .kb = h.kb, .beta = 0.0f, .c = y, .rsc = ldy, .csc = 1,
                  .bias = bias, .bias_rs = 0, .bias_cs = 1, .lowrank = L, .bpacked = (const float *)((const char *)packed + PACKED_HEADER),
                  .bnpad = h.npad};
    J.av = (kview){&seg, 1, 0};
    J.bv = (kview){&seg, 1, 1};
    return t4j_gemm_run_tiled(&J);
}

