// RMSNorm forward/backward. One block of 256 threads per row: rows are C = 576..8192 floats, so a block
// strides the row coalesced and reduces with warp shuffles; N rows give N blocks (thousands: full chip).
#include "common.cuh"
#include "reduce.cuh"

// yb (may be NULL): the bf16 copy of y (round to nearest even, as st_cast_f32_to_bf16) that the next frozen
// GEMM reads, written here instead of by a separate cast pass over y
__global__ void rmsnorm_forward_kernel(float *y, __nv_bfloat16 *yb, float *rstd, const float *x, const float *w, int C,
                                       float eps) {
  const float *xr = x + (int64_t)blockIdx.x * C;
  float *yr = y + (int64_t)blockIdx.x * C;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) ss += xr[c] * xr[c];
  ss = block_sum(ss);
  float r = rsqrtf(ss / C + eps);
  __nv_bfloat16 *ybr = yb ? yb + (int64_t)blockIdx.x * C : nullptr;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v = xr[c] * r * w[c];
    yr[c] = v;
    if (ybr) ybr[c] = __float2bfloat16_rn(v);
  }
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
}

// xh = x*rstd, dxh = dy*w:  dx = rstd * (dxh - xh * mean(dxh*xh));  dw += dy*xh (if requested)
// dxb (may be NULL): the bf16 copy of the dx written (the next frozen GEMM's input in the backward)
template <bool ADD>
__global__ void rmsnorm_backward_kernel(float *dx, __nv_bfloat16 *dxb, float *dw, const float *dy, const float *x,
                                        const float *w, const float *rstd, int C) {
  int64_t off = (int64_t)blockIdx.x * C;
  float r = rstd[blockIdx.x];
  float dot = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dot += dy[off + c] * w[c] * x[off + c] * r;
  dot = block_sum(dot) / C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float xh = x[off + c] * r;
    float g = dy[off + c];
    if (dw) atomicAdd(dw + c, g * xh);
    float d = r * (g * w[c] - xh * dot);
    float v = ADD ? dx[off + c] + d : d;
    dx[off + c] = v;
    if (dxb) dxb[off + c] = __float2bfloat16_rn(v);
  }
}

extern "C" int st_rmsnorm_forward(st_ctx *ctx, float *y, float *rstd, const float *x, const float *w, int N, int C,
                                  float eps) {
  const char *op = "st_rmsnorm_forward";
  ST_CTX(op);
  ST_CHECK(op, y && rstd && x && w && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  if (N == 0) return ST_OK;
  rmsnorm_forward_kernel<<<N, 256, 0, ctx->stream>>>(y, nullptr, rstd, x, w, C, eps);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rmsnorm_forward_bf16(st_ctx *ctx, float *y, uint16_t *yb, float *rstd, const float *x, const float *w,
                                       int N, int C, float eps) {
  const char *op = "st_rmsnorm_forward_bf16";
  ST_CTX(op);
  ST_CHECK(op, y && yb && rstd && x && w && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  if (N == 0) return ST_OK;
  rmsnorm_forward_kernel<<<N, 256, 0, ctx->stream>>>(y, (__nv_bfloat16 *)yb, rstd, x, w, C, eps);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rmsnorm_backward(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                   const float *rstd, int N, int C) {
  const char *op = "st_rmsnorm_backward";
  ST_CTX(op);
  ST_CHECK(op, dx && dy && x && w && rstd && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  ST_CHECK(op, dx != x, "dx must not alias x (x is re-read after dx is written)");
  if (N == 0) return ST_OK;
  rmsnorm_backward_kernel<false><<<N, 256, 0, ctx->stream>>>(dx, nullptr, dw, dy, x, w, rstd, C);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rmsnorm_backward_add(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x,
                                       const float *w, const float *rstd, int N, int C) {
  const char *op = "st_rmsnorm_backward_add";
  ST_CTX(op);
  ST_CHECK(op, dx && dy && x && w && rstd && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  ST_CHECK(op, dx != x && dx != dy, "dx must not alias x or dy (both are re-read after dx is updated)");
  if (N == 0) return ST_OK;
  rmsnorm_backward_kernel<true><<<N, 256, 0, ctx->stream>>>(dx, nullptr, dw, dy, x, w, rstd, C);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rmsnorm_backward_add_bf16(st_ctx *ctx, float *dx, uint16_t *dxb, float *dw, const float *dy,
                                            const float *x, const float *w, const float *rstd, int N, int C) {
  const char *op = "st_rmsnorm_backward_add_bf16";
  ST_CTX(op);
  ST_CHECK(op, dx && dxb && dy && x && w && rstd && N >= 0 && C > 0, "bad arguments N=%d C=%d", N, C);
  ST_CHECK(op, dx != x && dx != dy, "dx must not alias x or dy (both are re-read after dx is updated)");
  if (N == 0) return ST_OK;
  rmsnorm_backward_kernel<true><<<N, 256, 0, ctx->stream>>>(dx, (__nv_bfloat16 *)dxb, dw, dy, x, w, rstd, C);
  ST_LAUNCHED(op);
  return ST_OK;
}
