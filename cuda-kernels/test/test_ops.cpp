// GPU op tests: every kernel, forward and backward, against its CPU reference (ref/safetune_ref.c) on
// fresh random inputs. Output buffers are poisoned (all bytes 0xFF = NaN) before each kernel runs, so an
// element the kernel never wrote fails. Tolerance per element: |gpu - ref| <= atol + rtol*|ref|, chosen
// per dtype/precision. Prints one table row per checked tensor; exit 0 = all passed, 1 = a failure,
// 77 = no usable GPU (skipped, with the reason).
// Usage: test_ops [seed]
#include "safetune_kernels.h"
#include "safetune_ref.h"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

static st_ctx *ctx;
static std::mt19937_64 rng;
static int failures = 0, checks = 0;

#define CK(call)                                                                              \
  do {                                                                                        \
    int rc_ = (call);                                                                         \
    if (rc_ != ST_OK) {                                                                       \
      std::printf("FAIL  %s -> %d: %s\n", #call, rc_, st_last_error());                      \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

static std::vector<float> rnd(size_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) x = d(rng);
  return v;
}

// device buffer: upload, poison, download
struct Buf {
  void *p = nullptr;
  size_t bytes = 0;
  explicit Buf(size_t b) : bytes(b) { CK(st_malloc(ctx, &p, b)); }
  template <typename T> explicit Buf(const std::vector<T> &v) : Buf(v.size() * sizeof(T)) { up(v); }
  ~Buf() { st_free(ctx, p); }
  Buf(const Buf &) = delete;
  template <typename T> void up(const std::vector<T> &v) { CK(st_memcpy_h2d(ctx, p, v.data(), v.size() * sizeof(T))); }
  void poison() { CK(st_memset(ctx, p, 0xFF, bytes)); }
  template <typename T> std::vector<T> down() {
    CK(st_ctx_sync(ctx));
    std::vector<T> v(bytes / sizeof(T));
    CK(st_memcpy_d2h(ctx, v.data(), p, bytes));
    return v;
  }
  float *f() { return (float *)p; }
  template <typename T> T *as() { return (T *)p; }
};

static void compare(const char *op, const std::string &what, const std::vector<float> &gpu, const std::vector<float> &ref,
                    double atol, double rtol) {
  checks++;
  double worst = 0, maxabs = 0;
  size_t wi = 0, bad = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    double g = gpu[i], r = ref[i];
    double ratio;
    if (std::isnan(r)) ratio = std::isnan(g) ? 0 : INFINITY;
    else if (!std::isfinite(g)) ratio = INFINITY;
    else {
      double e = std::fabs(g - r);
      maxabs = std::max(maxabs, e);
      ratio = e == 0 ? 0 : e / (atol + rtol * std::fabs(r));
    }
    if (ratio > 1) bad++;
    if (ratio > worst) { worst = ratio; wi = i; }
  }
  bool ok = bad == 0 && gpu.size() == ref.size();
  if (!ok) failures++;
  std::printf("%-6s %-26s %-34s n=%-9zu max|err|=%-10.3g worst err/tol=%-8.3g %s", ok ? "PASS" : "FAIL", op,
              what.c_str(), ref.size(), maxabs, worst, ok ? "" : "");
  if (!ok) std::printf("(%zu bad; worst at %zu: gpu %.7g ref %.7g)", bad, wi, gpu[wi], ref[wi]);
  std::printf("\n");
}

// ---------------------------------------------------------------------------------------------------
static void test_casts() {
  size_t n = 100003;
  auto x = rnd(n, -100, 100);
  x[0] = 1.0f + 1.0f / 256;  // a tie: rounds to even
  Buf dx(x), db(n * 2), df(n * 4);
  db.poison();
  CK(st_cast_f32_to_bf16(ctx, db.as<uint16_t>(), dx.f(), (int64_t)n));
  auto b = db.down<uint16_t>();
  std::vector<float> gb(n), rb(n);
  for (size_t i = 0; i < n; i++) { gb[i] = st_ref_bf16_to_f32(b[i]); rb[i] = st_ref_bf16_to_f32(st_ref_f32_to_bf16(x[i])); }
  compare("st_cast_f32_to_bf16", "exact", gb, rb, 0, 0);
  df.poison();
  CK(st_cast_bf16_to_f32(ctx, df.f(), db.as<uint16_t>(), (int64_t)n));
  compare("st_cast_bf16_to_f32", "exact", df.down<float>(), rb, 0, 0);
}

static std::vector<uint16_t> to_bf16(const std::vector<float> &v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = st_ref_f32_to_bf16(v[i]);
  return o;
}

// bit-for-bit equality of two buffers' raw contents from element `from` on (floats as their bits: no NaN == NaN or
// -0 == +0 leniency). The reference side is always written by an op checked elsewhere, so an element the op under
// test left poisoned fails.
template <typename T>
static void compare_bits(const char *op, const std::string &what, const std::vector<T> &gpu, const std::vector<T> &ref,
                         size_t from = 0) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "bf16 or fp32 buffers");
  checks++;
  size_t bad = 0, first = 0;
  for (size_t i = from; i < ref.size(); i++)
    if (std::memcmp(&gpu[i], &ref[i], sizeof(T)) != 0 && bad++ == 0) first = i;
  bool ok = bad == 0 && gpu.size() == ref.size();
  if (!ok) failures++;
  std::printf("%-6s %-26s %-34s n=%-9zu bit-for-bit %s", ok ? "PASS" : "FAIL", op, what.c_str(), ref.size() - from,
              ok ? "" : "");
  if (!ok) std::printf("(%zu differ; first at %zu)", bad, first);
  std::printf("\n");
}

// st_sgemm (cuBLAS fp32, the LoRA products): every transpose pair, beta 0 and 1, against a double-precision loop
static void test_sgemm() {
  struct Sh { int M, N, K; } shapes[] = {{200, 16, 320}, {16, 320, 200}, {200, 136, 16}};
  for (auto sh : shapes)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int beta = 0; beta < 2; beta++) {
          int M = sh.M, N = sh.N, K = sh.K;
          auto A = rnd((size_t)M * K), B = rnd((size_t)K * N), C0 = rnd((size_t)M * N);
          Buf dA(A), dB(B), dC(C0);
          if (!beta) dC.poison();
          CK(st_sgemm(ctx, dC.f(), dA.f(), dB.f(), M, N, K, ta, tb, 0.5f, (float)beta));
          std::vector<float> ref((size_t)M * N);
          for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
              double acc = 0;
              for (int kk = 0; kk < K; kk++)
                acc += (double)A[ta ? (size_t)kk * M + i : (size_t)i * K + kk] * B[tb ? (size_t)j * K + kk : (size_t)kk * N + j];
              ref[(size_t)i * N + j] = (float)(0.5 * acc + (beta ? C0[(size_t)i * N + j] : 0.0));
            }
          char cs[96];
          std::snprintf(cs, sizeof cs, "M%d N%d K%d ta=%d tb=%d beta=%d", M, N, K, ta, tb, beta);
          // fp32 FMA (no TF32): |err| <= K*2^-24*sum|a||b| with |a|,|b| <= 1, so 1e-5*K is loose and TF32 (2^-11) fails
          compare("st_sgemm", cs, dC.down<float>(), ref, 1e-6 * K, 1e-5);
          // TF32 inputs: each factor rounded to 11 significant bits (relative 2^-11), so |err| <= 0.5*2^-10*K
          if (!beta) dC.poison(); else dC.up(C0);
          CK(st_sgemm_tf32(ctx, dC.f(), dA.f(), dB.f(), M, N, K, ta, tb, 0.5f, (float)beta));
          compare("st_sgemm_tf32", cs, dC.down<float>(), ref, 0.5 * std::ldexp(1.0, -10) * K + 1e-6, 1e-5);
        }
}

