// Rotary position embedding, Hugging Face "rotate_half" layout: pairs (i, i+D/2) of each head are rotated
// by the fp32 angle pos * inv_freq[i]. The caller supplies inv_freq [D/2] (computed on the host exactly as
// the CPU backend and HF do, including any RoPE scaling), so both backends rotate by the same angles.
// Grid: one block per token (N blocks), threads over H*D/2 pairs; each thread reads and writes its own
// pair, so in place is safe.
#include "common.cuh"

template <int SIGN>  // +1 forward rotation, -1 inverse (backward)
__global__ void rope_kernel(float *out, const float *in, const int32_t *pos, const float *inv_freq, int H, int D) {
  int n = blockIdx.x;
  int half = D / 2;
  float p = (float)pos[n];
  for (int j = threadIdx.x; j < H * half; j += blockDim.x) {
    int h = j / half, i = j % half;
    float s, c;
    sincosf(p * inv_freq[i], &s, &c);
    s *= SIGN;
    int64_t base = ((int64_t)n * H + h) * D;
    float a = in[base + i], b = in[base + i + half];
    out[base + i] = a * c - b * s;
    out[base + i + half] = b * c + a * s;
  }
}

static int rope_launch(const char *op, st_ctx *ctx, bool fwd, float *out, const float *in, const int32_t *pos,
                       const float *inv_freq, int N, int H, int D) {
  ST_CTX(op);
  ST_CHECK(op, out && in && pos && inv_freq && N >= 0 && H > 0 && D > 0 && D % 2 == 0, "bad arguments N=%d H=%d D=%d", N, H, D);
  if (N == 0) return ST_OK;
  int threads = H * D / 2 < 256 ? ((H * D / 2 + 31) / 32) * 32 : 256;
  if (fwd) rope_kernel<1><<<N, threads, 0, ctx->stream>>>(out, in, pos, inv_freq, H, D);
  else rope_kernel<-1><<<N, threads, 0, ctx->stream>>>(out, in, pos, inv_freq, H, D);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_rope_forward(st_ctx *ctx, float *out, const float *in, const int32_t *pos, const float *inv_freq, int N,
                               int H, int D) {
  return rope_launch("st_rope_forward", ctx, true, out, in, pos, inv_freq, N, H, D);
}

// The rotation is orthogonal, so the gradient is the inverse rotation of dout.
extern "C" int st_rope_backward(st_ctx *ctx, float *din, const float *dout, const int32_t *pos, const float *inv_freq,
                                int N, int H, int D) {
  return rope_launch("st_rope_backward", ctx, false, din, dout, pos, inv_freq, N, H, D);
}
