// AdamW as torch.optim.AdamW (decoupled decay: p <- p - lr*wd*p, then the bias-corrected Adam step) and a
// sum-of-squares reduction for the global gradient norm. Elementwise: one parameter per thread.
#include "common.cuh"

// p, m, v over n elements, one grid-stride sweep (torch: denom = sqrt(v)/sqrt(bc2) + eps; p -= (lr/bc1)·m/denom)
__device__ __forceinline__ void adamw_sweep(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1,
                                            float b2, float eps, float wd, float bc1, float bc2, float grad_scale) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float gi = g[i] * grad_scale;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float pi = p[i] * (1.0f - lr * wd);
    pi -= (lr / bc1) * mi / (sqrtf(vi) / sqrtf(bc2) + eps);
    p[i] = pi;
  }
}

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                             float eps, float wd, float bc1, float bc2, float grad_scale) {
  adamw_sweep(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2, grad_scale);
}

// This block's share of Σ g² over n elements, reduced in the block, then one atomicAdd into *out (every thread
// of the block must call it: it has a barrier).
__device__ __forceinline__ void sumsq_block(float *out, const float *g, int64_t n) {
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

// 256 threads, grid capped at 1024 blocks so the atomics stay few.
__global__ void sumsq_kernel(float *out, const float *g, int64_t n) {
  sumsq_block(out, g, n);
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

// ---- multi-tensor forms: one launch for a whole list of tensors (a LoRA model has 2 per adapted linear, a few
// hundred in all, and one launch each costs more than the work). The list is a device table of int64 words:
// per tensor {p, g, m, v, n} for AdamW, {p, n} for fill and the sums of squares. gridDim.y walks the tensors,
// gridDim.x × blockDim.x the elements of the largest; blocks past a tensor's end return at once.
__global__ void adamw_multi_kernel(const int64_t *table, float lr, float b1, float b2, float eps, float wd, float bc1,
                                   float bc2, float grad_scale) {
  const int64_t *e = table + 5 * (int64_t)blockIdx.y;
  adamw_sweep((float *)e[0], (const float *)e[1], (float *)e[2], (float *)e[3], e[4], lr, b1, b2, eps, wd, bc1, bc2,
              grad_scale);
}

__global__ void fill_multi_kernel(const int64_t *table, float value) {
  float *p = (float *)table[2 * (int64_t)blockIdx.y];
  int64_t n = table[2 * (int64_t)blockIdx.y + 1];
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    p[i] = value;
}

// out[y] += Σ x² over tensor y (zero out first): a block's partial sum, one atomicAdd per block
__global__ void sumsq_multi_kernel(float *out, const int64_t *table) {
  int64_t n = table[2 * (int64_t)blockIdx.y + 1];
  if ((int64_t)blockIdx.x * blockDim.x >= n) return;  // block-uniform: no barrier below is skipped by half a block
  sumsq_block(out + blockIdx.y, (const float *)table[2 * (int64_t)blockIdx.y], n);
}

static int multi_grid(const char *op, int count, int64_t max_n, dim3 *grid, int64_t cap) {
  ST_CHECK(op, count >= 0 && count <= 65535 && max_n >= 0, "bad list: %d tensors, largest %lld", count, (long long)max_n);
  int64_t gx = ceil_div(max_n, 256);
  *grid = dim3((unsigned)(gx < 1 ? 1 : gx > cap ? cap : gx), (unsigned)count);
  return ST_OK;
}

extern "C" int st_adamw_update_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float lr, float beta1,
                                     float beta2, float eps, float weight_decay, int t, float grad_scale) {
  const char *op = "st_adamw_update_multi";
  ST_CTX(op);
  ST_CHECK(op, table != nullptr || count == 0, "NULL table");
  ST_CHECK(op, t >= 1, "step t must be >= 1, got %d", t);
  dim3 grid;
  int rc = multi_grid(op, count, max_n, &grid, 1024);
  if (rc || count == 0) return rc;
  float bc1 = (float)(1.0 - pow((double)beta1, t)), bc2 = (float)(1.0 - pow((double)beta2, t));
  adamw_multi_kernel<<<grid, 256, 0, ctx->stream>>>(table, lr, beta1, beta2, eps, weight_decay, bc1, bc2, grad_scale);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_fill_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float value) {
  const char *op = "st_fill_multi";
  ST_CTX(op);
  ST_CHECK(op, table != nullptr || count == 0, "NULL table");
  dim3 grid;
  int rc = multi_grid(op, count, max_n, &grid, 1024);
  if (rc || count == 0) return rc;
  fill_multi_kernel<<<grid, 256, 0, ctx->stream>>>(table, value);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_sumsq_multi(st_ctx *ctx, float *out, const int64_t *table, int count, int64_t max_n) {
  const char *op = "st_sumsq_multi";
  ST_CTX(op);
  ST_CHECK(op, out != nullptr && (table != nullptr || count == 0), "NULL buffer");
  dim3 grid;
  int rc = multi_grid(op, count, max_n, &grid, 256);
  if (rc || count == 0) return rc;
  sumsq_multi_kernel<<<grid, 256, 0, ctx->stream>>>(out, table);
  ST_LAUNCHED(op);
  return ST_OK;
}