static void test_matmul() {
  int M = 200, N = 136, K = 96;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      auto A = to_bf16(rnd((size_t)M * K)), B = to_bf16(rnd((size_t)K * N));
      auto C0 = rnd((size_t)M * N);
      Buf dA(A), dB(B), dC(C0);
      CK(st_matmul_bf16(ctx, dC.p, 0, dA.as<uint16_t>(), dB.as<uint16_t>(), M, N, K, ta, tb, 0.5f, 1.0f));
      std::vector<float> ref = C0;
      st_ref_matmul_bf16(ref.data(), A.data(), B.data(), M, N, K, ta, tb, 0.5f, 1.0f);
      compare("st_matmul_bf16", "f32 out, beta=1, ta=" + std::to_string(ta) + " tb=" + std::to_string(tb), dC.down<float>(),
              ref, 1e-4, 1e-4);
    }
  // bf16 output, beta 0
  auto A = to_bf16(rnd((size_t)M * K)), B = to_bf16(rnd((size_t)N * K));
  Buf dA(A), dB(B), dC((size_t)M * N * 2);
  dC.poison();
  CK(st_matmul_bf16(ctx, dC.p, 1, dA.as<uint16_t>(), dB.as<uint16_t>(), M, N, K, 0, 1, 1.0f, 0.0f));
  auto c = dC.down<uint16_t>();
  std::vector<float> g(c.size()), ref((size_t)M * N);
  for (size_t i = 0; i < c.size(); i++) g[i] = st_ref_bf16_to_f32(c[i]);
  st_ref_matmul_bf16(ref.data(), A.data(), B.data(), M, N, K, 0, 1, 1.0f, 0.0f);
  compare("st_matmul_bf16", "bf16 out (x·Wᵀ)", g, ref, 1e-3, 8e-3);
}

static const char *wname(int w) { return w == 0 ? "f32" : w == 1 ? "bf16" : w == 2 ? "q8_0" : "q4_1"; }

static void test_lora() {
  struct Shape { int N, in, out, r; } shapes[] = {{300, 256, 200, 16}, {77, 576, 192, 40}};
  for (auto sh : shapes)
    for (int wt = 0; wt < 4; wt++)
      for (int prec = 0; prec < 3; prec++) {
        int N = sh.N, in = sh.in, out = sh.out, r = sh.r;
        float s = 2.0f;
        auto x = rnd((size_t)N * in), A = rnd((size_t)r * in, -0.1f, 0.1f), B = rnd((size_t)out * r, -0.1f, 0.1f);
        auto wf = rnd((size_t)out * in, -1.0f / std::sqrt((float)in), 1.0f / std::sqrt((float)in));
        std::vector<uint8_t> W(st_weight_bytes(wt, out, in));
        st_ref_quantize(W.data(), wf.data(), wt, out, in);
        Buf dx_(x), dA_(A), dB_(B), dW(W), dy((size_t)N * out * 4), dxa((size_t)N * r * 4);
        dy.poison();
        dxa.poison();
        CK(st_lora_forward(ctx, dy.f(), dxa.f(), dx_.f(), dW.p, wt, dA_.f(), dB_.f(), s, N, in, out, r, prec));
        std::vector<float> y((size_t)N * out), xa((size_t)N * r);
        st_ref_lora_forward(y.data(), xa.data(), x.data(), W.data(), wt, A.data(), B.data(), s, N, in, out, r);
        std::string c = std::string(wname(wt)) + (prec == 0 ? " f32" : prec == 1 ? " cublas-bf16" : " tiled-bf16") + " N" + std::to_string(N) + " " +
                        std::to_string(in) + "->" + std::to_string(out) + " r" + std::to_string(r);
        double at = prec ? 1.5e-2 : 2e-5, rt = prec ? 1.5e-2 : 2e-4;
        compare("st_lora_forward", "y " + c, dy.down<float>(), y, at, rt);
        compare("st_lora_forward", "xa " + c, dxa.down<float>(), xa, 2e-5, 2e-4);
        // backward; dA accumulates onto a random start, dB overwrites
        auto gy = rnd((size_t)N * out);
        auto dA0 = rnd((size_t)r * in);
        Buf dgy(gy), ddx((size_t)N * in * 4), ddA(dA0), ddB((size_t)out * r * 4), dg((size_t)N * r * 4);
        ddx.poison();
        ddB.poison();
        dg.poison();
        CK(st_lora_backward(ctx, ddx.f(), ddA.f(), ddB.f(), dg.f(), dgy.f(), dx_.f(), dxa.f(), dW.p, wt, dA_.f(),
                            dB_.f(), s, N, in, out, r, prec, 0));
        // second call accumulates the same gradient on top
        CK(st_lora_backward(ctx, nullptr, ddA.f(), ddB.f(), dg.f(), dgy.f(), dx_.f(), dxa.f(), dW.p, wt, dA_.f(),
                            dB_.f(), s, N, in, out, r, prec, 1));
        std::vector<float> rdx((size_t)N * in), rdA((size_t)r * in), rdB((size_t)out * r), rg((size_t)N * r);
        st_ref_lora_backward(rdx.data(), rdA.data(), rdB.data(), rg.data(), gy.data(), x.data(), xa.data(), W.data(), wt,
                             A.data(), B.data(), s, N, in, out, r, 0);
        st_ref_lora_backward(nullptr, rdA.data(), rdB.data(), rg.data(), gy.data(), x.data(), xa.data(), W.data(), wt,
                             A.data(), B.data(), s, N, in, out, r, 1);
        double dat = prec ? 1.5e-2 : 5e-5, drt = prec ? 1.5e-2 : 2e-4;
        compare("st_lora_backward", "dx " + c, ddx.down<float>(), rdx, dat, drt);
        compare("st_lora_backward", "g=dy·B " + c, dg.down<float>(), rg, 5e-5, 2e-4);
        compare("st_lora_backward", "dA (x2 accumulated) " + c, ddA.down<float>(), rdA, 2e-4, 2e-4);
        compare("st_lora_backward", "dB (x2 accumulated) " + c, ddB.down<float>(), rdB, 2e-4, 2e-4);
      }
}

