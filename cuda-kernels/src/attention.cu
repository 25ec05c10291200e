// Causal grouped-query attention, forward and backward, fp32, flash-attention style: scores are made one
// 32-key tile at a time in registers and folded into an online softmax (running max m, running sum l),
// so no T×T matrix ever exists in memory; the backward recomputes the probabilities from the saved
// log-sum-exp.
//
// Geometry (all three kernels): a block of 8 warps owns one (batch, head) and a slab of rows; each warp
// owns RW rows, each lane one key (score phase) or the elements d = lane + 32*t (accumulate phase).
// K/V (or Q/dO) tiles of 32 rows live in shared memory, rows padded by one float so that lanes reading
// "their" row at the same d hit 32 different banks. RW shrinks for D = 96/128 so shared memory stays under
// the 48 KB static limit.
#include "common.cuh"
#include "reduce.cuh"

#define WARPS 8
#define KT 32  // keys (or queries) per tile = one per lane

__device__ __forceinline__ int64_t qkv_index(int b, int t, int h, int H, int T, int D) {
  return (((int64_t)b * T + t) * H + h) * D;
}

// ---------------------------------------------------------------------------------------------------
// forward: grid (ceil(T / (WARPS*RW)), Hq, B)
template <int D, int RW>
__global__ void attention_forward_kernel(float *out, float *lse, const float *q, const float *k, const float *v,
                                         const int32_t *key_mask, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
                                         float scale) {
  constexpr int NT = D / 32, BQ = WARPS * RW;
  __shared__ float Ks[KT][D + 1];
  __shared__ float Vs[KT][D];
  __shared__ float Qs[BQ][D];
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int q0 = blockIdx.x * BQ;
  for (int i = threadIdx.x; i < BQ * D; i += blockDim.x) {
    int r = i / D, d = i % D, t = q0 + r;
    Qs[r][d] = t < T ? q[qkv_index(b, t, h, Hq, T, D) + d] : 0.0f;
  }
  float m[RW], l[RW], acc[RW][NT];
#pragma unroll
  for (int r = 0; r < RW; r++) {
    m[r] = -INFINITY; l[r] = 0.0f;
#pragma unroll
    for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
  }
  int slot_last = min(q_start + min(q0 + BQ, T) - 1, Tk - 1);  // last key slot any row of the block sees
  for (int k0 = 0; k0 <= slot_last; k0 += KT) {
    __syncthreads();  // previous tile fully consumed (and Qs written, first time)
    for (int i = threadIdx.x; i < KT * D; i += blockDim.x) {
      int j = i / D, d = i % D, t = k0 + j;
      bool ok = t < Tk;
      Ks[j][d] = ok ? k[qkv_index(b, t, hk, Hkv, cap, D) + d] : 0.0f;
      Vs[j][d] = ok ? v[qkv_index(b, t, hk, Hkv, cap, D) + d] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < RW; r++) {
      int row = warp * RW + r, tq = q0 + row, slot = q_start + tq;
      if (tq >= T || k0 > slot) continue;  // warp-uniform
      int kj = k0 + lane;
      bool valid = kj <= slot && kj < Tk && (key_mask == nullptr || key_mask[(int64_t)b * cap + kj] != 0);
      float s = 0.0f;
#pragma unroll 8
      for (int d = 0; d < D; d++) s += Qs[row][d] * Ks[lane][d];
      s = valid ? s * scale : -INFINITY;
      float mnew = fmaxf(m[r], warp_max(s));
      if (mnew == -INFINITY) continue;  // every key so far masked (padding): nothing to add yet
      float p = expf(s - mnew);
      float corr = expf(m[r] - mnew);
      l[r] = l[r] * corr + warp_sum(p);
      m[r] = mnew;
#pragma unroll
      for (int t = 0; t < NT; t++) acc[r][t] *= corr;
      for (int j = 0; j < KT; j++) {
        float pj = __shfl_sync(0xffffffff, p, j);
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] += pj * Vs[j][lane + 32 * t];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < RW; r++) {
    int tq = q0 + warp * RW + r;
    if (tq >= T) continue;
    float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // a query that sees no key gets zeros and lse = -inf
#pragma unroll
    for (int t = 0; t < NT; t++) out[qkv_index(b, tq, h, Hq, T, D) + lane + 32 * t] = acc[r][t] * inv;
    if (lane == 0) lse[((int64_t)b * T + tq) * Hq + h] = l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
  }
}

// ---------------------------------------------------------------------------------------------------
// backward 1: delta[b,h,t] = sum_d dout·out (one warp per row; 8 rows per block)
__global__ void attention_delta_kernel(float *delta, const float *dout, const float *out, int B, int T, int Hq, int D) {
  int64_t row = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);  // row = (b*T + t)*Hq + h
  if (row >= (int64_t)B * T * Hq) return;
  int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (int d = lane; d < D; d += 32) s += dout[row * D + d] * out[row * D + d];
  s = warp_sum(s);
  if (lane == 0) delta[row] = s;  // [B,T,Hq], like lse
}

