// Micro-benchmarks of the SafeTune kernels on random data (never zeros): cuBLAS bf16 GEMM TFLOP/s against
// the measured ~790 TFLOP/s bf16 peak, one LoRA layer step (forward + backward dx, dA, dB) in tokens/s per
// base-weight format and precision, attention forward+backward, and the memory-bound ops in GB/s.
// Timing: 3 warm-up runs, then 7 batches of `iters` runs each closed by a stream sync; the median batch
// time / iters is reported (host clock around synchronized batches: launch gaps are included, as in
// training). Usage: bench [quick | training | attention]
#include "safetune_kernels.h"
#include "safetune_ref.h"
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

static st_ctx *ctx;
static const double PEAK_TFLOPS = 790.0;

#define CK(call)                                                                  \
  do {                                                                            \
    int rc_ = (call);                                                             \
    if (rc_ != ST_OK) {                                                           \
      std::printf("FAIL %s: %s\n", #call, st_last_error());                       \
      std::exit(1);                                                               \
    }                                                                             \
  } while (0)

static void *dev_random_f32(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> h(n);
  for (auto &x : h) x = d(r);
  void *p;
  CK(st_malloc(ctx, &p, n * 4));
  CK(st_memcpy_h2d(ctx, p, h.data(), n * 4));
  return p;
}
static void *dev_random_bf16(size_t n, float lo, float hi, uint64_t seed) {
  void *f = dev_random_f32(n, lo, hi, seed), *b;
  CK(st_malloc(ctx, &b, n * 2));
  CK(st_cast_f32_to_bf16(ctx, (uint16_t *)b, (const float *)f, (int64_t)n));
  CK(st_ctx_sync(ctx));
  CK(st_free(ctx, f));
  return b;
}
static void *dev_weight(int wtype, int rows, int cols, uint64_t seed) {
  std::mt19937_64 r(seed);
  float a = 1.0f / std::sqrt((float)cols);
  std::uniform_real_distribution<float> d(-a, a);
  std::vector<float> h((size_t)rows * cols);
  for (auto &x : h) x = d(r);
  std::vector<uint8_t> q(st_weight_bytes(wtype, rows, cols));
  st_ref_quantize(q.data(), h.data(), wtype, rows, cols);
  void *p;
  CK(st_malloc(ctx, &p, q.size()));
  CK(st_memcpy_h2d(ctx, p, q.data(), q.size()));
  return p;
}

static double time_ms(const std::function<void()> &fn, int iters) {
  for (int i = 0; i < 3; i++) fn();
  CK(st_ctx_sync(ctx));
  std::vector<double> t;
  for (int b = 0; b < 7; b++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) fn();
    CK(st_ctx_sync(ctx));
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static void bench_gemm(bool quick) {
  struct S { int M, N, K; const char *what; } shapes[] = {
      {8192, 8192, 8192, "square 8192"},
      {4096, 2048, 2048, "1B q/o proj, 4096 tok"},
      {4096, 8192, 2048, "1B gate/up, 4096 tok"},
      {4096, 2048, 8192, "1B down, 4096 tok"},
      {2048, 576, 576, "135M q proj, 2048 tok"},
      {2048, 1536, 576, "135M gate/up, 2048 tok"}};
  std::printf("\n%-28s %8s %10s %8s\n", "cuBLAS bf16 GEMM (x·Wᵀ)", "ms", "TFLOP/s", "of peak");
  for (auto s : shapes) {
    if (quick && s.M == 8192) continue;
    void *A = dev_random_bf16((size_t)s.M * s.K, -1, 1, 1), *B = dev_random_bf16((size_t)s.N * s.K, -1, 1, 2), *C;
    CK(st_malloc(ctx, &C, (size_t)s.M * s.N * 2));
    double ms = time_ms([&] { CK(st_matmul_bf16(ctx, C, 1, (uint16_t *)A, (uint16_t *)B, s.M, s.N, s.K, 0, 1, 1, 0)); },
                        s.M == 8192 ? 10 : 50);
    double tf = 2.0 * s.M * s.N * s.K / (ms * 1e-3) / 1e12;
    std::printf("%-28s %8.3f %10.1f %7.1f%%\n", s.what, ms, tf, 100 * tf / PEAK_TFLOPS);
    st_free(ctx, A); st_free(ctx, B); st_free(ctx, C);
  }
}

static void bench_lora() {
  struct S { int N, in, out, r; const char *what; } shapes[] = {
      {4096, 2048, 8192, 16, "1B up_proj 4096 tok r16"},
      {4096, 2048, 2048, 16, "1B q_proj 4096 tok r16"},
      {2048, 576, 1536, 16, "135M up_proj 2048 tok r16"}};
  std::printf("\n%-28s %-5s %-11s %9s %12s %9s\n", "LoRA layer step (fwd+bwd)", "W", "math", "ms", "tokens/s", "TFLOP/s");
  for (auto s : shapes)
    for (int wt : {ST_W_BF16, ST_W_Q8_0, ST_W_Q4_1})
      for (int prec : {ST_PREC_BF16, ST_PREC_BF16_TILED, ST_PREC_F32}) {
        void *x = dev_random_f32((size_t)s.N * s.in, -1, 1, 3), *W = dev_weight(wt, s.out, s.in, 4);
        void *A = dev_random_f32((size_t)s.r * s.in, -0.1f, 0.1f, 5), *B = dev_random_f32((size_t)s.out * s.r, -0.1f, 0.1f, 6);
        void *dy = dev_random_f32((size_t)s.N * s.out, -1, 1, 7);
        void *y, *xa, *dx, *dA, *dB, *g;
        CK(st_malloc(ctx, &y, (size_t)s.N * s.out * 4)); CK(st_malloc(ctx, &xa, (size_t)s.N * s.r * 4));
        CK(st_malloc(ctx, &dx, (size_t)s.N * s.in * 4)); CK(st_malloc(ctx, &dA, (size_t)s.r * s.in * 4));
        CK(st_malloc(ctx, &dB, (size_t)s.out * s.r * 4)); CK(st_malloc(ctx, &g, (size_t)s.N * s.r * 4));
        double ms = time_ms([&] {
          CK(st_lora_forward(ctx, (float *)y, (float *)xa, (float *)x, W, wt, (float *)A, (float *)B, 2.0f, s.N, s.in, s.out, s.r, prec));
          CK(st_lora_backward(ctx, (float *)dx, (float *)dA, (float *)dB, (float *)g, (float *)dy, (float *)x, (float *)xa, W, wt,
                              (float *)A, (float *)B, 2.0f, s.N, s.in, s.out, s.r, prec, 1));
        }, 10);
        double flops = 2.0 * s.N * s.in * s.out * 2 + 2.0 * s.N * s.r * (s.in + s.out) * 4;
        std::printf("%-28s %-5s %-11s %9.3f %12.0f %9.1f\n", s.what, wt == 1 ? "bf16" : wt == 2 ? "q8_0" : "q4_1",
                    prec == ST_PREC_BF16 ? "cublas-bf16" : prec == ST_PREC_BF16_TILED ? "tiled-bf16" : "f32", ms, s.N / (ms * 1e-3), flops / (ms * 1e-3) / 1e12);
        for (void *p : {x, W, A, B, dy, y, xa, dx, dA, dB, g}) st_free(ctx, p);
      }
}

static bool tf32_mode = false;
static int sgemm_sw(st_ctx *c, float *C, const float *A, const float *B, int M, int N, int K, int ta, int tb, float al,
                    float be) {
  return tf32_mode ? st_sgemm_tf32(c, C, A, B, M, N, K, ta, tb, al, be) : st_sgemm(c, C, A, B, M, N, K, ta, tb, al, be);
}

// The LoRA rank-r products of one training step's linear layer, each timed through cuBLAS (st_sgemm) and the
// split-K strided kernel (st_sgemm_strided): which one a shape should take. n tokens, r = 16.
static void bench_lora_products() {
  struct S { int in, out; const char *what; } shapes[] = {{2048, 8192, "1B gate/up"}, {8192, 2048, "1B down"},
                                                         {2048, 2048, "1B q/o"}, {2048, 512, "1B k/v"},
                                                         {576, 1536, "135M gate/up"}};
  const int n = 2048, r = 16;
  std::printf("\n%-14s %-24s %9s %9s %9s  (us, n=%d r=%d)\n", "LoRA product", "shape", "cublas", "strided", "tf32", n, r);
  for (auto s : shapes) {
    void *x = dev_random_f32((size_t)n * s.in, -1, 1, 21), *A = dev_random_f32((size_t)r * s.in, -1, 1, 22);
    void *B = dev_random_f32((size_t)s.out * r, -1, 1, 23), *y = dev_random_f32((size_t)n * s.out, -1, 1, 24);
    void *u = dev_random_f32((size_t)n * r, -1, 1, 25), *dA = dev_random_f32((size_t)r * s.in, -1, 1, 26);
    void *dB = dev_random_f32((size_t)s.out * r, -1, 1, 27), *dx = dev_random_f32((size_t)n * s.in, -1, 1, 28);
    float *X = (float *)x, *Af = (float *)A, *Bf = (float *)B, *Y = (float *)y, *U = (float *)u, *DA = (float *)dA,
          *DB = (float *)dB, *DX = (float *)dx;
    struct P { const char *name; std::function<void()> cub, str; } ps[] = {
        {"u = x·Aᵀ", [&] { CK(sgemm_sw(ctx, U, X, Af, n, r, s.in, 0, 1, 1, 0)); },
         [&] { CK(st_sgemm_strided(ctx, U, r, X, s.in, 1, Af, 1, s.in, n, r, s.in, 1, 0)); }},
        {"y += s·u·Bᵀ", [&] { CK(sgemm_sw(ctx, Y, U, Bf, n, s.out, r, 0, 1, 2, 1)); },
         [&] { CK(st_sgemm_strided(ctx, Y, s.out, U, r, 1, Bf, 1, r, n, s.out, r, 2, 1)); }},
        {"du = dy·B", [&] { CK(sgemm_sw(ctx, U, Y, Bf, n, r, s.out, 0, 0, 2, 0)); },
         [&] { CK(st_sgemm_strided(ctx, U, r, Y, s.out, 1, Bf, r, 1, n, r, s.out, 2, 0)); }},
        {"dB += dyᵀ·u", [&] { CK(sgemm_sw(ctx, DB, Y, U, s.out, r, n, 1, 0, 2, 1)); },
         [&] { CK(st_sgemm_strided(ctx, DB, r, Y, 1, s.out, U, r, 1, s.out, r, n, 2, 1)); }},
        {"dA += duᵀ·x", [&] { CK(sgemm_sw(ctx, DA, U, X, r, s.in, n, 1, 0, 1, 1)); },
         [&] { CK(st_sgemm_strided(ctx, DA, s.in, U, 1, r, X, s.in, 1, r, s.in, n, 1, 1)); }},
        {"dx += du·A", [&] { CK(sgemm_sw(ctx, DX, U, Af, n, s.in, r, 0, 0, 1, 1)); },
         [&] { CK(st_sgemm_strided(ctx, DX, s.in, U, r, 1, Af, s.in, 1, n, s.in, r, 1, 1)); }}};
    for (auto &p : ps) {
      char sh[64];
      std::snprintf(sh, sizeof sh, "%s %d->%d", s.what, s.in, s.out);
      // the same call in TF32: swap st_sgemm for st_sgemm_tf32 while timing it
      tf32_mode = true;
      double tf = time_ms(p.cub, 50);
      tf32_mode = false;
      std::printf("%-14s %-24s %9.1f %9.1f %9.1f\n", p.name, sh, 1e3 * time_ms(p.cub, 50), 1e3 * time_ms(p.str, 50), 1e3 * tf);
    }
    for (void *q : {x, A, B, y, u, dA, dB, dx}) st_free(ctx, q);
  }
}

static void bench_attention() {
  struct S { int B, T, Hq, Hkv, D; const char *what; } shapes[] = {
      {8, 512, 32, 8, 64, "1B attn B8 T512 32/8 D64"}, {8, 512, 9, 3, 64, "135M attn B8 T512 9/3 D64"}};
  std::printf("\n%-28s %9s %9s %9s %9s\n", "attention (causal GQA)", "fwd ms", "bwd ms", "fwd TF/s", "bwd TF/s");
  for (auto s : shapes) {
    size_t nq = (size_t)s.B * s.T * s.Hq * s.D, nk = (size_t)s.B * s.T * s.Hkv * s.D, nl = (size_t)s.B * s.Hq * s.T;
    void *q = dev_random_f32(nq, -1, 1, 8), *k = dev_random_f32(nk, -1, 1, 9), *v = dev_random_f32(nk, -1, 1, 10);
    void *dO = dev_random_f32(nq, -1, 1, 11), *o, *l, *dq, *dk, *dv, *delta;
    CK(st_malloc(ctx, &o, nq * 4)); CK(st_malloc(ctx, &l, nl * 4)); CK(st_malloc(ctx, &dq, nq * 4));
    CK(st_malloc(ctx, &dk, nk * 4)); CK(st_malloc(ctx, &dv, nk * 4)); CK(st_malloc(ctx, &delta, nl * 4));
    float sc = 1.0f / std::sqrt((float)s.D);
    for (int tc = 0; tc < 2; tc++) {
      auto fwd = tc ? st_attention_forward_bf16 : st_attention_forward;
      auto bwd = tc ? st_attention_backward_bf16 : st_attention_backward;
      double f = time_ms([&] { CK(fwd(ctx, (float *)o, (float *)l, (float *)q, (float *)k, (float *)v, nullptr, s.B, s.T, s.T, s.T, 0, s.Hq, s.Hkv, s.D, sc)); }, 10);
      double b = time_ms([&] {
        CK(bwd(ctx, (float *)dq, (float *)dk, (float *)dv, (float *)delta, (float *)dO, (float *)o, (float *)q,
               (float *)k, (float *)v, (float *)l, nullptr, s.B, s.T, s.Hq, s.Hkv, s.D, sc));
      }, 10);
      double ff = 4.0 * s.B * s.Hq * (double)s.T * s.T / 2 * s.D;  // causal: half the score matrix
      std::printf("%-28s %9.3f %9.3f %9.1f %9.1f\n", tc == 0 ? s.what : "  same, bf16 tensor cores",
                  f, b, ff / (f * 1e-3) / 1e12, 2.5 * ff / (b * 1e-3) / 1e12);
    }
    for (void *p : {q, k, v, dO, o, l, dq, dk, dv, delta}) st_free(ctx, p);
  }
}

static void bench_memory_bound() {
  std::printf("\n%-36s %9s %9s\n", "memory-bound ops", "ms", "GB/s");
  {
    int N = 4096, C = 2048;
    void *x = dev_random_f32((size_t)N * C, -1, 1, 12), *w = dev_random_f32(C, 0.5f, 1.5f, 13), *y, *r, *dx;
    CK(st_malloc(ctx, &y, (size_t)N * C * 4)); CK(st_malloc(ctx, &r, N * 4)); CK(st_malloc(ctx, &dx, (size_t)N * C * 4));
    double f = time_ms([&] { CK(st_rmsnorm_forward(ctx, (float *)y, (float *)r, (float *)x, (float *)w, N, C, 1e-5f)); }, 50);
    double b = time_ms([&] { CK(st_rmsnorm_backward(ctx, (float *)dx, nullptr, (float *)y, (float *)x, (float *)w, (float *)r, N, C)); }, 50);
    std::printf("%-36s %9.3f %9.0f\n", "rmsnorm fwd 4096x2048", f, 2.0 * N * C * 4 / (f * 1e-3) / 1e9);
    std::printf("%-36s %9.3f %9.0f\n", "rmsnorm bwd 4096x2048", b, 3.0 * N * C * 4 / (b * 1e-3) / 1e9);
    for (void *p : {x, w, y, r, dx}) st_free(ctx, p);
  }
  {
    int N = 2048, V = 49152;
    void *lg = dev_random_f32((size_t)N * V, -8, 8, 14), *loss, *lse, *t, *d;
    std::vector<int32_t> th(N);
    for (int i = 0; i < N; i++) th[i] = (i * 7919) % V;
    CK(st_malloc(ctx, &t, N * 4)); CK(st_memcpy_h2d(ctx, t, th.data(), N * 4));
    CK(st_malloc(ctx, &loss, N * 4)); CK(st_malloc(ctx, &lse, N * 4)); CK(st_malloc(ctx, &d, (size_t)N * V * 4));
    double f = time_ms([&] { CK(st_cross_entropy_forward(ctx, (float *)loss, (float *)lse, (float *)lg, (int32_t *)t, nullptr, N, V)); }, 20);
    double b = time_ms([&] { CK(st_cross_entropy_backward(ctx, (float *)d, (float *)lg, (float *)lse, (int32_t *)t, nullptr, 1.0f, N, V)); }, 20);
    std::printf("%-36s %9.3f %9.0f\n", "cross_entropy fwd 2048x49152", f, 1.0 * N * V * 4 / (f * 1e-3) / 1e9);
    std::printf("%-36s %9.3f %9.0f\n", "cross_entropy bwd 2048x49152", b, 2.0 * N * V * 4 / (b * 1e-3) / 1e9);
    for (void *p : {lg, loss, lse, t, d}) st_free(ctx, p);
  }
  {
    int64_t n = 11 << 20;
    void *p = dev_random_f32(n, -1, 1, 15), *g = dev_random_f32(n, -1, 1, 16), *m = dev_random_f32(n, -1, 1, 17),
         *v = dev_random_f32(n, 0, 1, 18);
    double t = time_ms([&] { CK(st_adamw_update(ctx, (float *)p, (float *)g, (float *)m, (float *)v, n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, 5, 1.0f)); }, 50);
    std::printf("%-36s %9.3f %9.0f\n", "adamw 11M params", t, 7.0 * n * 4 / (t * 1e-3) / 1e9);
    for (void *q : {p, g, m, v}) st_free(ctx, q);
  }
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
  int n = 0;
  if (st_device_count(&n) != ST_OK || n == 0) {
    std::printf("SKIP: %s\n", st_last_error());
    return 77;
  }
  CK(st_ctx_create(&ctx, 0));
  char name[256];
  CK(st_device_name(0, name, sizeof name));
  std::printf("device: %s\n", name);
  if (argc > 1 && std::strcmp(argv[1], "attention") == 0) {  // for a profiler: the attention kernels alone
    bench_attention();
    CK(st_ctx_destroy(ctx));
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "training") == 0) {  // the parts the training step is made of, short
    bench_lora_products();
    bench_attention();
    CK(st_ctx_destroy(ctx));
    return 0;
  }
  bench_gemm(quick);
  bench_lora();
  bench_lora_products();
  bench_attention();
  bench_memory_bound();
  CK(st_ctx_destroy(ctx));
  return 0;
}
