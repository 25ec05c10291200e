// AdamW as torch.optim.AdamW (decoupled decay: p <- p - lr*wd*p, then the bias-corrected Adam step) and a
// sum-of-squares reduction for the global gradient norm. Elementwise: one parameter per thread.
#include "common.cuh"

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                             float eps, float wd, float bc1, float bc2, float grad_scale) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float gi = g[i] * grad_scale;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float pi = p[i] * (1.0f - lr * wd);
    // torch: denom = sqrt(v)/sqrt(bc2) + eps; p -= (lr/bc1) * m / denom
    pi -= (lr / bc1) * mi / (sqrtf(vi) / sqrtf(bc2) + eps);
    p[i] = pi;
  }
}

// Block reduction of g² then one atomicAdd per block: 256 threads, grid capped at 1024 blocks so the
// atomics stay few.
__global__ void sumsq_kernel(float *out, const float *g, int64_t n) {
  float s = 0.0f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    s += g[i] * g[i];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffff, s, o);
  __shared__ float warp_sums[32];
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffff, s, o);
    if (threadIdx.x == 0) atomicAdd(out, s);
  }
}

extern "C" int st_adamw_update(st_ctx *ctx, float *p, const float *g, float *m, float *v, int64_t n, float lr,
                               float beta1, float beta2, float eps, float weight_decay, int t, float grad_scale) {
  const char *op = "st_adamw_update";
  ST_CTX(op);
  ST_CHECK(op, p && g && m && v && n >= 0, "bad arguments");
  ST_CHECK(op, t >= 1, "step t must be >= 1, got %d", t);
  if (n == 0) return ST_OK;
  float bc1 = (float)(1.0 - pow((double)beta1, t)), bc2 = (float)(1.0 - pow((double)beta2, t));
  int64_t gb = ceil_div(n, 256);
  adamw_kernel<<<(int)(gb > 65535 ? 65535 : gb), 256, 0, ctx->stream>>>(p, g, m, v, n, lr, beta1, beta2, eps,
                                                                        weight_decay, bc1, bc2, grad_scale);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_sumsq(st_ctx *ctx, float *out, const float *g, int64_t n) {
  const char *op = "st_sumsq";
  ST_CTX(op);
  ST_CHECK(op, out && g && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  int64_t gb = ceil_div(n, 256);
  sumsq_kernel<<<(int)(gb > 1024 ? 1024 : gb), 256, 0, ctx->stream>>>(out, g, n);
  ST_LAUNCHED(op);
  return ST_OK;
}
