// dtype casts f32 <-> bf16. Memory-bound: each thread moves 4 elements (16-byte fp32 loads when aligned),
// grid-stride loop so one launch of ~4 waves covers any n.
#include "common.cuh"

__global__ void cast_f32_to_bf16_kernel(__nv_bfloat16 *out, const float *in, int64_t n) {
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * 4; i < n; i += (int64_t)gridDim.x * blockDim.x * 4) {
    if (i + 4 <= n && ((uintptr_t)(in + i) & 15) == 0) {
      float4 f = *reinterpret_cast<const float4 *>(in + i);
      out[i] = __float2bfloat16_rn(f.x); out[i + 1] = __float2bfloat16_rn(f.y);
      out[i + 2] = __float2bfloat16_rn(f.z); out[i + 3] = __float2bfloat16_rn(f.w);
    } else {
      for (int64_t j = i; j < n && j < i + 4; j++) out[j] = __float2bfloat16_rn(in[j]);
    }
  }
}

__global__ void cast_bf16_to_f32_kernel(float *out, const __nv_bfloat16 *in, int64_t n) {
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * 4; i < n; i += (int64_t)gridDim.x * blockDim.x * 4) {
    for (int64_t j = i; j < n && j < i + 4; j++) out[j] = __bfloat162float(in[j]);
  }
}

static int grid_for(int64_t n) {
  int64_t g = ceil_div(ceil_div(n, 4), 256);
  return (int)(g < 1 ? 1 : (g > 65535 ? 65535 : g));
}

extern "C" int st_cast_f32_to_bf16(st_ctx *ctx, uint16_t *out, const float *in, int64_t n) {
  const char *op = "st_cast_f32_to_bf16";
  ST_CTX(op);
  ST_CHECK(op, n >= 0 && out && in, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, (const void *)out != (const void *)in, "out must not alias in (the kernel's threads would race)");
  if (n == 0) return ST_OK;
  cast_f32_to_bf16_kernel<<<grid_for(n), 256, 0, ctx->stream>>>((__nv_bfloat16 *)out, in, n);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_cast_bf16_to_f32(st_ctx *ctx, float *out, const uint16_t *in, int64_t n) {
  const char *op = "st_cast_bf16_to_f32";
  ST_CTX(op);
  ST_CHECK(op, n >= 0 && out && in, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, (const void *)out != (const void *)in, "out must not alias in (the kernel's threads would race)");
  if (n == 0) return ST_OK;
  cast_bf16_to_f32_kernel<<<grid_for(n), 256, 0, ctx->stream>>>(out, (const __nv_bfloat16 *)in, n);
  ST_LAUNCHED(op);
  return ST_OK;
}
