// Residual add and fill: elementwise, memory-bound; one element per thread, grid-stride, <= 65535 blocks.
#include "common.cuh"

__global__ void add_kernel(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = a[i] + b[i];
}
__global__ void fill_kernel(float *out, float value, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = value;
}
static unsigned grid1(int64_t n) { int64_t g = ceil_div(n, 256); return (unsigned)(g < 1 ? 1 : g > 65535 ? 65535 : g); }

extern "C" int st_add(st_ctx *ctx, float *out, const float *a, const float *b, int64_t n) {
  const char *op = "st_add";
  ST_CTX(op);
  ST_CHECK(op, out && a && b && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  add_kernel<<<grid1(n), 256, 0, ctx->stream>>>(out, a, b, n);
  ST_LAUNCHED(op);
  return ST_OK;
}
extern "C" int st_fill(st_ctx *ctx, float *out, float value, int64_t n) {
  const char *op = "st_fill";
  ST_CTX(op);
  ST_CHECK(op, out && n >= 0, "bad arguments");
  if (n == 0) return ST_OK;
  fill_kernel<<<grid1(n), 256, 0, ctx->stream>>>(out, value, n);
  ST_LAUNCHED(op);
  return ST_OK;
}
