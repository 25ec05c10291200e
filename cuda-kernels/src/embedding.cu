// Token embedding lookup and its backward (scatter-add). Forward: one block per token row, threads stride
// over C (coalesced row copy; GGUF Q8_0/Q4_1 tables expanded 8 weights at a time). Backward: same geometry,
// atomicAdd into the fp32 table gradient because repeated tokens hit the same row.
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
  } else if (wtype == ST_W_Q8_0 || wtype == ST_W_Q4_1) {
    // GGUF blocks (C a multiple of 32): 8 weights per thread and step, as the matmul tiles expand them
    for (int c = threadIdx.x * 8; c < C; c += blockDim.x * 8) {
      float v[8];
      load8(v, table, wtype, C, id, c);
#pragma unroll
      for (int i = 0; i < 8; i++) o[c + i] = v[i];
    }
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
  ST_CHECK(op, wtype >= ST_W_F32 && wtype <= ST_W_Q4_1, "unknown table type %d", wtype);
  ST_CHECK(op, wtype < ST_W_Q8_0 || C % 32 == 0, "a Q8_0/Q4_1 table needs C %% 32 == 0, got C=%d", C);
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