// The bf16 LoRA layer with the fp32 rank-r kernels (st_lora_linear_*), against the C reference: u, du, dA, dB at
// fp32 bounds (exact fp32 FMA, no TF32), y and dx at the cuBLAS-bf16 bounds of test_lora. Shapes cover every rank
// it takes, rows not a multiple of a block, K split or not, and a dropout-masked LoRA input (xl != x).
static void test_lora_linear() {
  struct Shape { int N, in, out, r; } shapes[] = {{300, 256, 200, 16}, {77, 576, 192, 32}, {64, 128, 96, 8},
                                                  {50, 64, 128, 64}, {129, 1024, 64, 16}};
  for (auto sh : shapes)
    for (int wt = 0; wt < 4; wt++)
      for (int drop = 0; drop < 2; drop++) {
        int N = sh.N, in = sh.in, out = sh.out, r = sh.r;
        float s = 2.0f;
        auto x = rnd((size_t)N * in), A = rnd((size_t)r * in, -0.1f, 0.1f), B = rnd((size_t)out * r, -0.1f, 0.1f);
        auto xl = x;
        if (drop)
          for (auto &v : xl) v = rnd(1, 0, 1)[0] < 0.25f ? 0.0f : v / 0.75f;
        auto wf = rnd((size_t)out * in, -1.0f / std::sqrt((float)in), 1.0f / std::sqrt((float)in));
        std::vector<uint8_t> W(st_weight_bytes(wt, out, in));
        st_ref_quantize(W.data(), wf.data(), wt, out, in);
        std::string c = std::string(wname(wt)) + (drop ? " dropout" : "") + " N" + std::to_string(N) + " " +
                        std::to_string(in) + "->" + std::to_string(out) + " r" + std::to_string(r);
        if (!st_lora_linear_supported(in, out, r)) {
          compare("st_lora_linear_supported", c, {0.0f}, {1.0f}, 0, 0);
          continue;
        }
        Buf dx_(x), dxl(xl), dA_(A), dB_(B), dW(W), dy((size_t)N * out * 4), du((size_t)N * r * 4);
        dy.poison();
        du.poison();
        CK(st_lora_linear_forward(ctx, dy.f(), du.f(), dx_.f(), drop ? dxl.f() : dx_.f(), dW.p, wt, dA_.f(), dB_.f(), s,
                                  N, in, out, r));
        // reference: frozen x·Wᵀ + (xl·Wᵀ + s·(xl·Aᵀ)·Bᵀ) − xl·Wᵀ
        std::vector<float> y1((size_t)N * out), u((size_t)N * r), y0((size_t)N * out), y2((size_t)N * out);
        st_ref_lora_forward(y1.data(), u.data(), xl.data(), W.data(), wt, A.data(), B.data(), s, N, in, out, r);
        st_ref_lora_forward(y0.data(), nullptr, x.data(), W.data(), wt, nullptr, nullptr, 0.0f, N, in, out, 0);
        st_ref_lora_forward(y2.data(), nullptr, xl.data(), W.data(), wt, nullptr, nullptr, 0.0f, N, in, out, 0);
        for (size_t i = 0; i < y1.size(); i++) y1[i] = y1[i] - y2[i] + y0[i];
        compare("st_lora_linear_forward", "y " + c, dy.down<float>(), y1, 1.5e-2, 1.5e-2);
        compare("st_lora_linear_forward", "u fp32 " + c, du.down<float>(), u, 2e-5, 2e-4);
        if (drop) continue;  // the backward is the no-dropout one
        // backward: dA, dB accumulate onto random starts; dx written (poisoned), then accumulated onto a start
        auto gy = rnd((size_t)N * out), dA0 = rnd((size_t)r * in), dB0 = rnd((size_t)out * r), dx0 = rnd((size_t)N * in);
        Buf dgy(gy), ddx((size_t)N * in * 4), ddxa(dx0), ddA(dA0), ddB(dB0), ddu((size_t)N * r * 4);
        ddx.poison();
        ddu.poison();
        CK(st_lora_linear_backward(ctx, ddx.f(), ddu.f(), ddA.f(), ddB.f(), dgy.f(), dx_.f(), du.f(), dW.p, wt, dA_.f(),
                                   dB_.f(), s, N, in, out, r, 0));
        std::vector<float> rdx((size_t)N * in), rdA(dA0), rdB(dB0), rg((size_t)N * r);
        st_ref_lora_backward(rdx.data(), rdA.data(), rdB.data(), rg.data(), gy.data(), x.data(), u.data(), W.data(), wt,
                             A.data(), B.data(), s, N, in, out, r, 1);
        for (auto &v : rg) v *= s;  // du = s·dy·B; the reference's g is dy·B
        compare("st_lora_linear_backward", "dx " + c, ddx.down<float>(), rdx, 1.5e-2, 1.5e-2);
        compare("st_lora_linear_backward", "du = s·dy·B fp32 " + c, ddu.down<float>(), rg, 1e-4, 2e-4);
        compare("st_lora_linear_backward", "dA (+= start) fp32 " + c, ddA.down<float>(), rdA, 2e-4, 2e-4);
        compare("st_lora_linear_backward", "dB (+= start) fp32 " + c, ddB.down<float>(), rdB, 2e-4, 2e-4);
        CK(st_lora_linear_backward(ctx, ddxa.f(), ddu.f(), ddA.f(), ddB.f(), dgy.f(), dx_.f(), du.f(), dW.p, wt,
                                   dA_.f(), dB_.f(), s, N, in, out, r, 1));
        for (size_t i = 0; i < rdx.size(); i++) rdx[i] += dx0[i];
        compare("st_lora_linear_backward", "dx accumulated " + c, ddxa.down<float>(), rdx, 1.5e-2, 1.5e-2);
      }
  // what it refuses: a rank it has no kernel for, and a misaligned output
  bool ok = !st_lora_linear_supported(256, 96, 12) && !st_lora_linear_supported(256, 98, 16);
  checks++;
  if (!ok) failures++;
  std::printf("%-6s %-26s %-34s\n", ok ? "PASS" : "FAIL", "st_lora_linear_supported", "r=12 and out=98 refused");
}

