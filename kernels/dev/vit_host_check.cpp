// kernels/dev/vit_host_check.sh: the kernels of kernels/src/vit.cu run on the CPU, one thread per block
// (their loops stride by blockDim and their phases are split by __syncthreads, so one thread computes
// what a block does), against plain double-precision loops written from the formulas. It checks the
// indexing and the math where no GPU is at hand; races and shared-memory limits need the GPU tests.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static Dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__ static
#define __device__ static
#define __shared__
static void __syncthreads() {}
float sh[1 << 16]; // the blocks' dynamic shared memory, one block at a time
static float t4j_block_sum(float v) { return v; } // one thread: its sum is the block's
#define T4J_FOR_EACH_CELL(i, j, rows, cols)                                                     \
    for (int64_t i = blockIdx.y; i < (rows); i += gridDim.y)                                    \
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < (cols); j += (int64_t)gridDim.x * blockDim.x)
#define T4J_FOR_EACH(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

#include "vit_kernels.inc" // the kernels of vit.cu, cut out by vit_host_check.sh

template <typename F> static void launch(unsigned gx, unsigned gy, F kernel) {
    gridDim.x = gx;
    gridDim.y = gy;
    blockDim.x = 1;
    threadIdx.x = 0;
    for (unsigned y = 0; y < gy; y++)
        for (unsigned x = 0; x < gx; x++) {
            blockIdx.x = x;
            blockIdx.y = y;
            kernel();
        }
}

static std::mt19937 rng(7);
static std::vector<float> random(size_t n) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng);
    return v;
}

static int failures = 0;
static void expect(const char *what, const std::vector<float> &got, const std::vector<double> &want, double tol) {
    double worst = 0;
    for (size_t i = 0; i < want.size(); i++) worst = std::fmax(worst, std::fabs(got[i] - want[i]));
    bool ok = worst <= tol;
    if (!ok) failures++;
    std::printf("%-44s max |error| %.3g %s\n", what, worst, ok ? "ok" : "FAILED");
}

static void attention(int batch, int heads, int seq, int dh) {
    int d = heads * dh, ld = 3 * d, rows = batch * seq;
    float scale = 1.0f / std::sqrt((float)dh);
    auto qkv = random((size_t)rows * ld), dout = random((size_t)rows * d);
    std::vector<float> probs((size_t)batch * heads * seq * seq), out((size_t)rows * d), dqkv((size_t)rows * ld);
    launch(batch * heads, 1, [&] { attention_forward_kernel(seq, heads, dh, qkv.data(), scale, probs.data(), out.data()); });
    launch(batch * heads, 1, [&] { attention_backward_kernel(seq, heads, dh, qkv.data(), probs.data(), dout.data(), scale, dqkv.data()); });
    std::vector<double> wp(probs.size()), wo(out.size()), wg(dqkv.size());
    auto Q = [&](int b, int t, int h, int c) { return (double)qkv[(size_t)(b * seq + t) * ld + h * dh + c]; };
    auto K = [&](int b, int t, int h, int c) { return (double)qkv[(size_t)(b * seq + t) * ld + d + h * dh + c]; };
    auto V = [&](int b, int t, int h, int c) { return (double)qkv[(size_t)(b * seq + t) * ld + 2 * d + h * dh + c]; };
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++) {
            std::vector<double> P((size_t)seq * seq), dP((size_t)seq * seq), dS((size_t)seq * seq);
            for (int i = 0; i < seq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < seq; j++) {
                    double s = 0;
                    for (int c = 0; c < dh; c++) s += Q(b, i, h, c) * K(b, j, h, c);
                    P[i * seq + j] = s * scale;
                    mx = std::fmax(mx, P[i * seq + j]);
                }
                for (int j = 0; j < seq; j++) sum += P[i * seq + j] = std::exp(P[i * seq + j] - mx);
                for (int j = 0; j < seq; j++) P[i * seq + j] /= sum;
            }
            for (int i = 0; i < seq; i++)
                for (int j = 0; j < seq; j++) {
                    wp[((size_t)(b * heads + h) * seq + i) * seq + j] = P[i * seq + j];
                    double s = 0;
                    for (int c = 0; c < dh; c++) s += dout[(size_t)(b * seq + i) * d + h * dh + c] * V(b, j, h, c);
                    dP[i * seq + j] = s;
                }
            for (int i = 0; i < seq; i++) {
                double r = 0;
                for (int j = 0; j < seq; j++) r += dP[i * seq + j] * P[i * seq + j];
                for (int j = 0; j < seq; j++) dS[i * seq + j] = P[i * seq + j] * (dP[i * seq + j] - r);
            }
            for (int i = 0; i < seq; i++)
                for (int c = 0; c < dh; c++) {
                    double o = 0, dq = 0, dk = 0, dv = 0;
                    for (int j = 0; j < seq; j++) {
                        o += P[i * seq + j] * V(b, j, h, c);
                        dq += dS[i * seq + j] * K(b, j, h, c);
                        dk += dS[j * seq + i] * Q(b, j, h, c);
                        dv += P[j * seq + i] * dout[(size_t)(b * seq + j) * d + h * dh + c];
                    }
                    size_t row = (size_t)(b * seq + i);
                    wo[row * d + h * dh + c] = o;
                    wg[row * ld + h * dh + c] = scale * dq;
                    wg[row * ld + d + h * dh + c] = scale * dk;
                    wg[row * ld + 2 * d + h * dh + c] = dv;
                }
        }
    char name[96];
    std::snprintf(name, sizeof name, "attention b%d h%d seq%d dh%d: probs", batch, heads, seq, dh);
    expect(name, probs, wp, 1e-6);
    std::snprintf(name, sizeof name, "attention b%d h%d seq%d dh%d: out", batch, heads, seq, dh);
    expect(name, out, wo, 1e-5);
    std::snprintf(name, sizeof name, "attention b%d h%d seq%d dh%d: dqkv", batch, heads, seq, dh);
    expect(name, dqkv, wg, 1e-5);
}

