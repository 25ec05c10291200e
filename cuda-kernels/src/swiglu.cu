// SwiGLU h = silu(gate) * up and its backward. Pure elementwise, memory-bound: four elements per thread
// (16-byte loads and stores) when the buffers allow, one otherwise and for the tail; 256 threads, grid-stride
// loop capped at 65535 blocks (more than enough waves to hide latency).
#include "common.cuh"
#include <initializer_list>

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// hb, dgb, dub (may be NULL): bf16 copies (round to nearest even, as st_cast_f32_to_bf16) of the outputs for the
// frozen GEMM that reads them next, written here instead of by a separate cast pass
__global__ void swiglu_forward_kernel(float *h, __nv_bfloat16 *hb, const float *gate, const float *up, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = gate[i];
    float v = g * sigmoidf_(g) * up[i];
    h[i] = v;
    if (hb) hb[i] = __float2bfloat16_rn(v);
  }
}

// d/dg silu(g) = sig(g) * (1 + g*(1 - sig(g)))
__global__ void swiglu_backward_kernel(float *dgate, float *dup, __nv_bfloat16 *dgb, __nv_bfloat16 *dub,
                                       const float *dh, const float *gate, const float *up, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = gate[i], u = up[i], d = dh[i];
    float s = sigmoidf_(g);
    float dg = d * u * s * (1.0f + g * (1.0f - s));
    float du = d * g * s;
    dgate[i] = dg;  // written after both reads: dgate may alias gate, dup may alias up
    dup[i] = du;
    if (dgb) {
      dgb[i] = __float2bfloat16_rn(dg);
      dub[i] = __float2bfloat16_rn(du);
    }
  }
}

__device__ __forceinline__ float swiglu1(float g, float u) { return g * sigmoidf_(g) * u; }

__device__ __forceinline__ void swiglu_grad1(float d, float g, float u, float &dg, float &du) {
  float s = sigmoidf_(g);
  dg = d * u * s * (1.0f + g * (1.0f - s));
  du = d * g * s;
}

// four bf16 values in one 8-byte store
__device__ __forceinline__ uint2 bf16x4(float4 v) {
  __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
  return make_uint2(*reinterpret_cast<uint32_t *>(&lo), *reinterpret_cast<uint32_t *>(&hi));
}

__global__ void swiglu_forward_kernel4(float4 *h, uint2 *hb, const float4 *gate, const float4 *up, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    float4 g = gate[i], u = up[i];
    float4 v = make_float4(swiglu1(g.x, u.x), swiglu1(g.y, u.y), swiglu1(g.z, u.z), swiglu1(g.w, u.w));
    h[i] = v;
    if (hb) hb[i] = bf16x4(v);
  }
}

__global__ void swiglu_backward_kernel4(float4 *dgate, float4 *dup, uint2 *dgb, uint2 *dub, const float4 *dh,
                                        const float4 *gate, const float4 *up, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    float4 g = gate[i], u = up[i], d = dh[i], dg, du;
    swiglu_grad1(d.x, g.x, u.x, dg.x, du.x);
    swiglu_grad1(d.y, g.y, u.y, dg.y, du.y);
    swiglu_grad1(d.z, g.z, u.z, dg.z, du.z);
    swiglu_grad1(d.w, g.w, u.w, dg.w, du.w);
    dgate[i] = dg;  // written after all reads: dgate may alias gate, dup may alias up
    dup[i] = du;
    if (dgb) {
      dgb[i] = bf16x4(dg);
      dub[i] = bf16x4(du);
    }
  }
}

static bool aligned16(std::initializer_list<const void *> ps) {
  for (const void *p : ps)
    if (((uintptr_t)p & 15) != 0) return false;
  return true;
}

static int grid1(int64_t n) { int64_t g = ceil_div(n, 256); return (int)(g < 1 ? 1 : g > 65535 ? 65535 : g); }

static int swiglu_forward(const char *op, st_ctx *ctx, float *h, uint16_t *hb, const float *gate, const float *up,
                          int64_t n) {
  ST_CTX(op);
  ST_CHECK(op, h && gate && up && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  // elements done four at a time (the bf16 copy then takes 8-byte stores)
  int64_t v = aligned16({h, gate, up}) && ((uintptr_t)hb & 7) == 0 ? n / 4 * 4 : 0;
  __nv_bfloat16 *b = (__nv_bfloat16 *)hb;
  if (v > 0)
    swiglu_forward_kernel4<<<grid1(v / 4), 256, 0, ctx->stream>>>((float4 *)h, (uint2 *)b, (const float4 *)gate,
                                                                  (const float4 *)up, v / 4);
  if (n > v)
    swiglu_forward_kernel<<<grid1(n - v), 256, 0, ctx->stream>>>(h + v, b ? b + v : nullptr, gate + v, up + v, n - v);
  ST_LAUNCHED(op);
  return ST_OK;
}

static int swiglu_backward(const char *op, st_ctx *ctx, float *dgate, float *dup, uint16_t *dgb, uint16_t *dub,
                           const float *dh, const float *gate, const float *up, int64_t n) {
  ST_CTX(op);
  ST_CHECK(op, dgate && dup && dh && gate && up && n >= 0 && (dgb == nullptr) == (dub == nullptr), "bad arguments");
  if (n == 0) return ST_OK;
  int64_t v = aligned16({dgate, dup, dh, gate, up}) && (((uintptr_t)dgb | (uintptr_t)dub) & 7) == 0 ? n / 4 * 4 : 0;
  __nv_bfloat16 *gb = (__nv_bfloat16 *)dgb, *ub = (__nv_bfloat16 *)dub;
  if (v > 0)
    swiglu_backward_kernel4<<<grid1(v / 4), 256, 0, ctx->stream>>>((float4 *)dgate, (float4 *)dup, (uint2 *)gb,
                                                                   (uint2 *)ub, (const float4 *)dh,
                                                                   (const float4 *)gate, (const float4 *)up, v / 4);
  if (n > v)
    swiglu_backward_kernel<<<grid1(n - v), 256, 0, ctx->stream>>>(dgate + v, dup + v, gb ? gb + v : nullptr,
                                                                  ub ? ub + v : nullptr, dh + v, gate + v, up + v,
                                                                  n - v);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_swiglu_forward(st_ctx *ctx, float *h, const float *gate, const float *up, int64_t n) {
  return swiglu_forward("st_swiglu_forward", ctx, h, nullptr, gate, up, n);
}

extern "C" int st_swiglu_backward(st_ctx *ctx, float *dgate, float *dup, const float *dh, const float *gate,
                                  const float *up, int64_t n) {
  return swiglu_backward("st_swiglu_backward", ctx, dgate, dup, nullptr, nullptr, dh, gate, up, n);
}

extern "C" int st_swiglu_forward_bf16(st_ctx *ctx, float *h, uint16_t *hb, const float *gate, const float *up,
                                      int64_t n) {
  if (!hb) return st_set_error(ST_ERR_ARG, "st_swiglu_forward_bf16", "hb is NULL");
  return swiglu_forward("st_swiglu_forward_bf16", ctx, h, hb, gate, up, n);
}

extern "C" int st_swiglu_backward_bf16(st_ctx *ctx, float *dgate, float *dup, uint16_t *dgb, uint16_t *dub,
                                       const float *dh, const float *gate, const float *up, int64_t n) {
  if (!dgb || !dub) return st_set_error(ST_ERR_ARG, "st_swiglu_backward_bf16", "dgb or dub is NULL");
  return swiglu_backward("st_swiglu_backward_bf16", ctx, dgate, dup, dgb, dub, dh, gate, up, n);
}