// r = 0: the plain frozen matmul the backend's matmul/matmulBackward run, forward and backward (dx only), in
// every weight format and precision; dx of the backward is written, not accumulated (poisoned first).
static void test_frozen_matmul() {
  int N = 130, in = 320, out = 100;
  for (int wt = 0; wt < 4; wt++)
    for (int prec = 0; prec < 3; prec++) {
      auto x = rnd((size_t)N * in), wf = rnd((size_t)out * in, -0.05f, 0.05f), dy = rnd((size_t)N * out);
      std::vector<uint8_t> W(st_weight_bytes(wt, out, in));
      st_ref_quantize(W.data(), wf.data(), wt, out, in);
      Buf dx(x), dW(W), y((size_t)N * out * 4), ddy(dy), ddx((size_t)N * in * 4);
      y.poison();
      ddx.poison();
      CK(st_lora_forward(ctx, y.f(), nullptr, dx.f(), dW.p, wt, nullptr, nullptr, 0.0f, N, in, out, 0, prec));
      CK(st_lora_backward(ctx, ddx.f(), nullptr, nullptr, nullptr, ddy.f(), nullptr, nullptr, dW.p, wt, nullptr,
                          nullptr, 0.0f, N, in, out, 0, prec, 0));
      std::vector<float> ry((size_t)N * out), rdx((size_t)N * in);
      st_ref_lora_forward(ry.data(), nullptr, x.data(), W.data(), wt, nullptr, nullptr, 0.0f, N, in, out, 0);
      st_ref_lora_backward(rdx.data(), nullptr, nullptr, nullptr, dy.data(), nullptr, nullptr, W.data(), wt, nullptr,
                           nullptr, 0.0f, N, in, out, 0, 0);
      std::string c = std::string(wname(wt)) + (prec == 0 ? " f32" : prec == 1 ? " cublas-bf16" : " tiled-bf16");
      // bf16: x (dy) and W rounded to 8 significant bits, |err| <~ 2^-8·sqrt(K)·|x||w| (K = 320: in; 100: out)
      double at = prec ? 1e-2 : 2e-5, rt = prec ? 1.5e-2 : 2e-4;
      compare("st_lora_forward", "r=0 frozen matmul " + c, y.down<float>(), ry, at, rt);
      compare("st_lora_backward", "r=0 frozen dx=dy·W " + c, ddx.down<float>(), rdx, prec ? 1.5e-2 : 5e-5, rt);
    }
}

// The frozen products on bf16 activations (st_matmul_*_bf16_act) are the cuBLAS path's products without its cast:
// given bf16(x) and bf16(dy), the same numbers bit for bit as st_matmul_forward_bf16 / st_matmul_backward_bf16,
// with and without accumulation, for every weight type (the quantized ones expanded in the workspace)
static void test_frozen_matmul_bf16_act() {
  int N = 130, in = 320, out = 100;
  for (int wt = 0; wt < 4; wt++)
    for (int acc = 0; acc < 2; acc++) {
      auto x = rnd((size_t)N * in), wf = rnd((size_t)out * in, -0.05f, 0.05f), dy = rnd((size_t)N * out);
      auto y0 = rnd((size_t)N * out), dx0 = rnd((size_t)N * in);
      std::vector<uint8_t> W(st_weight_bytes(wt, out, in));
      st_ref_quantize(W.data(), wf.data(), wt, out, in);
      Buf dx(x), dW(W), ddy(dy), xb(to_bf16(x)), dyb(to_bf16(dy));
      Buf y1(y0), y2(y0), g1(dx0), g2(dx0);
      if (!acc) { y1.poison(); y2.poison(); g1.poison(); g2.poison(); }
      CK(st_matmul_forward_bf16(ctx, y1.f(), dx.f(), dW.p, wt, N, in, out, acc));
      CK(st_matmul_forward_bf16_act(ctx, y2.f(), xb.as<uint16_t>(), dW.p, wt, N, in, out, acc));
      CK(st_matmul_backward_bf16(ctx, g1.f(), ddy.f(), dW.p, wt, N, in, out, acc));
      CK(st_matmul_backward_bf16_act(ctx, g2.f(), dyb.as<uint16_t>(), dW.p, wt, N, in, out, acc));
      std::string c = std::string(wname(wt)) + (acc ? " accumulate" : "");
      compare_bits("st_matmul_forward_bf16_act", "= cast path, " + c, y2.down<float>(), y1.down<float>());
      compare_bits("st_matmul_backward_bf16_act", "= cast path, " + c, g2.down<float>(), g1.down<float>());
    }
}

static void test_rmsnorm() {
  int N = 133, C = 576;
  auto x = rnd((size_t)N * C, -3, 3), w = rnd(C, 0.5f, 1.5f), dy = rnd((size_t)N * C);
  Buf dx_(x), dw_(w), dy_(dy), y((size_t)N * C * 4), rs((size_t)N * 4), dx((size_t)N * C * 4), dw(std::vector<float>(C, 0.0f));
  y.poison(); rs.poison(); dx.poison();
  CK(st_rmsnorm_forward(ctx, y.f(), rs.f(), dx_.f(), dw_.f(), N, C, 1e-5f));
  CK(st_rmsnorm_backward(ctx, dx.f(), dw.f(), dy_.f(), dx_.f(), dw_.f(), rs.f(), N, C));
  std::vector<float> ry((size_t)N * C), rr(N), rdx((size_t)N * C), rdw(C, 0.0f);
  st_ref_rmsnorm_forward(ry.data(), rr.data(), x.data(), w.data(), N, C, 1e-5f);
  st_ref_rmsnorm_backward(rdx.data(), rdw.data(), dy.data(), x.data(), w.data(), rr.data(), N, C);
  compare("st_rmsnorm_forward", "y N133 C576", y.down<float>(), ry, 1e-5, 1e-5);
  compare("st_rmsnorm_forward", "rstd", rs.down<float>(), rr, 1e-6, 1e-5);
  compare("st_rmsnorm_backward", "dx", dx.down<float>(), rdx, 1e-5, 1e-4);
  compare("st_rmsnorm_backward", "dw (sum over rows)", dw.down<float>(), rdw, 1e-4, 1e-4);
  // the accumulating form adds the same dx to what the buffer held (the residual stream's gradient)
  auto base = rnd((size_t)N * C);
  Buf acc(base);
  CK(st_rmsnorm_backward_add(ctx, acc.f(), nullptr, dy_.f(), dx_.f(), dw_.f(), rs.f(), N, C));
  std::vector<float> radd(base);
  for (size_t i = 0; i < radd.size(); i++) radd[i] += rdx[i];
  compare("st_rmsnorm_backward_add", "dx += (N133 C576)", acc.down<float>(), radd, 1e-5, 1e-4);
  // the form that also writes bf16(y): y bit for bit the plain kernel's, yb bit for bit the cast of that y
  Buf y2((size_t)N * C * 4), yb((size_t)N * C * 2), rs2((size_t)N * 4), cb((size_t)N * C * 2);
  y2.poison(); yb.poison(); rs2.poison(); cb.poison();
  CK(st_rmsnorm_forward_bf16(ctx, y2.f(), yb.as<uint16_t>(), rs2.f(), dx_.f(), dw_.f(), N, C, 1e-5f));
  CK(st_cast_f32_to_bf16(ctx, cb.as<uint16_t>(), y.f(), (int64_t)N * C));
  compare_bits("st_rmsnorm_forward_bf16", "y = plain kernel's", y2.down<float>(), y.down<float>());
  compare_bits("st_rmsnorm_forward_bf16", "rstd = plain kernel's", rs2.down<float>(), rs.down<float>());
  compare_bits("st_rmsnorm_forward_bf16", "yb = cast of y", yb.down<uint16_t>(), cb.down<uint16_t>());
  // the accumulating backward that also writes bf16 of the updated dx
  Buf acc2(base), dxb((size_t)N * C * 2), cdx((size_t)N * C * 2);
  dxb.poison(); cdx.poison();
  CK(st_rmsnorm_backward_add_bf16(ctx, acc2.f(), dxb.as<uint16_t>(), nullptr, dy_.f(), dx_.f(), dw_.f(), rs.f(), N, C));
  CK(st_cast_f32_to_bf16(ctx, cdx.as<uint16_t>(), acc.f(), (int64_t)N * C));
  compare_bits("st_rmsnorm_backward_add_bf16", "dx = plain kernel's", acc2.down<float>(), acc.down<float>());
  compare_bits("st_rmsnorm_backward_add_bf16", "dxb = cast of dx", dxb.down<uint16_t>(), cdx.down<uint16_t>());
}

