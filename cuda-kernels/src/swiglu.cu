// SwiGLU h = silu(gate) * up and its backward. Pure elementwise, memory-bound: one element per thread,
// 256 threads, grid-stride loop capped at 65535 blocks (more than enough waves to hide latency).
#include "common.cuh"

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

static int grid1(int64_t n) { int64_t g = ceil_div(n, 256); return (int)(g < 1 ? 1 : g > 65535 ? 65535 : g); }

extern "C" int st_swiglu_forward(st_ctx *ctx, float *h, const float *gate, const float *up, int64_t n) {
  const char *op = "st_swiglu_forward";
  ST_CTX(op);
  ST_CHECK(op, h && gate && up && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  swiglu_forward_kernel<<<grid1(n), 256, 0, ctx->stream>>>(h, gate, up, n);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_swiglu_backward(st_ctx *ctx, float *dgate, float *dup, const float *dh, const float *gate,
                                  const float *up, int64_t n) {
  const char *op = "st_swiglu_backward";
  ST_CTX(op);
  ST_CHECK(op, dgate && dup && dh && gate && up && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  swiglu_backward_kernel<<<grid1(n), 256, 0, ctx->stream>>>(dgate, dup, dh, gate, up, n);
  ST_LAUNCHED(op);
  return ST_OK;
}
