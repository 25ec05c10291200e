// Inverted dropout (LoRA dropout) with the counter-based mask of core's DropoutMask: element i is dropped when the
// i-th nextDouble() of Java's SplittableRandom(seed) (SplitMix64, a pure function of (seed, i)) is below p, kept
// times 1/(1-p) otherwise; so the GPU drops exactly the elements the CPU backend drops, and the backward re-applies
// the mask from the seed instead of storing it. Elementwise and memory-bound: a grid-stride loop, 256 threads.
// Its backward is itself (the same mask on the gradient).
#include "common.cuh"

// the bits of Java's (z >>> 11) * 0x1.0p-53 for z = mix64(seed + (i + 1) * GOLDEN_GAMMA): exact in double
__device__ __forceinline__ double splitmix_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

__global__ void dropout_kernel(float *out, const float *in, int64_t n, uint64_t seed, double p, float keep) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = in[i] * (splitmix_uniform(seed, (uint64_t)i) < p ? 0.0f : keep);
}

extern "C" int st_dropout(st_ctx *ctx, float *out, const float *in, int64_t n, uint64_t seed, float p) {
  const char *op = "st_dropout";
  ST_CTX(op);
  ST_CHECK(op, out && in && n >= 0, "bad arguments (n=%lld)", (long long)n);
  ST_CHECK(op, p >= 0.0f && p < 1.0f, "dropout probability %g not in [0, 1)", (double)p);
  if (n == 0) return ST_OK;
  int64_t g = ceil_div(n, 256);
  float keep = 1.0f / (1.0f - p);  // fp32, as DropoutMask.keep
  dropout_kernel<<<(unsigned)(g > 65535 ? 65535 : g), 256, 0, ctx->stream>>>(out, in, n, seed, (double)p, keep);
  ST_LAUNCHED(op);
  return ST_OK;
}