static void test_rope() {
  int N = 70, H = 5, D = 64;
  auto x = rnd((size_t)N * H * D);
  std::vector<int32_t> pos(N);
  std::uniform_int_distribution<int> pd(0, 1000);
  for (auto &p : pos) p = pd(rng);
  std::vector<float> inv(D / 2);
  st_ref_rope_inv_freq(inv.data(), D, 10000.0);
  Buf dx(x), dpos(pos), dinv(inv), o((size_t)N * H * D * 4), d((size_t)N * H * D * 4);
  o.poison(); d.poison();
  CK(st_rope_forward(ctx, o.f(), dx.f(), dpos.as<int32_t>(), dinv.f(), N, H, D));
  CK(st_rope_backward(ctx, d.f(), dx.f(), dpos.as<int32_t>(), dinv.f(), N, H, D));
  std::vector<float> ro(x.size()), rd(x.size());
  st_ref_rope_forward(ro.data(), x.data(), pos.data(), inv.data(), N, H, D);
  st_ref_rope_backward(rd.data(), x.data(), pos.data(), inv.data(), N, H, D);
  // same fp32 angles on both sides; sincosf is within 2 ulp, times |x| <= 1 and angles up to 1000 rad
  compare("st_rope_forward", "N70 H5 D64 pos<=1000", o.down<float>(), ro, 2e-6, 1e-5);
  compare("st_rope_backward", "inverse rotation", d.down<float>(), rd, 2e-6, 1e-5);
  CK(st_rope_forward(ctx, dx.f(), dx.f(), dpos.as<int32_t>(), dinv.f(), N, H, D));
  compare("st_rope_forward", "in place", dx.down<float>(), ro, 2e-6, 1e-5);
}

static void test_attention() {
  // pad > 0: the last `pad` key slots of batch row 0 are padding (key mask 0), as in right-padded batches
  struct Cfg { int B, T, Hq, Hkv, D, pad; } cfgs[] = {
      {2, 77, 6, 2, 64, 0}, {2, 77, 6, 2, 64, 9}, {1, 130, 4, 4, 128, 0}, {2, 40, 8, 2, 32, 5}, {1, 65, 3, 1, 96, 0},
      {2, 37, 4, 2, 8, 3}, {1, 50, 2, 1, 48, 0}};  // head dims 8 (the tiny model) and 48: zero-padded tiles
  // fp32 kernels: only the summation order differs from the reference. The tensor-core (bf16) kernels run on
  // bf16-exact inputs, so only their own roundings remain: P (forward, dV) and dS (dQ, dK) to bf16, relative 2^-9
  // each. out = sum p~ v / l moves by at most 2^-9 max|v| (= 2^-9: v in [-1, 1]); the gradients are sums of many
  // such terms with cancellation, so they get 2^-7 (dV) and 2^-6 (dQ, dK) of their largest element. Head dims
  // other than 64/128 run the fp32 kernels there (the same tolerances hold trivially).
  for (int tc = 0; tc < 2; tc++)
    for (auto c : cfgs) {
      size_t nq = (size_t)c.B * c.T * c.Hq * c.D, nk = (size_t)c.B * c.T * c.Hkv * c.D, nl = (size_t)c.B * c.Hq * c.T;
      float scale = 1.0f / std::sqrt((float)c.D);
      auto rb = [tc](std::vector<float> v) {
        if (tc) for (auto &x : v) x = st_ref_bf16_to_f32(st_ref_f32_to_bf16(x));
        return v;
      };
      auto q = rb(rnd(nq, -2, 2)), k = rb(rnd(nk, -2, 2)), v = rb(rnd(nk)), dout = rb(rnd(nq));
      std::vector<int32_t> mask((size_t)c.B * c.T, 1);
      for (int j = c.T - c.pad; j < c.T; j++) mask[j] = 0;
      const int32_t *hm = c.pad ? mask.data() : nullptr;
      Buf dq_(q), dk_(k), dv_(v), ddo(dout), dm(mask), o(nq * 4), l(nl * 4), dq(nq * 4), dk(nk * 4), dv(nk * 4), delta(nl * 4);
      int32_t *devm = c.pad ? dm.as<int32_t>() : nullptr;
      o.poison(); l.poison(); dq.poison(); dk.poison(); dv.poison();
      auto fwd = tc ? st_attention_forward_bf16 : st_attention_forward;
      auto bwd = tc ? st_attention_backward_bf16 : st_attention_backward;
      CK(fwd(ctx, o.f(), l.f(), dq_.f(), dk_.f(), dv_.f(), devm, c.B, c.T, c.T, c.T, 0, c.Hq, c.Hkv, c.D, scale));
      CK(bwd(ctx, dq.f(), dk.f(), dv.f(), delta.f(), ddo.f(), o.f(), dq_.f(), dk_.f(), dv_.f(), l.f(), devm, c.B, c.T, c.Hq,
             c.Hkv, c.D, scale));
      std::vector<float> ro(nq), rl(nl), rdq(nq), rdk(nk), rdv(nk);
      st_ref_attention_forward(ro.data(), rl.data(), q.data(), k.data(), v.data(), hm, c.B, c.T, c.T, c.T, 0, c.Hq, c.Hkv,
                               c.D, scale);
      st_ref_attention_backward(rdq.data(), rdk.data(), rdv.data(), dout.data(), q.data(), k.data(), v.data(), hm, c.B, c.T,
                                c.Hq, c.Hkv, c.D, scale);
      auto amax = [](const std::vector<float> &x) { double m = 0; for (float e : x) m = std::max(m, (double)std::fabs(e)); return m; };
      char cs[96];
      std::snprintf(cs, sizeof cs, "B%d T%d Hq%d Hkv%d D%d pad%d", c.B, c.T, c.Hq, c.Hkv, c.D, c.pad);
      const char *f = tc ? "st_attention_forward_bf16" : "st_attention_forward";
      const char *b = tc ? "st_attention_backward_bf16" : "st_attention_backward";
      compare(f, std::string("out ") + cs, o.down<float>(), ro, tc ? std::ldexp(1.0, -9) + 1e-5 : 2e-5, tc ? 1e-5 : 2e-4);
      compare(f, std::string("lse ") + cs, l.down<float>(), rl, tc ? 1e-4 : 2e-5, tc ? 1e-4 : 2e-5);
      compare(b, std::string("dq ") + cs, dq.down<float>(), rdq, tc ? std::ldexp(amax(rdq), -6) : 5e-5, tc ? 1e-4 : 5e-4);
      compare(b, std::string("dk ") + cs, dk.down<float>(), rdk, tc ? std::ldexp(amax(rdk), -6) : 5e-5, tc ? 1e-4 : 5e-4);
      compare(b, std::string("dv ") + cs, dv.down<float>(), rdv, tc ? std::ldexp(amax(rdv), -7) : 5e-5, tc ? 1e-4 : 5e-4);
    }
  // KV-cache form: 3 new queries at slots 50..52 of a 64-slot cache with 53 filled, batch row 1 padded at the front
  {
    int B = 2, T = 3, Tk = 53, cap = 64, qs = 50, Hq = 6, Hkv = 2, D = 64;
    size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * cap * Hkv * D, nl = (size_t)B * T * Hq;
    // bf16-exact inputs, so that the bf16 kernel below is checked with the bounds of the loop above
    auto rb = [](std::vector<float> v) { for (auto &x : v) x = st_ref_bf16_to_f32(st_ref_f32_to_bf16(x)); return v; };
    auto q = rb(rnd(nq, -2, 2)), k = rb(rnd(nk, -2, 2)), v = rb(rnd(nk));
    std::vector<int32_t> mask((size_t)B * cap, 1);
    for (int j = 0; j < 7; j++) mask[cap + j] = 0;
    Buf dq_(q), dk_(k), dv_(v), dm(mask), o(nq * 4), l(nl * 4);
    o.poison(); l.poison();
    CK(st_attention_forward(ctx, o.f(), l.f(), dq_.f(), dk_.f(), dv_.f(), dm.as<int32_t>(), B, T, Tk, cap, qs, Hq, Hkv, D,
                            0.125f));
    std::vector<float> ro(nq), rl(nl);
    st_ref_attention_forward(ro.data(), rl.data(), q.data(), k.data(), v.data(), mask.data(), B, T, Tk, cap, qs, Hq, Hkv, D,
                             0.125f);
    compare("st_attention_forward", "out KV cache q_start50 Tk53 cap64", o.down<float>(), ro, 2e-5, 2e-4);
    compare("st_attention_forward", "lse KV cache", l.down<float>(), rl, 2e-5, 2e-5);
    o.poison(); l.poison();
    CK(st_attention_forward_bf16(ctx, o.f(), l.f(), dq_.f(), dk_.f(), dv_.f(), dm.as<int32_t>(), B, T, Tk, cap, qs, Hq, Hkv,
                                 D, 0.125f));
    compare("st_attention_forward_bf16", "out KV cache q_start50 Tk53 cap64", o.down<float>(), ro, std::ldexp(1.0, -9) + 1e-5,
            1e-5);
    compare("st_attention_forward_bf16", "lse KV cache", l.down<float>(), rl, 1e-4, 1e-4);
  }
}

