// Rotary position embedding, Hugging Face "rotate_half" layout: pairs (i, i+D/2) of each head are rotated
// by pos * inv_freq_i, inv_freq_i = 1/theta^(2i/D) computed in fp32 as HF does. Grid: one block per token
// (N blocks), threads over H*D/2 pairs; each thread reads and writes its own pair, so in place is safe.
#include "common.cuh"

template <int SIGN>  // +1 forward rotation, -1 inverse (backward)
__global__ void rope_kernel(float *out, const float *in, const int32_t *pos, int H, int D, float theta) {
  int n = blockIdx.x;
  int half = D / 2;
  float p = (float)pos[n];
  for (int j = threadIdx.x; j < H * half; j += blockDim.x) {
    int h = j / half, i = j % half;
    float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)D);
    float s, c;
    sincosf(p * inv_freq, &s, &c);
    s *= SIGN;
    int64_t base = ((int64_t)n * H + h) * D;
    float a = in[base + i], b = in[base + i + half];
    out[base + i] = a * c - b * s;
    out[base + i + half] = b * c + a * s;
  }
}

static int rope_launch(const char *op, st_ctx *ctx, bool fwd, float *out, const float *in, const int32_t *pos, int N,
                       int H, int D, float theta) {
  ST_CTX(op);
  ST_CHECK(op, out && in && pos && N >= 0 && H > 0 && D > 0 && D % 2 == 0, "bad arguments N=%d H=%d D=%d", N, H, D);
  if (N == 0) return ST_OK;
  int threads = H * D / 2 < 256 ? ((H * D / 2 + 31) / 32) * 32 : 256;
  if (fwd) rope_kernel<1><<<N, threads, 0, ctx->stream>>>(out, in, pos, H, D, theta);
  else rope_kernel<-1><<<N, threads, 0, ctx->stream>>>(out, in, pos, H, D, theta);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rope_forward(st_ctx *ctx, float *out, const float *in, const int32_t *pos, int N, int H, int D,
                               float theta) {
  return rope_launch("st_rope_forward", ctx, true, out, in, pos, N, H, D, theta);
}

// The rotation is orthogonal, so the gradient is the inverse rotation of dout.
extern "C" int st_rope_backward(st_ctx *ctx, float *din, const float *dout, const int32_t *pos, int N, int H, int D,
                                float theta) {
  return rope_launch("st_rope_backward", ctx, false, din, dout, pos, N, H, D, theta);
}
