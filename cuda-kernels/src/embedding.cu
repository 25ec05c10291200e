// Token embedding lookup and its backward (scatter-add). Forward: one block per token row, threads stride
// over C (coalesced row copy). Backward: same geometry, atomicAdd into the fp32 table gradient because
// repeated tokens hit the same row.
#include "common.cuh"

__global__ void embedding_forward_kernel(float *out, const int32_t *ids, const void *table, int wtype, int V, int C) {
  int n = blockIdx.x;
  int id = ids[n];
  float *o = out + (int64_t)n * C;
  if (id < 0 || id >= V) {  // make a bad id visible instead of reading out of bounds
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = __int_as_float(0x7fc00000);
    return;
  }
  if (wtype == ST_W_BF16) {
    const __nv_bfloat16 *t = (const __nv_bfloat16 *)table + (int64_t)id * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = __bfloat162float(t[c]);
  } else {
    const float *t = (const float *)table + (int64_t)id * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = t[c];
  }
}

__global__ void embedding_backward_kernel(float *dtable, const float *dout, const int32_t *ids, int V, int C) {
  int n = blockIdx.x;
  int id = ids[n];
  if (id < 0 || id >= V) return;
  const float *d = dout + (int64_t)n * C;
  float *t = dtable + (int64_t)id * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(t + c, d[c]);
}

extern "C" int st_embedding_forward(st_ctx *ctx, float *out, const int32_t *ids, const void *table, int wtype, int N,
                                    int V, int C) {
  const char *op = "st_embedding_forward";
  ST_CTX(op);
  ST_CHECK(op, out && ids && table && N >= 0 && V > 0 && C > 0, "bad arguments N=%d V=%d C=%d", N, V, C);
  ST_CHECK(op, wtype == ST_W_F32 || wtype == ST_W_BF16, "table type %d not f32/bf16", wtype);
  if (N == 0) return ST_OK;
  embedding_forward_kernel<<<N, 256, 0, ctx->stream>>>(out, ids, table, wtype, V, C);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_embedding_backward(st_ctx *ctx, float *dtable, const float *dout, const int32_t *ids, int N, int V,
                                     int C) {
  const char *op = "st_embedding_backward";
  ST_CTX(op);
  ST_CHECK(op, dtable && dout && ids && N >= 0 && V > 0 && C > 0, "bad arguments");
  if (N == 0) return ST_OK;
  embedding_backward_kernel<<<N, 256, 0, ctx->stream>>>(dtable, dout, ids, V, C);
  ST_LAUNCHED(op);
  return ST_OK;
}