static void test_elementwise_softmax() {
  size_t n = 70001;
  auto a = rnd(n), b = rnd(n);
  Buf da(a), db(b), o(n * 4);
  o.poison();
  CK(st_add(ctx, o.f(), da.f(), db.f(), (int64_t)n));
  std::vector<float> r(n);
  st_ref_add(r.data(), a.data(), b.data(), (int64_t)n);
  compare("st_add", "n70001", o.down<float>(), r, 0, 0);
  o.poison();
  CK(st_fill(ctx, o.f(), 0.375f, (int64_t)n));
  compare("st_fill", "0.375", o.down<float>(), std::vector<float>(n, 0.375f), 0, 0);
  int N = 19, V = 32000;
  auto x = rnd((size_t)N * V, -10, 10);
  Buf dx(x), so((size_t)N * V * 4), ls((size_t)N * 4);
  so.poison(); ls.poison();
  CK(st_softmax_forward(ctx, so.f(), dx.f(), N, V));
  CK(st_logsumexp(ctx, ls.f(), dx.f(), N, V));
  std::vector<float> rs((size_t)N * V), rl(N);
  st_ref_softmax_forward(rs.data(), x.data(), N, V);
  st_ref_logsumexp(rl.data(), x.data(), N, V);
  compare("st_softmax_forward", "N19 V32000", so.down<float>(), rs, 1e-8, 1e-4);
  compare("st_logsumexp", "N19 V32000", ls.down<float>(), rl, 2e-5, 2e-6);
  CK(st_softmax_forward(ctx, dx.f(), dx.f(), N, V));
  compare("st_softmax_forward", "in place", dx.down<float>(), rs, 1e-8, 1e-4);
}

