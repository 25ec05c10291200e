/*
 * The kernel library's C API (include/safetune_kernels.h) on the host, for testing the Java CUDA backend where
 * there is no GPU: "device" memory is host memory, every op runs at once on the CPU references of
 * ref/safetune_ref.c (double accumulation), and the bf16 precisions round what the GPU rounds (the inputs of the
 * frozen products and of bf16 attention (Q, K, V, dO; not P or dS), the bf16 outputs), TF32 products round their
 * inputs to 10 bits: bounds it passes are not shown to hold on a GPU, whose roundings can be more. It
 * checks its arguments as the real library does: the shared checks of src/checks.h, and the same messages elsewhere.
 *
 * What it tests: CudaBackend's Java side (buffers, pooling, scratch, the bf16 copies' bookkeeping, the order and
 * operands of every call) against the CPU backend, in CI. What it does not: the CUDA kernels themselves (test_ops
 * on a GPU), speed, asynchrony. Its device name says "host emulation", and CudaBackendProvider refuses it unless
 * -Dsafetune.cuda.hostEmulation=true, so it can never stand in for a GPU by accident.
 * Built by scripts/build.sh (gcc only) into target/host/libsafetune_kernels.so, with the real library's soname.
 */
#define ST_ERRORS_IMPL  /* st_set_error and st_last_error (checks.h) */
#include "checks.h"  /* the real library's argument checks, error macros and error recorder, shared */
#include "safetune_kernels.h"
#include "safetune_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct st_ctx {
  int device;
};

/* ---- device, context, memory ---- */

int st_device_count(int *count) {
  ST_CHECK("st_device_count", count != NULL, "count is NULL");
  *count = 1;
  return ST_OK;
}

int st_device_name(int device, char *buf, int buflen) {
  ST_CHECK("st_device_name", buf != NULL && buflen > 0, "buffer is NULL or empty");
  ST_CHECK("st_device_name", device == 0, "device %d not in [0,1)", device);
  snprintf(buf, buflen, "SafeTune host emulation (CPU references, not a GPU)");
  return ST_OK;
}

int st_ctx_create(st_ctx **out, int device) {
  const char *op = "st_ctx_create";
  ST_CHECK(op, out != NULL, "out is NULL");
  *out = NULL;
  ST_CHECK(op, device == 0, "device %d not in [0,1)", device);
  st_ctx *c = malloc(sizeof *c);
  if (!c) return st_set_error(ST_ERR_CUDA, op, "out of host memory");
  c->device = device;
  *out = c;
  return ST_OK;
}

int st_ctx_destroy(st_ctx *ctx) {
  ST_CTX("st_ctx_destroy");
  free(ctx);
  return ST_OK;
}

int st_ctx_sync(st_ctx *ctx) {
  ST_CTX("st_ctx_sync");
  return ST_OK;
}

int st_profiler_range(st_ctx *ctx, int start) {
  (void)start;
  ST_CTX("st_profiler_range");
  return ST_OK;
}

void *st_ctx_stream(st_ctx *ctx) { return ctx; }

int st_malloc(st_ctx *ctx, void **ptr, size_t bytes) {
  ST_CTX("st_malloc");
  ST_CHECK("st_malloc", ptr != NULL, "ptr is NULL");
  size_t rounded = (bytes + 255) / 256 * 256;
  void *p = aligned_alloc(256, rounded ? rounded : 256);  /* cudaMalloc's alignment */
  if (!p) return st_set_error(ST_ERR_CUDA, "st_malloc", "cudaMalloc(%zu bytes): out of memory", bytes);
  memset(p, 0xFF, rounded ? rounded : 256);  /* NaN everywhere: a read of what nobody wrote shows */
  *ptr = p;
  return ST_OK;
}

int st_free(st_ctx *ctx, void *ptr) {
  ST_CTX("st_free");
  free(ptr);
  return ST_OK;
}

int st_memcpy_h2d(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_h2d");
  if (bytes) memmove(dst, src, bytes);
  return ST_OK;
}

int st_memcpy_d2h(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_d2h");
  if (bytes) memmove(dst, src, bytes);
  return ST_OK;
}

int st_memcpy_d2d(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_d2d");
  if (bytes) memmove(dst, src, bytes);
  return ST_OK;
}

int st_memset(st_ctx *ctx, void *ptr, int value, size_t bytes) {
  ST_CTX("st_memset");
  if (bytes) memset(ptr, value, bytes);
  return ST_OK;
}

