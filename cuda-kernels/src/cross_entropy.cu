// Cross-entropy fused with softmax and the response mask. One block of 512 threads per row: vocabularies
// are 32k-128k, so a row is ~100-500 KB and a block streams it with an online (max, sum) pair per thread,
// merged across the block; the backward pass re-reads the row once and writes dlogits in place.
#include "common.cuh"
#include "reduce.cuh"

__device__ __forceinline__ bool counted(const int32_t *targets, const uint8_t *mask, int n, int V) {
  int t = targets[n];
  return t >= 0 && t < V && (mask == nullptr || mask[n] != 0);
}

__global__ void cross_entropy_forward_kernel(float *losses, float *lse, const float *logits, const int32_t *targets,
                                             const uint8_t *mask, int V) {
  int n = blockIdx.x;
  const float *row = logits + (int64_t)n * V;
  float m = -INFINITY, s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float x = row[i];
    if (x > m) { s = s * expf(m - x) + 1.0f; m = x; } else { s += expf(x - m); }
  }
  float M = block_max(m);
  float S = block_sum(m == -INFINITY ? 0.0f : s * expf(m - M));
  float l = M + logf(S);
  if (threadIdx.x == 0) {
    lse[n] = l;
    losses[n] = counted(targets, mask, n, V) ? l - row[targets[n]] : 0.0f;
  }
}

// dlb (may be NULL): the bf16 copy of dlogits, the input of the head's frozen backward GEMM
__global__ void cross_entropy_backward_kernel(float *dlogits, __nv_bfloat16 *dlb, const float *logits, const float *lse,
                                              const int32_t *targets, const uint8_t *mask, float grad_scale, int V) {
  int n = blockIdx.x;
  const float *row = logits + (int64_t)n * V;
  float *drow = dlogits + (int64_t)n * V;
  bool c = counted(targets, mask, n, V);
  int t = targets[n];
  float l = lse[n];
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float g = c ? (expf(row[i] - l) - (i == t ? 1.0f : 0.0f)) * grad_scale : 0.0f;
    drow[i] = g;
    if (dlb) dlb[(int64_t)n * V + i] = __float2bfloat16_rn(g);
  }
}

extern "C" int st_cross_entropy_forward(st_ctx *ctx, float *losses, float *lse, const float *logits,
                                        const int32_t *targets, const uint8_t *mask, int N, int V) {
  const char *op = "st_cross_entropy_forward";
  ST_CTX(op);
  ST_CHECK(op, losses && lse && logits && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  if (N == 0) return ST_OK;
  cross_entropy_forward_kernel<<<N, 512, 0, ctx->stream>>>(losses, lse, logits, targets, mask, V);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_cross_entropy_backward(st_ctx *ctx, float *dlogits, const float *logits, const float *lse,
                                         const int32_t *targets, const uint8_t *mask, float grad_scale, int N, int V) {
  const char *op = "st_cross_entropy_backward";
  ST_CTX(op);
  ST_CHECK(op, dlogits && logits && lse && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  if (N == 0) return ST_OK;
  cross_entropy_backward_kernel<<<N, 512, 0, ctx->stream>>>(dlogits, nullptr, logits, lse, targets, mask, grad_scale,
                                                             V);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_cross_entropy_backward_bf16(st_ctx *ctx, float *dlogits, uint16_t *dlb, const float *logits,
                                              const float *lse, const int32_t *targets, const uint8_t *mask,
                                              float grad_scale, int N, int V) {
  const char *op = "st_cross_entropy_backward_bf16";
  ST_CTX(op);
  ST_CHECK(op, dlogits && dlb && logits && lse && targets && N >= 0 && V > 0, "bad arguments N=%d V=%d", N, V);
  if (N == 0) return ST_OK;
  cross_entropy_backward_kernel<<<N, 512, 0, ctx->stream>>>(dlogits, (__nv_bfloat16 *)dlb, logits, lse, targets, mask,
                                                             grad_scale, V);
  ST_LAUNCHED(op);
  return ST_OK;
}