static void test_swiglu() {
  size_t n = 65537;
  auto g = rnd(n, -6, 6), u = rnd(n, -2, 2), dh = rnd(n);
  Buf dg_(g), du_(u), ddh(dh), h(n * 4), dg(n * 4), du(n * 4);
  h.poison(); dg.poison(); du.poison();
  CK(st_swiglu_forward(ctx, h.f(), dg_.f(), du_.f(), (int64_t)n));
  CK(st_swiglu_backward(ctx, dg.f(), du.f(), ddh.f(), dg_.f(), du_.f(), (int64_t)n));
  std::vector<float> rh(n), rdg(n), rdu(n);
  st_ref_swiglu_forward(rh.data(), g.data(), u.data(), (int64_t)n);
  st_ref_swiglu_backward(rdg.data(), rdu.data(), dh.data(), g.data(), u.data(), (int64_t)n);
  compare("st_swiglu_forward", "h", h.down<float>(), rh, 1e-6, 1e-5);
  compare("st_swiglu_backward", "dgate", dg.down<float>(), rdg, 1e-6, 1e-5);
  compare("st_swiglu_backward", "dup", du.down<float>(), rdu, 1e-6, 1e-5);
  // buffers 4 bytes off 16-byte alignment: the one-element kernels do all of it
  h.poison(); dg.poison(); du.poison();
  CK(st_swiglu_forward(ctx, h.f() + 1, dg_.f() + 1, du_.f() + 1, (int64_t)n - 1));
  CK(st_swiglu_backward(ctx, dg.f() + 1, du.f() + 1, ddh.f() + 1, dg_.f() + 1, du_.f() + 1, (int64_t)n - 1));
  auto tail = [](std::vector<float> v) { return std::vector<float>(v.begin() + 1, v.end()); };
  compare("st_swiglu_forward", "h (unaligned)", tail(h.down<float>()), tail(rh), 1e-6, 1e-5);
  compare("st_swiglu_backward", "dgate (unaligned)", tail(dg.down<float>()), tail(rdg), 1e-6, 1e-5);
  compare("st_swiglu_backward", "dup (unaligned)", tail(du.down<float>()), tail(rdu), 1e-6, 1e-5);
  // the forms that also write bf16 copies: the fp32 outputs bit for bit the plain kernels', the copies bit for bit
  // the casts of them; aligned (four at a time) and one element off (a bf16 pointer 2 bytes off: one at a time)
  for (int off = 0; off < 2; off++) {
    int64_t m = (int64_t)n - off;
    Buf h2(n * 4), g2(n * 4), u2(n * 4), hb(n * 2), gb(n * 2), ub(n * 2), c1(n * 2), c2(n * 2), c3(n * 2);
    h.poison(); dg.poison(); du.poison();
    h2.poison(); g2.poison(); u2.poison(); hb.poison(); gb.poison(); ub.poison(); c1.poison(); c2.poison(); c3.poison();
    CK(st_swiglu_forward(ctx, h.f() + off, dg_.f() + off, du_.f() + off, m));
    CK(st_swiglu_backward(ctx, dg.f() + off, du.f() + off, ddh.f() + off, dg_.f() + off, du_.f() + off, m));
    CK(st_swiglu_forward_bf16(ctx, h2.f() + off, hb.as<uint16_t>() + off, dg_.f() + off, du_.f() + off, m));
    CK(st_swiglu_backward_bf16(ctx, g2.f() + off, u2.f() + off, gb.as<uint16_t>() + off, ub.as<uint16_t>() + off,
                               ddh.f() + off, dg_.f() + off, du_.f() + off, m));
    CK(st_cast_f32_to_bf16(ctx, c1.as<uint16_t>() + off, h.f() + off, m));
    CK(st_cast_f32_to_bf16(ctx, c2.as<uint16_t>() + off, dg.f() + off, m));
    CK(st_cast_f32_to_bf16(ctx, c3.as<uint16_t>() + off, du.f() + off, m));
    std::string w = off ? " (unaligned)" : "";
    compare_bits("st_swiglu_forward_bf16", "h = plain kernel's" + w, h2.down<float>(), h.down<float>(), off);
    compare_bits("st_swiglu_forward_bf16", "hb = cast of h" + w, hb.down<uint16_t>(), c1.down<uint16_t>(), off);
    compare_bits("st_swiglu_backward_bf16", "dgate = plain kernel's" + w, g2.down<float>(), dg.down<float>(), off);
    compare_bits("st_swiglu_backward_bf16", "dup = plain kernel's" + w, u2.down<float>(), du.down<float>(), off);
    compare_bits("st_swiglu_backward_bf16", "dgb = cast of dgate" + w, gb.down<uint16_t>(), c2.down<uint16_t>(), off);
    compare_bits("st_swiglu_backward_bf16", "dub = cast of dup" + w, ub.down<uint16_t>(), c3.down<uint16_t>(), off);
  }
  // fp32 buffers aligned, the bf16 copies 2 bytes off 8-byte alignment: the copies' guard sends it all to the
  // one-element kernels
  {
    Buf h3(n * 4), g3(n * 4), u3(n * 4), hb((n + 1) * 2), gb((n + 1) * 2), ub((n + 1) * 2), c1((n + 1) * 2),
        c2((n + 1) * 2), c3((n + 1) * 2);
    for (Buf *b : {&h3, &g3, &u3, &hb, &gb, &ub, &c1, &c2, &c3}) b->poison();
    CK(st_swiglu_forward_bf16(ctx, h3.f(), hb.as<uint16_t>() + 1, dg_.f(), du_.f(), (int64_t)n));
    CK(st_swiglu_backward_bf16(ctx, g3.f(), u3.f(), gb.as<uint16_t>() + 1, ub.as<uint16_t>() + 1, ddh.f(), dg_.f(),
                               du_.f(), (int64_t)n));
    CK(st_cast_f32_to_bf16(ctx, c1.as<uint16_t>() + 1, h3.f(), (int64_t)n));
    CK(st_cast_f32_to_bf16(ctx, c2.as<uint16_t>() + 1, g3.f(), (int64_t)n));
    CK(st_cast_f32_to_bf16(ctx, c3.as<uint16_t>() + 1, u3.f(), (int64_t)n));
    Buf h4(n * 4), g4(n * 4), u4(n * 4);
    CK(st_swiglu_forward(ctx, h4.f(), dg_.f(), du_.f(), (int64_t)n));
    CK(st_swiglu_backward(ctx, g4.f(), u4.f(), ddh.f(), dg_.f(), du_.f(), (int64_t)n));
    compare_bits("st_swiglu_forward_bf16", "h (bf16 copy misaligned)", h3.down<float>(), h4.down<float>());
    compare_bits("st_swiglu_backward_bf16", "dgate (bf16 copy misaligned)", g3.down<float>(), g4.down<float>());
    compare_bits("st_swiglu_backward_bf16", "dup (bf16 copy misaligned)", u3.down<float>(), u4.down<float>());
    compare_bits("st_swiglu_forward_bf16", "hb (bf16 copy misaligned)", hb.down<uint16_t>(), c1.down<uint16_t>(), 1);
    compare_bits("st_swiglu_backward_bf16", "dgb (bf16 copy misaligned)", gb.down<uint16_t>(), c2.down<uint16_t>(), 1);
    compare_bits("st_swiglu_backward_bf16", "dub (bf16 copy misaligned)", ub.down<uint16_t>(), c3.down<uint16_t>(), 1);
  }
}

// dropout: the mask is the CPU reference's bit for bit (SplittableRandom's draws), out of place and in place, with a
// seed whose golden-gamma sums wrap around 2^64
static void test_dropout() {
  size_t n = 100003;
  auto x = rnd(n);
  uint64_t seed = rng();
  float p = 0.1f;
  Buf dx(x), o(n * 4);
  o.poison();
  CK(st_dropout(ctx, o.f(), dx.f(), (int64_t)n, seed, p));
  std::vector<float> ref(n);
  st_ref_dropout(ref.data(), x.data(), (int64_t)n, seed, p);
  compare("st_dropout", "mask = SplittableRandom's, p=0.1", o.down<float>(), ref, 0, 0);
  CK(st_dropout(ctx, dx.f(), dx.f(), (int64_t)n, seed, p));
  compare("st_dropout", "in place", dx.down<float>(), ref, 0, 0);
  size_t dropped = 0;
  for (size_t i = 0; i < n; i++) dropped += ref[i] == 0.0f && x[i] != 0.0f;
  checks++;
  bool ok = dropped > n / 10 - 1000 && dropped < n / 10 + 1000;
  if (!ok) failures++;
  std::printf("%-6s %-26s %-34s %zu of %zu dropped\n", ok ? "PASS" : "FAIL", "st_dropout", "about p dropped", dropped, n);
}