size_t st_weight_bytes(int wtype, int64_t rows, int64_t cols) {
  switch (wtype) {
    case ST_W_F32: return (size_t)(rows * cols * 4);
    case ST_W_BF16: return (size_t)(rows * cols * 2);
    case ST_W_Q8_0: return (size_t)(rows * (cols / 32) * 34);
    case ST_W_Q4_1: return (size_t)(rows * (cols / 32) * 20);
    default: return 0;
  }
}

/* ---- helpers: rounding, operands as float matrices, one GEMM ---- */

static float bf16_round(float f) { return st_ref_bf16_to_f32(st_ref_f32_to_bf16(f)); }

/* TF32: 10 explicit mantissa bits, round to nearest even (inf/NaN kept) */
static float tf32_round(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
  memcpy(&f, &u, 4);
  return f;
}

enum rounding { EXACT = 0, BF16 = 1, TF32 = 2 };

static float *copy_rounded(const float *src, int64_t n, enum rounding how) {
  float *d = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) d[i] = how == BF16 ? bf16_round(src[i]) : how == TF32 ? tf32_round(src[i]) : src[i];
  return d;
}

static float *from_bf16(const uint16_t *src, int64_t n) {
  float *d = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) d[i] = st_ref_bf16_to_f32(src[i]);
  return d;
}

/* the frozen weight [rows, cols] as fp32 (bf16-rounded for the bf16 precisions, as their bf16 workspace copy is) */
static float *weight_f32(const void *W, int wtype, int rows, int cols, int round_bf16) {
  float *w = malloc(sizeof(float) * (size_t)rows * cols);
  for (int64_t r = 0; r < rows; r++) st_ref_weight_row(w + r * cols, W, wtype, cols, r);
  if (round_bf16)
    for (int64_t i = 0; i < (int64_t)rows * cols; i++) w[i] = bf16_round(w[i]);
  return w;
}

/* row-major C[M,N] = alpha·op(A)·op(B) + beta·C (beta = 0 ignores C), A [M,K] or [K,M], B [K,N] or [N,K];
 * double accumulation, loops ordered so the inner one walks memory contiguously where it can */
static void gemm(float *C, const float *A, const float *B, int M, int N, int K, int ta, int tb, float alpha,
                 float beta) {
  double *acc = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
  for (int64_t m = 0; m < M; m++) {
    if (tb) {  /* B [N,K]: a dot product per output */
      for (int64_t n = 0; n < N; n++) {
        double s = 0;
        const float *b = B + n * K;
        for (int64_t k = 0; k < K; k++) s += (double)(ta ? A[k * M + m] : A[m * K + k]) * b[k];
        acc[n] = s;
      }
    } else {  /* B [K,N]: rows of B scaled and added */
      for (int64_t n = 0; n < N; n++) acc[n] = 0;
      for (int64_t k = 0; k < K; k++) {
        double a = ta ? A[k * M + m] : A[m * K + k];
        const float *b = B + k * N;
        for (int64_t n = 0; n < N; n++) acc[n] += a * b[n];
      }
    }
    float *c = C + m * N;
    for (int64_t n = 0; n < N; n++) c[n] = (float)(alpha * acc[n] + (beta != 0.0f ? (double)beta * c[n] : 0.0));
  }
  free(acc);
}

/* ---- casts ---- */

int st_cast_f32_to_bf16(st_ctx *ctx, uint16_t *out, const float *in, int64_t n) {
  const char *op = "st_cast_f32_to_bf16";
  ST_CTX(op);
  ST_CHECK(op, n >= 0 && out && in, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, (const void *)out != (const void *)in, "out must not alias in (the kernel's threads would race)");
  for (int64_t i = 0; i < n; i++) out[i] = st_ref_f32_to_bf16(in[i]);
  return ST_OK;
}

int st_cast_bf16_to_f32(st_ctx *ctx, float *out, const uint16_t *in, int64_t n) {
  const char *op = "st_cast_bf16_to_f32";
  ST_CTX(op);
  ST_CHECK(op, n >= 0 && out && in, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, (const void *)out != (const void *)in, "out must not alias in (the kernel's threads would race)");
  for (int64_t i = 0; i < n; i++) out[i] = st_ref_bf16_to_f32(in[i]);
  return ST_OK;
}

/* ---- GEMMs ---- */

int st_matmul_bf16(st_ctx *ctx, void *C, int c_bf16, const uint16_t *A, const uint16_t *B, int M, int N, int K,
                   int trans_a, int trans_b, float alpha, float beta) {
  const char *op = "st_matmul_bf16";
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  float *a = from_bf16(A, (int64_t)M * K), *b = from_bf16(B, (int64_t)K * N);
  if (c_bf16) {
    float *c = from_bf16((const uint16_t *)C, (int64_t)M * N);
    gemm(c, a, b, M, N, K, trans_a, trans_b, alpha, beta);
    for (int64_t i = 0; i < (int64_t)M * N; i++) ((uint16_t *)C)[i] = st_ref_f32_to_bf16(c[i]);
    free(c);
  } else {
    gemm((float *)C, a, b, M, N, K, trans_a, trans_b, alpha, beta);
  }
  free(a);
  free(b);
  return ST_OK;
}

