// Row softmax and log-sum-exp. One block of 512 threads per row (rows are vocabularies, 32k-128k wide):
// each thread keeps an online (max, sum) pair over its strided elements, merged across the block.
#include "common.cuh"
#include "reduce.cuh"

__device__ float row_lse(const float *row, int V) {
  float m = -INFINITY, s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float x = row[i];
    if (x > m) { s = s * expf(m - x) + 1.0f; m = x; } else { s += expf(x - m); }
  }
  float M = block_max(m);
  if (M == -INFINITY) return -INFINITY;
  float S = block_sum(m == -INFINITY ? 0.0f : s * expf(m - M));
  return M + logf(S);
}

__global__ void softmax_kernel(float *out, const float *x, int V) {
  const float *row = x + (int64_t)blockIdx.x * V;
  float *o = out + (int64_t)blockIdx.x * V;
  float l = row_lse(row, V);
  __syncthreads();  // every thread has read the row before an in-place write
  for (int i = threadIdx.x; i < V; i += blockDim.x) o[i] = expf(row[i] - l);
}

__global__ void logsumexp_kernel(float *out, const float *x, int V) {
  float l = row_lse(x + (int64_t)blockIdx.x * V, V);
  if (threadIdx.x == 0) out[blockIdx.x] = l;
}

extern "C" int st_softmax_forward(st_ctx *ctx, float *out, const float *x, int N, int V) {
  const char *op = "st_softmax_forward";
  ST_CTX(op);
  ST_CHECK(op, out && x && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  if (N == 0) return ST_OK;
  softmax_kernel<<<N, 512, 0, ctx->stream>>>(out, x, V);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_logsumexp(st_ctx *ctx, float *out, const float *x, int N, int V) {
  const char *op = "st_logsumexp";
  ST_CTX(op);
  ST_CHECK(op, out && x && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  if (N == 0) return ST_OK;
  logsumexp_kernel<<<N, 512, 0, ctx->stream>>>(out, x, V);
  ST_LAUNCHED(op);
  return ST_OK;
}
