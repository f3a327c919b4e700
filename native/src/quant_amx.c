/* quant, the AMX tiles of the dense dynamic int8 kernel (Sapphire Rapids and later; ARCHITECTURE.md, "Numerics": int8).
 * TDPBUSD multiplies a tile of unsigned activation bytes (16 rows x 64 bytes of k) by a tile of signed weight bytes in
 * VNNI order (16 quads of k x 16 columns x 4 bytes) and adds groups of 4 into int32 sums without saturation: the same
 * exact sums as vpdpbusd (quant_avx512.c), and the same epilogue, so the same bits. The packed panel (quant.c: byte
 * (quad, column, t) at quad*256 + column*4 + t) is already in a B tile's order: 16 quads x 16 columns are 16 rows of
 * 64 bytes, 256 bytes apart, so the weights are read where they lie. A call computes 16 or 32 rows x one panel (64
 * columns) in two halves of 32 columns: C 2 x 2 tiles (1 x 2 for 16 rows), A 2, B 2 of the 8 tile registers. */
#include <immintrin.h>

#include "internal.h"

/* The tile configuration (palette 1), as LDTILECFG reads it: 64 bytes. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Every tile 16 rows x 64 bytes: A, B (16 quads x 16 columns) and C (16 x 16 int32). A constant in memory: GCC 12
 * does not count LDTILECFG as reading its operand, and dropped the stores that filled a local configuration (the
 * tiles were left unconfigured, and the first tile instruction raised #UD). */
static const tile_config config __attribute__((aligned(64))) = {
    .palette = 1, .colsb = {64, 64, 64, 64, 64, 64, 64, 64}, .rows = {16, 16, 16, 16, 16, 16, 16, 16}};

void t4j_amx_begin(void) { _tile_loadconfig(&config); }

/* The tile registers back to their initial state: a thread that keeps them in use has 8 KiB more to save at each
 * context switch. */
void t4j_amx_end(void) { _tile_release(); }

/* C tiles 0-3 hold rows 0-15 and 16-31 of 32 columns; A rows 0-15 in tile 4, 16-31 in 5; B's two 16-column halves in
 * 6, 7. Tile registers are not renamed: a load into a tile waits for the products that read it, so each load of the
 * next step is issued as soon as its tile's last reader of this step is, and runs under the products after it (in
 * order: the intrinsics are volatile asm). */
static void half32(int64_t quads, const uint8_t *x, int64_t ldx, const int8_t *b, int32_t *acc) {
    const int64_t ldb = 4 * T4J_Q8_PANEL;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, x, ldx);
    _tile_loadd(6, b, ldb);
    _tile_loadd(7, b + 64, ldb);
    _tile_loadd(5, x + 16 * ldx, ldx);
    for (int64_t q = 16; q < quads; q += 16) {
#ifndef T4J_AMX_NO_PF
        /* B's lines two steps ahead into L1: a B tile is 16 lines 256 bytes apart, which the tile load otherwise
         * waits for from L2 (or memory, for the first rows of a panel) */
        if (q + 32 < quads) {
            const int8_t *pf = b + (q + 32) * ldb;
            for (int r = 0; r < 16; r++) {
                _mm_prefetch((const char *)(pf + r * ldb), _MM_HINT_T0);
                _mm_prefetch((const char *)(pf + r * ldb + 64), _MM_HINT_T0);
            }
        }
#endif
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_loadd(4, x + 4 * q, ldx);
        _tile_dpbusd(2, 5, 6);
        _tile_loadd(6, b + q * ldb, ldb);
        _tile_dpbusd(3, 5, 7);
        _tile_loadd(7, b + q * ldb + 64, ldb);
        _tile_loadd(5, x + 16 * ldx + 4 * q, ldx);
    }
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
    const int64_t ldc = 4 * T4J_Q8_PANEL; /* acc's rows: 64 int32 */
    _tile_stored(0, acc, ldc);
    _tile_stored(1, acc + 16, ldc);
    _tile_stored(2, acc + 16 * T4J_Q8_PANEL, ldc);
    _tile_stored(3, acc + 16 * T4J_Q8_PANEL + 16, ldc);
    __asm__ volatile("" ::: "memory"); /* the tile stores are asm the compiler does not see write acc */
}

static void half16(int64_t quads, const uint8_t *x, int64_t ldx, const int8_t *b, int32_t *acc) {
    _tile_zero(0);
    _tile_zero(1);
    for (int64_t q = 0; q < quads; q += 16) {
        _tile_loadd(4, x + 4 * q, ldx);
        _tile_loadd(6, b + q * 4 * T4J_Q8_PANEL, 4 * T4J_Q8_PANEL);
        _tile_loadd(7, b + q * 4 * T4J_Q8_PANEL + 64, 4 * T4J_Q8_PANEL);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
    }
    _tile_stored(0, acc, 4 * T4J_Q8_PANEL);
    _tile_stored(1, acc + 16, 4 * T4J_Q8_PANEL);
    __asm__ volatile("" ::: "memory");
}

/* rows (16 or 32) rows of quantized x (+128, quads a multiple of 16) times one dense panel, through the AVX-512
 * level's epilogue to out. Between t4j_amx_begin and t4j_amx_end. */
void t4j_int8_amx_rows(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    int32_t acc[32 * T4J_Q8_PANEL] __attribute__((aligned(64)));
    for (int h = 0; h < 2; h++) {
        const int8_t *b = panel + h * 32 * 4; /* columns 32h .. 32h + 31 */
        if (rows == 32) half32(quads, x, ldx, b, acc + h * 32);
        else half16(quads, x, ldx, b, acc + h * 32);
    }
    t4j_int8_store_rows_avx512(acc, rows, o);
}

/* The AMX multiply-add loop: four independent accumulator tiles; an iteration is 4 TDPBUSD of 16 x 16 x 64. Runs
 * iterations / 16 of them (a VNNI iteration, t4j_peak_vnni_avx512, is 85 times less work) and returns the int8
 * operations done (2 per multiply-add). */
int64_t t4j_peak_amx(int64_t iterations) {
    int64_t n = iterations / 16 > 0 ? iterations / 16 : 1;
    uint8_t a[16 * 64] __attribute__((aligned(64)));
    int8_t b[16 * 64] __attribute__((aligned(64)));
    int32_t c[16 * 16] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 64; i++) a[i] = (uint8_t)(i % 7), b[i] = (int8_t)(i % 5 - 2);
    t4j_amx_begin();
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a, 64);
    _tile_loadd(6, b, 64);
    _tile_loadd(7, b, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t it = 0; it < n; it++) {
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
    }
    _tile_stored(0, c, 64);
    __asm__ volatile("" ::: "memory");
    volatile int32_t sink = c[0];
    (void)sink;
    t4j_amx_end();
    return n * 4 * 16 * 16 * 64 * 2;
}