static int sgemm_rounded(const char *op, st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K,
                         int trans_a, int trans_b, float alpha, float beta, enum rounding how) {
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  float *a = copy_rounded(A, (int64_t)M * K, how), *b = copy_rounded(B, (int64_t)K * N, how);
  gemm(C, a, b, M, N, K, trans_a, trans_b, alpha, beta);
  free(a);
  free(b);
  return ST_OK;
}

int st_sgemm(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a, int trans_b,
             float alpha, float beta) {
  return sgemm_rounded("st_sgemm", ctx, C, A, B, M, N, K, trans_a, trans_b, alpha, beta, EXACT);
}

int st_sgemm_tf32(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                  int trans_b, float alpha, float beta) {
  return sgemm_rounded("st_sgemm_tf32", ctx, C, A, B, M, N, K, trans_a, trans_b, alpha, beta, TF32);
}

int st_sgemm_strided(st_ctx *ctx, float *C, int ldc, const float *U, int64_t su0, int64_t su1, const float *V,
                     int64_t sv0, int64_t sv1, int M, int P, int K, float alpha, int accumulate) {
  const char *op = "st_sgemm_strided";
  ST_CTX(op);
  ST_CHECK(op, C && U && V && M > 0 && P > 0 && K > 0 && ldc >= P, "bad arguments M=%d P=%d K=%d ldc=%d", M, P, K, ldc);
  ST_CHECK(op, (M + 63) / 64 <= 65535, "M=%d too large", M);
  /* all of C's products before any write: C may be an input of a later row's product only in misuse */
  float *r = malloc(sizeof(float) * (size_t)M * P);
  for (int64_t m = 0; m < M; m++)
    for (int64_t p = 0; p < P; p++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++) s += (double)U[m * su0 + k * su1] * V[k * sv0 + p * sv1];
      r[m * P + p] = (float)(alpha * s);
    }
  for (int64_t m = 0; m < M; m++)
    for (int64_t p = 0; p < P; p++) C[m * ldc + p] = (accumulate ? C[m * ldc + p] : 0.0f) + r[m * P + p];
  free(r);
  return ST_OK;
}

/* ---- LoRA linear and the frozen products ---- */

/* y (+)= act·Wᵀ (forward, act [N,in]) or dx (+)= act·W (backward, act [N,out]); act and W rounded to bf16 if asked */
static void frozen(float *dst, const float *act, const void *W, int wtype, int N, int in, int out, int backward,
                   int accumulate, int round_bf16) {
  float *w = weight_f32(W, wtype, out, in, round_bf16);
  float *a = copy_rounded(act, (int64_t)N * (backward ? out : in), round_bf16 ? BF16 : EXACT);
  if (backward)
    gemm(dst, a, w, N, in, out, 0, 0, 1.0f, accumulate ? 1.0f : 0.0f);
  else
    gemm(dst, a, w, N, out, in, 0, 1, 1.0f, accumulate ? 1.0f : 0.0f);
  free(a);
  free(w);
}

int st_lora_forward(st_ctx *ctx, float *y, float *xa, const float *x, const void *W, int wtype, const float *A,
                    const float *B, float scale, int N, int in, int out, int r, int precision) {
  const char *op = "st_lora_forward";
  int rc = check_lora(op, ctx, W, wtype, N, in, out, r, precision);
  if (rc) return rc;
  ST_CHECK(op, y && x && (r == 0 || (xa && A && B)), "NULL buffer");
  /* the rank-r terms in fp32 (the bf16-tiled kernel rounds s·xa and B to bf16 in its tile: not emulated, Java runs
   * these two entry points with r = 0 only) */
  if (r > 0) gemm(xa, x, A, N, r, in, 0, 1, 1.0f, 0.0f);
  frozen(y, x, W, wtype, N, in, out, 0, 0, precision != ST_PREC_F32);
  if (r > 0) gemm(y, xa, B, N, out, r, 0, 1, scale, 1.0f);
  return ST_OK;
}

