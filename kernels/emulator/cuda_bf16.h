/* kernels/emulator: bfloat16 as its 16 bits, with the rounding conversion CUDA's __float2bfloat16_rn does. */
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    uint16_t bits;
};

static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    __nv_bfloat16 b;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        b.bits = (uint16_t)((u >> 16) | 0x40); /* NaN stays a quiet NaN */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u); /* round half to even */
        b.bits = (uint16_t)(u >> 16);
    }
    return b;
}

static inline float __bfloat162float(__nv_bfloat16 b) {
    uint32_t u = (uint32_t)b.bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