// backward 2: dq. Same geometry as the forward. p = exp(s - lse), ds = p * (dO·v - delta), dq = scale*sum ds*k
template <int D, int RW>
__global__ void attention_dq_kernel(float *dq, const float *dout, const float *q, const float *k, const float *v,
                                    const float *lse, const float *delta, const int32_t *key_mask, int T, int Hq, int Hkv,
                                    float scale) {
  constexpr int NT = D / 32, BQ = WARPS * RW;
  __shared__ float Ks[KT][D + 1];
  __shared__ float Vs[KT][D + 1];
  __shared__ float Qs[BQ][D];
  __shared__ float dOs[BQ][D];
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int q0 = blockIdx.x * BQ;
  for (int i = threadIdx.x; i < BQ * D; i += blockDim.x) {
    int r = i / D, d = i % D, t = q0 + r;
    Qs[r][d] = t < T ? q[qkv_index(b, t, h, Hq, T, D) + d] : 0.0f;
    dOs[r][d] = t < T ? dout[qkv_index(b, t, h, Hq, T, D) + d] : 0.0f;
  }
  float acc[RW][NT], L[RW], Dl[RW];
#pragma unroll
  for (int r = 0; r < RW; r++) {
    int tq = q0 + warp * RW + r;
    L[r] = tq < T ? lse[((int64_t)b * T + tq) * Hq + h] : 0.0f;
    Dl[r] = tq < T ? delta[((int64_t)b * T + tq) * Hq + h] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
  }
  int qlast = min(q0 + BQ, T) - 1;
  for (int k0 = 0; k0 <= qlast; k0 += KT) {
    __syncthreads();
    for (int i = threadIdx.x; i < KT * D; i += blockDim.x) {
      int j = i / D, d = i % D, t = k0 + j;
      bool ok = t < T;
      Ks[j][d] = ok ? k[qkv_index(b, t, hk, Hkv, T, D) + d] : 0.0f;
      Vs[j][d] = ok ? v[qkv_index(b, t, hk, Hkv, T, D) + d] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < RW; r++) {
      int row = warp * RW + r, tq = q0 + row;
      if (tq >= T || k0 > tq) continue;
      int kj = k0 + lane;
      float s = 0.0f, dp = 0.0f;
#pragma unroll 8
      for (int d = 0; d < D; d++) {
        s += Qs[row][d] * Ks[lane][d];
        dp += dOs[row][d] * Vs[lane][d];
      }
      bool valid = kj <= tq && L[r] != -INFINITY && (key_mask == nullptr || key_mask[(int64_t)b * T + kj] != 0);
      float p = valid ? expf(s * scale - L[r]) : 0.0f;
      float ds = p * (dp - Dl[r]) * scale;
      for (int j = 0; j < KT; j++) {
        float dsj = __shfl_sync(0xffffffff, ds, j);
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] += dsj * Ks[j][lane + 32 * t];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < RW; r++) {
    int tq = q0 + warp * RW + r;
    if (tq >= T) continue;
#pragma unroll
    for (int t = 0; t < NT; t++) dq[qkv_index(b, tq, h, Hq, T, D) + lane + 32 * t] = acc[r][t];
  }
}

// backward 3: dk, dv. grid (ceil(T / (WARPS*RW)), Hkv, B): a block owns key rows of one KV head and loops
// over the G query heads sharing it and over the query tiles at or after its first key, so each dk/dv
// row is summed by one warp: no atomics, deterministic.
template <int D, int RW>
__global__ void attention_dkv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                                     const float *v, const float *lse, const float *delta, const int32_t *key_mask,
                                     int T, int Hq, int Hkv, float scale) {
  constexpr int NT = D / 32, BK = WARPS * RW;
  __shared__ float Qs[KT][D + 1];
  __shared__ float dOs[KT][D + 1];
  __shared__ float Ks[BK][D];
  __shared__ float Vs[BK][D];
  __shared__ float Ls[KT], Ds[KT];
  int b = blockIdx.z, hk = blockIdx.y, G = Hq / Hkv;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int j0 = blockIdx.x * BK;
  for (int i = threadIdx.x; i < BK * D; i += blockDim.x) {
    int r = i / D, d = i % D, t = j0 + r;
    Ks[r][d] = t < T ? k[qkv_index(b, t, hk, Hkv, T, D) + d] : 0.0f;
    Vs[r][d] = t < T ? v[qkv_index(b, t, hk, Hkv, T, D) + d] : 0.0f;
  }
  float adk[RW][NT], adv[RW][NT];
#pragma unroll
  for (int r = 0; r < RW; r++)
#pragma unroll
    for (int t = 0; t < NT; t++) adk[r][t] = adv[r][t] = 0.0f;
  int qfirst = (j0 / KT) * KT;  // first query tile that can see key j0
  for (int g = 0; g < G; g++) {
    int h = hk * G + g;
    for (int i0 = qfirst; i0 < T; i0 += KT) {
      __syncthreads();
      for (int i = threadIdx.x; i < KT * D; i += blockDim.x) {
        int r = i / D, d = i % D, t = i0 + r;
        Qs[r][d] = t < T ? q[qkv_index(b, t, h, Hq, T, D) + d] : 0.0f;
        dOs[r][d] = t < T ? dout[qkv_index(b, t, h, Hq, T, D) + d] : 0.0f;
      }
      if (threadIdx.x < KT) {
        int t = i0 + threadIdx.x;
        Ls[threadIdx.x] = t < T ? lse[((int64_t)b * T + t) * Hq + h] : -INFINITY;
        Ds[threadIdx.x] = t < T ? delta[((int64_t)b * T + t) * Hq + h] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < RW; r++) {
        int row = warp * RW + r, tj = j0 + row;
        if (tj >= T || i0 + KT - 1 < tj) continue;  // whole tile before this key: all masked
        if (key_mask != nullptr && key_mask[(int64_t)b * T + tj] == 0) continue;  // padding key: dk = dv = 0
        int ti = i0 + lane;
        float s = 0.0f, dp = 0.0f;
#pragma unroll 8
        for (int d = 0; d < D; d++) {
          s += Qs[lane][d] * Ks[row][d];
          dp += dOs[lane][d] * Vs[row][d];
        }
        float p = (ti >= tj && ti < T && Ls[lane] != -INFINITY) ? expf(s * scale - Ls[lane]) : 0.0f;
        float ds = p * (dp - Ds[lane]) * scale;
        for (int i = 0; i < KT; i++) {
          float pi = __shfl_sync(0xffffffff, p, i);
          float dsi = __shfl_sync(0xffffffff, ds, i);
#pragma unroll
          for (int t = 0; t < NT; t++) {
            adv[r][t] += pi * dOs[i][lane + 32 * t];
            adk[r][t] += dsi * Qs[i][lane + 32 * t];
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < RW; r++) {
    int tj = j0 + warp * RW + r;
    if (tj >= T) continue;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      dk[qkv_index(b, tj, hk, Hkv, T, D) + lane + 32 * t] = adk[r][t];
      dv[qkv_index(b, tj, hk, Hkv, T, D) + lane + 32 * t] = adv[r][t];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
static int check_shapes(const char *op, int B, int T, int Hq, int Hkv, int D) {
  ST_CHECK(op, B > 0 && T > 0 && Hq > 0 && Hkv > 0, "bad shape B=%d T=%d Hq=%d Hkv=%d", B, T, Hq, Hkv);
  ST_CHECK(op, Hq % Hkv == 0, "Hq=%d is not a multiple of Hkv=%d", Hq, Hkv);
  ST_CHECK(op, D == 32 || D == 64 || D == 96 || D == 128, "head dim %d not in {32,64,96,128}", D);
  ST_CHECK(op, Hq <= 65535 && B <= 65535, "too many heads or batch rows for the grid");
  return ST_OK;
}

template <int D, int RWF, int RWB, int RWKV>
static void launch_fwd(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                       const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv, float scale) {
  dim3 grid((unsigned)ceil_div(T, WARPS * RWF), Hq, B);
  attention_forward_kernel<D, RWF><<<grid, WARPS * 32, 0, ctx->stream>>>(out, lse, q, k, v, key_mask, T, Tk, cap, q_start,
                                                                         Hq, Hkv, scale);
}

template <int D, int RWF, int RWB, int RWKV>
static void launch_bwd(st_ctx *ctx, float *dq, float *dk, float *dv, const float *delta, const float *dout,
                       const float *q, const float *k, const float *v, const float *lse, const int32_t *key_mask, int B,
                       int T, int Hq, int Hkv, float scale) {
  dim3 g1((unsigned)ceil_div(T, WARPS * RWB), Hq, B);
  attention_dq_kernel<D, RWB><<<g1, WARPS * 32, 0, ctx->stream>>>(dq, dout, q, k, v, lse, delta, key_mask, T, Hq,
                                                                   Hkv, scale);
  dim3 g2((unsigned)ceil_div(T, WARPS * RWKV), Hkv, B);
  attention_dkv_kernel<D, RWKV><<<g2, WARPS * 32, 0, ctx->stream>>>(dk, dv, dout, q, k, v, lse, delta, key_mask, T,
                                                                     Hq, Hkv, scale);
}

#define ATTN_DISPATCH(FN, ...)                                   \
  switch (D) {                                                   \
    case 32: FN<32, 4, 2, 2>(__VA_ARGS__); break;                \
    case 64: FN<64, 4, 2, 2>(__VA_ARGS__); break;                \
    case 96: FN<96, 2, 1, 1>(__VA_ARGS__); break;                \
    default: FN<128, 2, 1, 1>(__VA_ARGS__); break;               \
  }

extern "C" int st_attention_forward(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                                    const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
                                    int D, float scale) {
  const char *op = "st_attention_forward";
  ST_CTX(op);
  ST_CHECK(op, out && lse && q && k && v, "NULL buffer");
  int rc = check_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  ST_CHECK(op, q_start >= 0 && q_start + T <= Tk && Tk <= cap, "need 0 <= q_start, q_start+T <= Tk <= cap (q_start=%d T=%d Tk=%d cap=%d)",
           q_start, T, Tk, cap);
  ATTN_DISPATCH(launch_fwd, ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, scale);
  ST_LAUNCHED(op);
  return ST_OK;
}

extern "C" int st_attention_backward(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                                     const float *out, const float *q, const float *k, const float *v, const float *lse,
                                     const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale) {
  const char *op = "st_attention_backward";
  ST_CTX(op);
  ST_CHECK(op, dq && dk && dv && delta && dout && out && q && k && v && lse, "NULL buffer");
  int rc = check_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  int64_t rows = (int64_t)B * T * Hq;
  attention_delta_kernel<<<(unsigned)ceil_div(rows, WARPS), WARPS * 32, 0, ctx->stream>>>(delta, dout, out, B, T, Hq, D);
  ST_LAUNCHED(op);
  ATTN_DISPATCH(launch_bwd, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale);
  ST_LAUNCHED(op);
  return ST_OK;
}