int st_lora_backward(st_ctx *ctx, float *dx, float *dA, float *dB, float *g, const float *dy, const float *x,
                     const float *xa, const void *W, int wtype, const float *A, const float *B, float scale, int N,
                     int in, int out, int r, int precision, int accumulate) {
  const char *op = "st_lora_backward";
  int rc = check_lora(op, ctx, W, wtype, N, in, out, r, precision);
  if (rc) return rc;
  ST_CHECK(op, dy && (r == 0 ? dx != NULL : (dA && dB && g && x && xa && A && B)), "NULL buffer");
  if (r > 0) gemm(g, dy, B, N, r, out, 0, 0, 1.0f, 0.0f);  /* g = dy·B */
  if (dx) {
    frozen(dx, dy, W, wtype, N, in, out, 1, 0, precision != ST_PREC_F32);
    if (r > 0) gemm(dx, g, A, N, in, r, 0, 0, scale, 1.0f);
  }
  if (r == 0) return ST_OK;
  gemm(dA, g, x, r, in, N, 1, 0, scale, accumulate ? 1.0f : 0.0f);
  gemm(dB, dy, xa, out, r, N, 1, 0, scale, accumulate ? 1.0f : 0.0f);
  return ST_OK;
}

/* the frozen bf16 product in either direction, checked as the real library's frozen_bf16 (lora.cu) */
static int frozen_bf16(const char *op, st_ctx *ctx, float *dst, const float *act, const void *W, int wtype, int N,
                       int in, int out, int backward, int accumulate) {
  int rc = check_lora(op, ctx, W, wtype, N, in, out, 0, ST_PREC_BF16);
  if (rc) return rc;
  ST_CHECK(op, dst && act, "NULL buffer");
  frozen(dst, act, W, wtype, N, in, out, backward, accumulate, 1);
  return ST_OK;
}

int st_matmul_backward_bf16(st_ctx *ctx, float *dx, const float *dy, const void *W, int wtype, int N, int in, int out,
                            int accumulate) {
  return frozen_bf16("st_matmul_backward_bf16", ctx, dx, dy, W, wtype, N, in, out, 1, accumulate);
}

int st_matmul_forward_bf16(st_ctx *ctx, float *y, const float *x, const void *W, int wtype, int N, int in, int out,
                           int accumulate) {
  return frozen_bf16("st_matmul_forward_bf16", ctx, y, x, W, wtype, N, in, out, 0, accumulate);
}

static int frozen_act(const char *op, st_ctx *ctx, float *dst, const uint16_t *actb, const void *W, int wtype, int N,
                      int in, int out, int backward, int accumulate) {
  int rc = check_lora(op, ctx, W, wtype, N, in, out, 0, ST_PREC_BF16);
  if (rc) return rc;
  ST_CHECK(op, dst && actb, "NULL buffer");
  float *a = from_bf16(actb, (int64_t)N * (backward ? out : in));
  frozen(dst, a, W, wtype, N, in, out, backward, accumulate, 1);  /* a is bf16 already: rounding it is a no-op */
  free(a);
  return ST_OK;
}

int st_matmul_forward_bf16_act(st_ctx *ctx, float *y, const uint16_t *xb, const void *W, int wtype, int N, int in,
                               int out, int accumulate) {
  return frozen_act("st_matmul_forward_bf16_act", ctx, y, xb, W, wtype, N, in, out, 0, accumulate);
}

int st_matmul_backward_bf16_act(st_ctx *ctx, float *dx, const uint16_t *dyb, const void *W, int wtype, int N, int in,
                                int out, int accumulate) {
  return frozen_act("st_matmul_backward_bf16_act", ctx, dx, dyb, W, wtype, N, in, out, 1, accumulate);
}

int st_lora_linear_supported(int in, int out, int r) {
  return (r == 8 || r == 16 || r == 32 || r == 64) && in > 0 && out > 0 && in % 4 == 0 && out % 4 == 0;
}

int st_lora_linear_forward(st_ctx *ctx, float *y, float *u, const float *x, const float *xl, const void *W, int wtype,
                           const float *A, const float *B, float scale, int N, int in, int out, int r) {
  const char *op = "st_lora_linear_forward";
  int rc = check_lora_linear(op, ctx, W, wtype, N, in, out, r);
  if (rc) return rc;
  ST_CHECK(op, y && u && x && xl && A && B, "NULL buffer");
  ST_CHECK(op, (((uintptr_t)y | (uintptr_t)x | (uintptr_t)xl) & 15) == 0,
        "y, x and xl must be 16-byte aligned (float4 loads and stores)");
  gemm(u, xl, A, N, r, in, 0, 1, 1.0f, 0.0f);
  gemm(y, u, B, N, out, r, 0, 1, scale, 0.0f);
  frozen(y, x, W, wtype, N, in, out, 0, 1, 1);
  return ST_OK;
}