static void test_cross_entropy() {
  int N = 37, V = 49152;
  auto logits = rnd((size_t)N * V, -8, 8);
  std::vector<int32_t> t(N);
  std::vector<uint8_t> m(N);
  std::uniform_int_distribution<int> td(0, V - 1);
  for (int n = 0; n < N; n++) { t[n] = n % 7 == 3 ? -100 : td(rng); m[n] = n % 5 != 1; }
  Buf dl(logits), dt(t), dm(m), loss((size_t)N * 4), lse((size_t)N * 4);
  loss.poison(); lse.poison();
  CK(st_cross_entropy_forward(ctx, loss.f(), lse.f(), dl.f(), dt.as<int32_t>(), dm.as<uint8_t>(), N, V));
  std::vector<float> rloss(N), rlse(N), rd((size_t)N * V);
  st_ref_cross_entropy_forward(rloss.data(), rlse.data(), logits.data(), t.data(), m.data(), N, V);
  compare("st_cross_entropy_forward", "losses (masked, ignored) V49152", loss.down<float>(), rloss, 2e-5, 2e-5);
  compare("st_cross_entropy_forward", "lse", lse.down<float>(), rlse, 2e-5, 2e-6);
  CK(st_cross_entropy_backward(ctx, dl.f(), dl.f(), lse.f(), dt.as<int32_t>(), dm.as<uint8_t>(), 1.0f / 29, N, V));
  st_ref_cross_entropy_backward(rd.data(), logits.data(), rlse.data(), t.data(), m.data(), 1.0f / 29, N, V);
  compare("st_cross_entropy_backward", "dlogits in place", dl.down<float>(), rd, 1e-7, 1e-4);
  // the form that also writes bf16(dlogits): dlogits bit for bit the plain kernel's, the copy the cast of it
  Buf d2(logits), lb((size_t)N * V * 2), cb((size_t)N * V * 2);
  lb.poison(); cb.poison();
  CK(st_cross_entropy_backward_bf16(ctx, d2.f(), lb.as<uint16_t>(), d2.f(), lse.f(), dt.as<int32_t>(), dm.as<uint8_t>(),
                                    1.0f / 29, N, V));
  CK(st_cast_f32_to_bf16(ctx, cb.as<uint16_t>(), dl.f(), (int64_t)N * V));
  compare_bits("st_cross_entropy_backward_bf16", "dlogits = plain kernel's", d2.down<float>(), dl.down<float>());
  compare_bits("st_cross_entropy_backward_bf16", "copy = cast of dlogits", lb.down<uint16_t>(), cb.down<uint16_t>());
}

static void test_adamw() {
  size_t n = 10007;
  auto p = rnd(n), g = rnd(n, -3, 3), m = rnd(n, -0.1f, 0.1f), v = rnd(n, 0.0f, 0.01f);
  Buf dp(p), dg(g), dm(m), dv(v);
  CK(st_adamw_update(ctx, dp.f(), dg.f(), dm.f(), dv.f(), (int64_t)n, 2e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 0.5f));
  st_ref_adamw_update(p.data(), g.data(), m.data(), v.data(), (int64_t)n, 2e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 0.5f);
  compare("st_adamw_update", "p (t=3, grad_scale 0.5)", dp.down<float>(), p, 1e-6, 1e-5);
  compare("st_adamw_update", "m", dm.down<float>(), m, 1e-7, 1e-5);
  compare("st_adamw_update", "v", dv.down<float>(), v, 1e-9, 1e-5);
  Buf out(std::vector<float>{0.0f});
  CK(st_sumsq(ctx, out.f(), dg.f(), (int64_t)n));
  double s = 0;
  for (float x : g) s += (double)x * x;
  compare("st_sumsq", "sum g^2", out.down<float>(), {(float)s}, 0, 1e-5);
}

static void test_embedding() {
  int N = 50, V = 1000, C = 96;
  auto table = rnd((size_t)V * C);
  auto tb = to_bf16(table);
  std::vector<int32_t> ids(N);
  std::uniform_int_distribution<int> id(0, V - 1);
  for (auto &i : ids) i = id(rng);
  ids[7] = ids[3];  // repeated token: the backward must add both
  ids[11] = V + 5;  // out of range: NaN row
  Buf dids(ids), dt(table), dtb(tb), o((size_t)N * C * 4);
  for (int wt = 0; wt < 4; wt++) {  // f32, bf16, and the GGUF Q8_0 / Q4_1 blocks (a quantized tied embedding)
    std::vector<uint8_t> q(st_weight_bytes(wt, V, C));
    if (wt >= 2) st_ref_quantize(q.data(), table.data(), wt, V, C);
    Buf dq(q);
    const void *host = wt == 0 ? (const void *)table.data() : wt == 1 ? (const void *)tb.data() : (const void *)q.data();
    o.poison();
    CK(st_embedding_forward(ctx, o.f(), dids.as<int32_t>(), wt == 0 ? dt.p : wt == 1 ? dtb.p : dq.p, wt, N, V, C));
    std::vector<float> ro((size_t)N * C);
    st_ref_embedding_forward(ro.data(), ids.data(), host, wt, N, V, C);
    compare("st_embedding_forward", std::string("table ") + wname(wt) + " (bad id -> NaN)", o.down<float>(), ro, 0, 0);
  }
  auto dout = rnd((size_t)N * C);
  Buf ddo(dout), dtab(std::vector<float>((size_t)V * C, 0.0f));
  CK(st_embedding_backward(ctx, dtab.f(), ddo.f(), dids.as<int32_t>(), N, V, C));
  std::vector<float> rt((size_t)V * C, 0.0f);
  st_ref_embedding_backward(rt.data(), dout.data(), ids.data(), N, V, C);
  compare("st_embedding_backward", "dtable (repeated ids add)", dtab.down<float>(), rt, 1e-6, 1e-6);
}

static void test_errors() {
  // an invalid argument must come back as an error code with the op name, not a crash
  checks++;
  int rc = st_lora_forward(ctx, nullptr, nullptr, nullptr, nullptr, 9, nullptr, nullptr, 1, 1, 33, 1, 1, 0);
  bool ok = rc == ST_ERR_ARG && std::strstr(st_last_error(), "st_lora_forward") != nullptr;
  if (!ok) failures++;
  std::printf("%-6s %-26s %-34s -> %d \"%s\"\n", ok ? "PASS" : "FAIL", "errors", "bad args give code + op name", rc,
              st_last_error());
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10)
                           : (uint64_t)std::chrono::high_resolution_clock::now().time_since_epoch().count();
  rng.seed(seed);
  int n = 0;
  if (st_device_count(&n) != ST_OK || n == 0) {
    std::printf("SKIP: %s\n", n == 0 && st_last_error()[0] == 0 ? "no CUDA device" : st_last_error());
    return 77;
  }
  CK(st_ctx_create(&ctx, 0));
  char name[256];
  CK(st_device_name(0, name, sizeof name));
  std::printf("device: %s   seed: %llu\n", name, (unsigned long long)seed);
  test_casts();
  test_matmul();
  test_lora();
  test_lora_linear();
  test_frozen_matmul();
  test_frozen_matmul_bf16_act();
  test_rmsnorm();
  test_rope();
  test_attention();
  test_sgemm();
  test_elementwise_softmax();
  test_swiglu();
  test_cross_entropy();
  test_dropout();
  test_adamw();
  test_embedding();
  test_errors();
  CK(st_ctx_destroy(ctx));
  std::printf("test_ops: %d/%d checks passed%s\n", checks - failures, checks, failures ? "  -- FAILURES" : "");
  return failures ? 1 : 0;
}
