// SwiGLU h = silu(gate) * up and its backward. Pure elementwise, memory-bound: four elements per thread
// (16-byte loads and stores) when the buffers allow, one otherwise and for the tail; 256 threads, grid-stride
// loop capped at 65535 blocks (more than enough waves to hide latency).
#include "common.cuh"
#include <initializer_list>

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void swiglu_forward_kernel(float *h, const float *gate, const float *up, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = gate[i];
    h[i] = g * sigmoidf_(g) * up[i];
  }
}

// d/dg silu(g) = sig(g) * (1 + g*(1 - sig(g)))
__global__ void swiglu_backward_kernel(float *dgate, float *dup, const float *dh, const float *gate,
                                       const float *up, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = gate[i], u = up[i], d = dh[i];
    float s = sigmoidf_(g);
    float dg = d * u * s * (1.0f + g * (1.0f - s));
    float du = d * g * s;
    dgate[i] = dg;  // written after both reads: dgate may alias gate, dup may alias up
    dup[i] = du;
  }
}

__device__ __forceinline__ float swiglu1(float g, float u) { return g * sigmoidf_(g) * u; }

__device__ __forceinline__ void swiglu_grad1(float d, float g, float u, float &dg, float &du) {
  float s = sigmoidf_(g);
  dg = d * u * s * (1.0f + g * (1.0f - s));
  du = d * g * s;
}

__global__ void swiglu_forward_kernel4(float4 *h, const float4 *gate, const float4 *up, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    float4 g = gate[i], u = up[i];
    h[i] = make_float4(swiglu1(g.x, u.x), swiglu1(g.y, u.y), swiglu1(g.z, u.z), swiglu1(g.w, u.w));
  }
}

__global__ void swiglu_backward_kernel4(float4 *dgate, float4 *dup, const float4 *dh, const float4 *gate,
                                        const float4 *up, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    float4 g = gate[i], u = up[i], d = dh[i], dg, du;
    swiglu_grad1(d.x, g.x, u.x, dg.x, du.x);
    swiglu_grad1(d.y, g.y, u.y, dg.y, du.y);
    swiglu_grad1(d.z, g.z, u.z, dg.z, du.z);
    swiglu_grad1(d.w, g.w, u.w, dg.w, du.w);
    dgate[i] = dg;  // written after all reads: dgate may alias gate, dup may alias up
    dup[i] = du;
  }
}

static bool aligned16(std::initializer_list<const void *> ps) {
  for (const void *p : ps)
    if (((uintptr_t)p & 15) != 0) return false;
  return true;
}

static int grid1(int64_t n) { int64_t g = ceil_div(n, 256); return (int)(g < 1 ? 1 : g > 65535 ? 65535 : g); }

extern "C" int st_swiglu_forward(st_ctx *ctx, float *h, const float *gate, const float *up, int64_t n) {
  const char *op = "st_swiglu_forward";
  ST_CTX(op);
  ST_CHECK(op, h && gate && up && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  int64_t v = aligned16({h, gate, up}) ? n / 4 * 4 : 0;  // elements done four at a time
  if (v > 0)
    swiglu_forward_kernel4<<<grid1(v / 4), 256, 0, ctx->stream>>>((float4 *)h, (const float4 *)gate,
                                                                  (const float4 *)up, v / 4);
  if (n > v) swiglu_forward_kernel<<<grid1(n - v), 256, 0, ctx->stream>>>(h + v, gate + v, up + v, n - v);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_swiglu_backward(st_ctx *ctx, float *dgate, float *dup, const float *dh, const float *gate,
                                  const float *up, int64_t n) {
  const char *op = "st_swiglu_backward";
  ST_CTX(op);
  ST_CHECK(op, dgate && dup && dh && gate && up && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  int64_t v = aligned16({dgate, dup, dh, gate, up}) ? n / 4 * 4 : 0;
  if (v > 0)
    swiglu_backward_kernel4<<<grid1(v / 4), 256, 0, ctx->stream>>>((float4 *)dgate, (float4 *)dup,
                                                                   (const float4 *)dh, (const float4 *)gate,
                                                                   (const float4 *)up, v / 4);
  if (n > v)
    swiglu_backward_kernel<<<grid1(n - v), 256, 0, ctx->stream>>>(dgate + v, dup + v, dh + v, gate + v, up + v, n - v);
  ST_LAUNCHED(op);
  return ST_OK;
}