int st_lora_linear_backward(st_ctx *ctx, float *dx, float *du, float *dA, float *dB, const float *dy, const float *x,
                            const float *u, const void *W, int wtype, const float *A, const float *B, float scale,
                            int N, int in, int out, int r, int accumulate) {
  const char *op = "st_lora_linear_backward";
  int rc = check_lora_linear(op, ctx, W, wtype, N, in, out, r);
  if (rc) return rc;
  ST_CHECK(op, dx && du && dA && dB && dy && x && u && A && B, "NULL buffer");
  ST_CHECK(op, (((uintptr_t)dx | (uintptr_t)dy | (uintptr_t)x) & 15) == 0,
        "dx, dy and x must be 16-byte aligned (float4 loads and stores)");
  gemm(du, dy, B, N, r, out, 0, 0, scale, 0.0f);
  gemm(dB, dy, u, out, r, N, 1, 0, scale, 1.0f);
  gemm(dx, du, A, N, in, r, 0, 0, 1.0f, accumulate ? 1.0f : 0.0f);
  gemm(dA, du, x, r, in, N, 1, 0, 1.0f, 1.0f);
  frozen(dx, dy, W, wtype, N, in, out, 1, 1, 1);
  return ST_OK;
}

/* ---- RMSNorm ---- */