int main() {
    for (auto s : std::vector<std::vector<int>>{{1, 1, 1, 1}, {3, 2, 5, 8}, {2, 4, 17, 32}, {5, 3, 31, 7}, {1, 1, 32, 64}}) attention(s[0], s[1], s[2], s[3]);

    int batch = 3, p = 4, dm = 7, seq = p + 1;
    auto emb = random((size_t)batch * p * dm), cls = random(dm), pos = random((size_t)seq * dm), bias = random(dm);
    std::vector<float> x((size_t)batch * seq * dm);
    launch(1, batch * seq, [&] { vit_tokens_kernel(batch, p, dm, emb.data(), cls.data(), pos.data(), x.data()); });
    launch(1, batch * seq, [&] { add_bias_kernel(batch * seq, dm, bias.data(), x.data()); });
    std::vector<double> wx(x.size());
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < seq; t++)
            for (int j = 0; j < dm; j++)
                wx[(size_t)(b * seq + t) * dm + j] = (double)(t == 0 ? cls[j] : emb[(size_t)(b * p + t - 1) * dm + j]) + pos[(size_t)t * dm + j] + bias[j];
    expect("tokens + bias", x, wx, 1e-6);

    std::vector<float> firsts((size_t)batch * dm);
    launch(1, batch, [&] { copy_2d_kernel(batch, dm, x.data(), (int64_t)seq * dm, firsts.data(), dm); });
    std::vector<double> wf(firsts.size());
    for (int b = 0; b < batch; b++)
        for (int j = 0; j < dm; j++) wf[(size_t)b * dm + j] = x[(size_t)b * seq * dm + j];
    expect("copy_2d: every sequence's first row", firsts, wf, 0);

    auto src = random(5 * 9);
    std::vector<int32_t> perm(9);
    for (int j = 0; j < 9; j++) perm[j] = (j * 4 + 3) % 9;
    std::vector<float> gathered(45);
    launch(1, 5, [&] { gather_columns_kernel(5, 9, src.data(), perm.data(), gathered.data()); });
    std::vector<double> wgat(45);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 9; j++) wgat[i * 9 + j] = src[i * 9 + perm[j]];
    expect("gather_columns", gathered, wgat, 0);

    auto g1 = random(15), g2 = random(17);
    std::vector<float> sums(2), scale(1);
    launch(1, 1, [&] { sum_squares_kernel(15, g1.data(), &sums[0]); });
    launch(1, 1, [&] { sum_squares_kernel(17, g2.data(), &sums[1]); });
    double ss1 = 0, ss2 = 0;
    for (float v : g1) ss1 += (double)v * v;
    for (float v : g2) ss2 += (double)v * v;
    expect("sum_squares", sums, {ss1, ss2}, 1e-5);
    double norm = std::sqrt(ss1 + ss2);
    launch(1, 1, [&] { clip_scale_kernel(2, sums.data(), (float)(norm / 2), scale.data()); });
    expect("clip_scale to half the norm", scale, {(norm / 2) / (norm + 1e-6)}, 1e-6);
    launch(1, 1, [&] { clip_scale_kernel(2, sums.data(), (float)(norm * 2), scale.data()); });
    expect("clip_scale under the limit", scale, {1.0}, 0);

    std::printf(failures == 0 ? "all host checks pass\n" : "%d host checks FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