int st_rmsnorm_forward(st_ctx *ctx, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
  const char *op = "st_rmsnorm_forward";
  ST_CTX(op);
  ST_CHECK(op, y && rstd && x && w && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  st_ref_rmsnorm_forward(y, rstd, x, w, N, C, eps);
  return ST_OK;
}

int st_rmsnorm_forward_bf16(st_ctx *ctx, float *y, uint16_t *yb, float *rstd, const float *x, const float *w, int N,
                            int C, float eps) {
  const char *op = "st_rmsnorm_forward_bf16";
  ST_CTX(op);
  ST_CHECK(op, y && yb && rstd && x && w && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  st_ref_rmsnorm_forward(y, rstd, x, w, N, C, eps);
  for (int64_t i = 0; i < (int64_t)N * C; i++) yb[i] = st_ref_f32_to_bf16(y[i]);
  return ST_OK;
}

int st_rmsnorm_backward(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const float *rstd, int N, int C) {
  const char *op = "st_rmsnorm_backward";
  ST_CTX(op);
  ST_CHECK(op, dx && dy && x && w && rstd && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  ST_CHECK(op, dx != x, "dx must not alias x (x is re-read after dx is written)");
  st_ref_rmsnorm_backward(dx, dw, dy, x, w, rstd, N, C);
  return ST_OK;
}

static int rmsnorm_backward_add(const char *op, st_ctx *ctx, float *dx, uint16_t *dxb, int want_dxb, float *dw,
                                const float *dy, const float *x, const float *w, const float *rstd, int N, int C) {
  ST_CTX(op);
  ST_CHECK(op, dx && (!want_dxb || dxb) && dy && x && w && rstd && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  ST_CHECK(op, dx != x && dx != dy, "dx must not alias x or dy (both are re-read after dx is updated)");
  float *t = malloc(sizeof(float) * (size_t)((int64_t)N * C > 0 ? (int64_t)N * C : 1));
  st_ref_rmsnorm_backward(t, dw, dy, x, w, rstd, N, C);
  for (int64_t i = 0; i < (int64_t)N * C; i++) {
    dx[i] += t[i];
    if (want_dxb) dxb[i] = st_ref_f32_to_bf16(dx[i]);
  }
  free(t);
  return ST_OK;
}

int st_rmsnorm_backward_add(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x, const float *w,
                            const float *rstd, int N, int C) {
  return rmsnorm_backward_add("st_rmsnorm_backward_add", ctx, dx, NULL, 0, dw, dy, x, w, rstd, N, C);
}

int st_rmsnorm_backward_add_bf16(st_ctx *ctx, float *dx, uint16_t *dxb, float *dw, const float *dy, const float *x,
                                 const float *w, const float *rstd, int N, int C) {
  return rmsnorm_backward_add("st_rmsnorm_backward_add_bf16", ctx, dx, dxb, 1, dw, dy, x, w, rstd, N, C);
}

/* ---- RoPE ---- */

int st_rope_forward(st_ctx *ctx, float *out, const float *in, const int32_t *pos, const float *inv_freq, int N, int H,
                    int D) {
  const char *op = "st_rope_forward";
  ST_CTX(op);
  ST_CHECK(op, out && in && pos && inv_freq && N >= 0 && H > 0 && D > 0 && D % 2 == 0, "bad arguments N=%d H=%d D=%d", N,
        H, D);
  st_ref_rope_forward(out, in, pos, inv_freq, N, H, D);
  return ST_OK;
}

int st_rope_backward(st_ctx *ctx, float *din, const float *dout, const int32_t *pos, const float *inv_freq, int N,
                     int H, int D) {
  const char *op = "st_rope_backward";
  ST_CTX(op);
  ST_CHECK(op, din && dout && pos && inv_freq && N >= 0 && H > 0 && D > 0 && D % 2 == 0, "bad arguments N=%d H=%d D=%d",
        N, H, D);
  st_ref_rope_backward(din, dout, pos, inv_freq, N, H, D);
  return ST_OK;
}

/* ---- attention ---- */

/* the real bf16 entry points run their tensor-core kernels (bf16 inputs) only for head dims 64 and 128 with 16-byte
 * aligned buffers, else the fp32 ones; the emulation rounds Q, K, V (and dO) in the same cases, not P or dS */
static int tc_usable(int D, const void *const *ptrs, int n) {
  if (D != 64 && D != 128) return 0;
  for (int i = 0; i < n; i++)
    if (ptrs[i] != NULL && ((uintptr_t)ptrs[i] & 15) != 0) return 0;
  return 1;
}

static int check_attention(const char *op, st_ctx *ctx, int B, int T, int Hq, int Hkv, int D) {
  ST_CTX(op);
  return check_attention_shapes(op, B, T, Hq, Hkv, D);
}

static int attention_forward(const char *op, st_ctx *ctx, float *out, float *lse, const float *q, const float *k,
                             const float *v, const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start,
                             int Hq, int Hkv, int D, float scale, int round_bf16) {
  int rc = check_attention(op, ctx, B, T, Hq, Hkv, D);
  if (rc) return rc;
  ST_CHECK(op, out && lse && q && k && v, "NULL buffer");
  ST_CHECK(op, q_start >= 0 && q_start + T <= Tk && Tk <= cap,
        "need 0 <= q_start, q_start+T <= Tk <= cap (q_start=%d T=%d Tk=%d cap=%d)", q_start, T, Tk, cap);
  enum rounding how = round_bf16 ? BF16 : EXACT;
  int64_t nq = (int64_t)B * T * Hq * D, nk = (int64_t)B * cap * Hkv * D;
  float *qr = copy_rounded(q, nq, how), *kr = copy_rounded(k, nk, how), *vr = copy_rounded(v, nk, how);
  st_ref_attention_forward(out, lse, qr, kr, vr, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, D, scale);
  free(qr);
  free(kr);
  free(vr);
  return ST_OK;
}

static int attention_backward(const char *op, st_ctx *ctx, float *dq, float *dk, float *dv, float *delta,
                              const float *dout, const float *out, const float *q, const float *k, const float *v,
                              const float *lse, const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D,
                              float scale, int round_bf16) {
  int rc = check_attention(op, ctx, B, T, Hq, Hkv, D);
  if (rc) return rc;
  ST_CHECK(op, dq && dk && dv && delta && dout && out && q && k && v && lse, "NULL buffer");
  enum rounding how = round_bf16 ? BF16 : EXACT;
  int64_t nq = (int64_t)B * T * Hq * D, nk = (int64_t)B * T * Hkv * D;
  float *qr = copy_rounded(q, nq, how), *kr = copy_rounded(k, nk, how), *vr = copy_rounded(v, nk, how);
  float *dr = copy_rounded(dout, nq, how);
  st_ref_attention_backward(dq, dk, dv, dr, qr, kr, vr, key_mask, B, T, Hq, Hkv, D, scale);
  free(qr);
  free(kr);
  free(vr);
  free(dr);
  return ST_OK;
}

int st_attention_forward(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                         const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv, int D,
                         float scale) {
  return attention_forward("st_attention_forward", ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv,
                           D, scale, 0);
}

int st_attention_backward(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                          const float *out, const float *q, const float *k, const float *v, const float *lse,
                          const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale) {
  return attention_backward("st_attention_backward", ctx, dq, dk, dv, delta, dout, out, q, k, v, lse, key_mask, B, T,
                            Hq, Hkv, D, scale, 0);
}

int st_attention_forward_bf16(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                              const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
                              int D, float scale) {
  const void *ptrs[] = {out, q, k, v};
  return attention_forward("st_attention_forward_bf16", ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq,
                           Hkv, D, scale, tc_usable(D, ptrs, 4));
}

int st_attention_backward_bf16(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                               const float *out, const float *q, const float *k, const float *v, const float *lse,
                               const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale) {
  const void *ptrs[] = {dq, dk, dv, dout, q, k, v};
  return attention_backward("st_attention_backward_bf16", ctx, dq, dk, dv, delta, dout, out, q, k, v, lse, key_mask,
                            B, T, Hq, Hkv, D, scale, tc_usable(D, ptrs, 7));
}

/* ---- elementwise, softmax, SwiGLU, dropout ---- */

int st_add(st_ctx *ctx, float *out, const float *a, const float *b, int64_t n) {
  ST_CTX("st_add");
  ST_CHECK("st_add", out && a && b && n >= 0, "bad arguments");
  st_ref_add(out, a, b, n);
  return ST_OK;
}

int st_fill(st_ctx *ctx, float *out, float value, int64_t n) {
  ST_CTX("st_fill");
  ST_CHECK("st_fill", out && n >= 0, "bad arguments");
  for (int64_t i = 0; i < n; i++) out[i] = value;
  return ST_OK;
}

int st_softmax_forward(st_ctx *ctx, float *out, const float *x, int N, int V) {
  ST_CTX("st_softmax_forward");
  ST_CHECK("st_softmax_forward", out && x && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  st_ref_softmax_forward(out, x, N, V);
  return ST_OK;
}

int st_logsumexp(st_ctx *ctx, float *out, const float *x, int N, int V) {
  ST_CTX("st_logsumexp");
  ST_CHECK("st_logsumexp", out && x && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  st_ref_logsumexp(out, x, N, V);
  return ST_OK;
}

int st_swiglu_forward(st_ctx *ctx, float *h, const float *gate, const float *up, int64_t n) {
  ST_CTX("st_swiglu_forward");
  ST_CHECK("st_swiglu_forward", h && gate && up && n >= 0, "bad arguments");
  st_ref_swiglu_forward(h, gate, up, n);
  return ST_OK;
}

int st_swiglu_backward(st_ctx *ctx, float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                       int64_t n) {
  ST_CTX("st_swiglu_backward");
  ST_CHECK("st_swiglu_backward", dgate && dup && dh && gate && up && n >= 0, "bad arguments");
  st_ref_swiglu_backward(dgate, dup, dh, gate, up, n);
  return ST_OK;
}

int st_swiglu_forward_bf16(st_ctx *ctx, float *h, uint16_t *hb, const float *gate, const float *up, int64_t n) {
  ST_CTX("st_swiglu_forward_bf16");
  ST_CHECK("st_swiglu_forward_bf16", h && hb && gate && up && n >= 0, "bad arguments");
  st_ref_swiglu_forward(h, gate, up, n);
  for (int64_t i = 0; i < n; i++) hb[i] = st_ref_f32_to_bf16(h[i]);
  return ST_OK;
}

int st_swiglu_backward_bf16(st_ctx *ctx, float *dgate, float *dup, uint16_t *dgb, uint16_t *dub, const float *dh,
                            const float *gate, const float *up, int64_t n) {
  const char *op = "st_swiglu_backward_bf16";
  ST_CTX(op);
  ST_CHECK(op, dgate && dup && dh && gate && up && n >= 0 && (dgb == NULL) == (dub == NULL), "bad arguments");
  st_ref_swiglu_backward(dgate, dup, dh, gate, up, n);
  if (dgb)
    for (int64_t i = 0; i < n; i++) {
      dgb[i] = st_ref_f32_to_bf16(dgate[i]);
      dub[i] = st_ref_f32_to_bf16(dup[i]);
    }
  return ST_OK;
}

int st_dropout(st_ctx *ctx, float *out, const float *in, int64_t n, uint64_t seed, float p) {
  const char *op = "st_dropout";
  ST_CTX(op);
  ST_CHECK(op, out && in && n >= 0, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, p >= 0.0f && p < 1.0f, "dropout probability %g not in [0, 1)", (double)p);
  st_ref_dropout(out, in, n, seed, p);
  return ST_OK;
}

/* ---- cross-entropy ---- */

int st_cross_entropy_forward(st_ctx *ctx, float *losses, float *lse, const float *logits, const int32_t *targets,
                             const uint8_t *mask, int N, int V) {
  const char *op = "st_cross_entropy_forward";
  ST_CTX(op);
  ST_CHECK(op, losses && lse && logits && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  st_ref_cross_entropy_forward(losses, lse, logits, targets, mask, N, V);
  return ST_OK;
}

int st_cross_entropy_backward(st_ctx *ctx, float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, const uint8_t *mask, float grad_scale, int N, int V) {
  const char *op = "st_cross_entropy_backward";
  ST_CTX(op);
  ST_CHECK(op, dlogits && logits && lse && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  st_ref_cross_entropy_backward(dlogits, logits, lse, targets, mask, grad_scale, N, V);
  return ST_OK;
}

int st_cross_entropy_backward_bf16(st_ctx *ctx, float *dlogits, uint16_t *dlb, const float *logits, const float *lse,
                                   const int32_t *targets, const uint8_t *mask, float grad_scale, int N, int V) {
  const char *op = "st_cross_entropy_backward_bf16";
  ST_CTX(op);
  ST_CHECK(op, dlogits && dlb && logits && lse && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  st_ref_cross_entropy_backward(dlogits, logits, lse, targets, mask, grad_scale, N, V);
  for (int64_t i = 0; i < (int64_t)N * V; i++) dlb[i] = st_ref_f32_to_bf16(dlogits[i]);
  return ST_OK;
}

/* ---- AdamW, sums of squares, multi-tensor lists ---- */

int st_adamw_update(st_ctx *ctx, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t, float grad_scale) {
  const char *op = "st_adamw_update";
  ST_CTX(op);
  ST_CHECK(op, p && g && m && v && n >= 0, "bad arguments");
  ST_CHECK(op, t >= 1, "step t must be >= 1, got %d", t);
  st_ref_adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
  return ST_OK;
}

static double sum_squares(const float *g, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
  return s;
}

int st_sumsq(st_ctx *ctx, float *out, const float *g, int64_t n) {
  ST_CTX("st_sumsq");
  ST_CHECK("st_sumsq", out && g && n >= 0, "bad arguments");
  *out = (float)(*out + sum_squares(g, n));
  return ST_OK;
}

static int check_list(const char *op, int count, int64_t max_n) {
  ST_CHECK(op, count >= 0 && count <= 65535 && max_n >= 0, "bad list: %d tensors, largest %lld", count,
        (long long)max_n);
  return ST_OK;
}

int st_adamw_update_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float lr, float beta1,
                          float beta2, float eps, float weight_decay, int t, float grad_scale) {
  const char *op = "st_adamw_update_multi";
  ST_CTX(op);
  int rc = check_list(op, count, max_n);
  if (rc) return rc;
  ST_CHECK(op, table != NULL || count == 0, "NULL table");
  ST_CHECK(op, t >= 1, "step t must be >= 1, got %d", t);
  for (int i = 0; i < count; i++) {
    const int64_t *e = table + 5 * i;
    st_ref_adamw_update((float *)(intptr_t)e[0], (const float *)(intptr_t)e[1], (float *)(intptr_t)e[2],
                        (float *)(intptr_t)e[3], e[4], lr, beta1, beta2, eps, weight_decay, t, grad_scale);
  }
  return ST_OK;
}

int st_fill_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float value) {
  const char *op = "st_fill_multi";
  ST_CTX(op);
  int rc = check_list(op, count, max_n);
  if (rc) return rc;
  ST_CHECK(op, table != NULL || count == 0, "NULL table");
  for (int i = 0; i < count; i++) {
    float *p = (float *)(intptr_t)table[2 * i];
    for (int64_t j = 0; j < table[2 * i + 1]; j++) p[j] = value;
  }
  return ST_OK;
}

int st_sumsq_multi(st_ctx *ctx, float *out, const int64_t *table, int count, int64_t max_n) {
  const char *op = "st_sumsq_multi";
  ST_CTX(op);
  int rc = check_list(op, count, max_n);
  if (rc) return rc;
  ST_CHECK(op, out != NULL && (table != NULL || count == 0), "NULL buffer");
  for (int i = 0; i < count; i++)
    out[i] = (float)(out[i] + sum_squares((const float *)(intptr_t)table[2 * i], table[2 * i + 1]));
  return ST_OK;
}

/* ---- embedding ---- */

int st_embedding_forward(st_ctx *ctx, float *out, const int32_t *ids, const void *table, int wtype, int N, int V,
                         int C) {
  const char *op = "st_embedding_forward";
  ST_CTX(op);
  ST_CHECK(op, out && ids && table && N >= 0 && V > 0 && C > 0, "bad arguments N=%d V=%d C=%d", N, V, C);
  ST_CHECK(op, wtype >= ST_W_F32 && wtype <= ST_W_Q4_1, "unknown table type %d", wtype);
  ST_CHECK(op, wtype < ST_W_Q8_0 || C % 32 == 0, "a Q8_0/Q4_1 table needs C %% 32 == 0, got C=%d", C);
  st_ref_embedding_forward(out, ids, table, wtype, N, V, C);
  return ST_OK;
}

int st_embedding_backward(st_ctx *ctx, float *dtable, const float *dout, const int32_t *ids, int N, int V, int C) {
  const char *op = "st_embedding_backward";
  ST_CTX(op);
  ST_CHECK(op, dtable && dout && ids && N >= 0 && V > 0 && C > 0, "bad arguments");
  st_ref_embedding_backward(dtable, dout, ids, N, V, C);
  return ST_OK;
}
