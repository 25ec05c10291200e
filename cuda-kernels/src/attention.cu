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
                                         float scale, int Dr) {
  constexpr int NT = D / 32, BQ = WARPS * RW;
  __shared__ float Ks[KT][D + 1];
  __shared__ float Vs[KT][D];
  __shared__ float Qs[BQ][D];
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int q0 = blockIdx.x * BQ;
  for (int i = threadIdx.x; i < BQ * D; i += blockDim.x) {
    int r = i / D, d = i % D, t = q0 + r;
    Qs[r][d] = t < T && d < Dr ? q[qkv_index(b, t, h, Hq, T, Dr) + d] : 0.0f;
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
      bool ok = t < Tk && d < Dr;
      Ks[j][d] = ok ? k[qkv_index(b, t, hk, Hkv, cap, Dr) + d] : 0.0f;
      Vs[j][d] = ok ? v[qkv_index(b, t, hk, Hkv, cap, Dr) + d] : 0.0f;
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
    for (int t = 0; t < NT; t++)
      if (lane + 32 * t < Dr) out[qkv_index(b, tq, h, Hq, T, Dr) + lane + 32 * t] = acc[r][t] * inv;
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
                                    float scale, int Dr) {
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
    Qs[r][d] = t < T && d < Dr ? q[qkv_index(b, t, h, Hq, T, Dr) + d] : 0.0f;
    dOs[r][d] = t < T && d < Dr ? dout[qkv_index(b, t, h, Hq, T, Dr) + d] : 0.0f;
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
      bool ok = t < T && d < Dr;
      Ks[j][d] = ok ? k[qkv_index(b, t, hk, Hkv, T, Dr) + d] : 0.0f;
      Vs[j][d] = ok ? v[qkv_index(b, t, hk, Hkv, T, Dr) + d] : 0.0f;
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
    for (int t = 0; t < NT; t++)
      if (lane + 32 * t < Dr) dq[qkv_index(b, tq, h, Hq, T, Dr) + lane + 32 * t] = acc[r][t];
  }
}

// backward 3: dk, dv. grid (ceil(T / (WARPS*RW)), Hkv, B): a block owns key rows of one KV head and loops
// over the G query heads sharing it and over the query tiles at or after its first key, so each dk/dv
// row is summed by one warp: no atomics, deterministic.
template <int D, int RW>
__global__ void attention_dkv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                                     const float *v, const float *lse, const float *delta, const int32_t *key_mask,
                                     int T, int Hq, int Hkv, float scale, int Dr) {
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
    Ks[r][d] = t < T && d < Dr ? k[qkv_index(b, t, hk, Hkv, T, Dr) + d] : 0.0f;
    Vs[r][d] = t < T && d < Dr ? v[qkv_index(b, t, hk, Hkv, T, Dr) + d] : 0.0f;
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
        Qs[r][d] = t < T && d < Dr ? q[qkv_index(b, t, h, Hq, T, Dr) + d] : 0.0f;
        dOs[r][d] = t < T && d < Dr ? dout[qkv_index(b, t, h, Hq, T, Dr) + d] : 0.0f;
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
      if (lane + 32 * t >= Dr) continue;
      dk[qkv_index(b, tj, hk, Hkv, T, Dr) + lane + 32 * t] = adk[r][t];
      dv[qkv_index(b, tj, hk, Hkv, T, Dr) + lane + 32 * t] = adv[r][t];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
static int check_shapes(const char *op, int B, int T, int Hq, int Hkv, int D) {
  ST_CHECK(op, B > 0 && T > 0 && Hq > 0 && Hkv > 0, "bad shape B=%d T=%d Hq=%d Hkv=%d", B, T, Hq, Hkv);
  ST_CHECK(op, Hq % Hkv == 0, "Hq=%d is not a multiple of Hkv=%d", Hq, Hkv);
  ST_CHECK(op, D >= 1 && D <= 128, "head dim %d not in [1,128]", D);
  ST_CHECK(op, Hq <= 65535 && B <= 65535, "too many heads or batch rows for the grid");
  return ST_OK;
}

template <int D, int RWF, int RWB, int RWKV>
static void launch_fwd(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                       const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv, float scale,
                       int Dr) {
  dim3 grid((unsigned)ceil_div(T, WARPS * RWF), Hq, B);
  attention_forward_kernel<D, RWF><<<grid, WARPS * 32, 0, ctx->stream>>>(out, lse, q, k, v, key_mask, T, Tk, cap, q_start,
                                                                         Hq, Hkv, scale, Dr);
}

template <int D, int RWF, int RWB, int RWKV>
static void launch_bwd(st_ctx *ctx, float *dq, float *dk, float *dv, const float *delta, const float *dout,
                       const float *q, const float *k, const float *v, const float *lse, const int32_t *key_mask, int B,
                       int T, int Hq, int Hkv, float scale, int Dr) {
  dim3 g1((unsigned)ceil_div(T, WARPS * RWB), Hq, B);
  attention_dq_kernel<D, RWB><<<g1, WARPS * 32, 0, ctx->stream>>>(dq, dout, q, k, v, lse, delta, key_mask, T, Hq,
                                                                   Hkv, scale, Dr);
  dim3 g2((unsigned)ceil_div(T, WARPS * RWKV), Hkv, B);
  attention_dkv_kernel<D, RWKV><<<g2, WARPS * 32, 0, ctx->stream>>>(dk, dv, dout, q, k, v, lse, delta, key_mask, T,
                                                                     Hq, Hkv, scale, Dr);
}

// head dims up to 128: the kernels run at the next multiple of 32 with zero padding (zeros add nothing to
// the dot products; padded lanes store nothing)
#define ATTN_DISPATCH(FN, ...)                                   \
  if (D <= 32) FN<32, 4, 2, 2>(__VA_ARGS__);                     \
  else if (D <= 64) FN<64, 4, 2, 2>(__VA_ARGS__);                \
  else if (D <= 96) FN<96, 2, 1, 1>(__VA_ARGS__);                \
  else FN<128, 2, 1, 1>(__VA_ARGS__);

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
  ATTN_DISPATCH(launch_fwd, ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, scale, D);
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
  ATTN_DISPATCH(launch_bwd, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale, D);
  ST_LAUNCHED(op);
  return ST_OK;
}

// ===================================================================================================
// The same three passes on tensor cores (WMMA bf16 16×16×16, fp32 accumulate), for the bf16 precisions:
// Q, K, V, dO are rounded to bf16 as their tiles are loaded, and so are the probabilities P (forward, dV) and
// dS (dQ, dK) before the second product; scores, the online softmax, lse and every accumulator stay fp32.
// This is what a bf16 training run of PyTorch (SDPA / flash attention) computes. A block of 4 warps owns
// 64 rows (queries, or keys in the dK/dV pass), 16 per warp, and walks 64-wide tiles of the other side.
// Scores leave the MMA through per-warp shared memory; two lanes own one row (32 columns each) for the
// elementwise softmax part. Blocks with the most causal work are scheduled first (row blocks reversed).
// Needs D % 16 == 0, D <= 128 and 16-byte aligned buffers; st_attention_*_bf16 otherwise run the fp32
// kernels above.
#include <mma.h>
#include <algorithm>
#include <initializer_list>

#define TCW 4    // warps per block
#define TCR 64   // rows per block (16 per warp)
#define TCC 64   // columns per inner tile

template <int D> struct TcGeom {
  static constexpr int LDT = D + 8;                          // bf16 tile rows (+16 bytes: fewer bank conflicts)
  static constexpr int LDF = (D > TCC ? D : TCC) + 4;        // fp32 per-warp staging rows (scores, outputs)
  static constexpr int LDP = TCC + 8;                        // bf16 per-warp P / dS rows
  static constexpr size_t TILE = (size_t)TCR * LDT * 2;      // bytes of one bf16 tile
  static constexpr size_t F = (size_t)16 * LDF * 4;          // bytes of one warp's fp32 staging
  static constexpr size_t P = (size_t)16 * LDP * 2;          // bytes of one warp's bf16 P / dS
};

// rows t0..t0+63 of head h of a [B, Tseq, H, D] fp32 tensor -> bf16 tile [64][LDT]; rows >= limit are zeros
template <int D>
__device__ __forceinline__ void tc_load(__nv_bfloat16 *dst, const float *src, int b, int t0, int h, int H, int Tseq,
                                        int limit) {
  constexpr int C4 = D / 4, LDT = TcGeom<D>::LDT;
  for (int i = threadIdx.x; i < TCR * C4; i += blockDim.x) {
    int r = i / C4, c = (i % C4) * 4, t = t0 + r;
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (t < limit) x = *reinterpret_cast<const float4 *>(src + qkv_index(b, t, h, H, Tseq, D) + c);
    __nv_bfloat162 *d2 = reinterpret_cast<__nv_bfloat162 *>(dst + r * LDT + c);
    d2[0] = __floats2bfloat162_rn(x.x, x.y);
    d2[1] = __floats2bfloat162_rn(x.z, x.w);
  }
}

using namespace nvcuda;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> FragBr;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> FragBc;

// out[16][64] (fp32, ld LDF) = A[16][D] · Bt[64][D]ᵀ : both operands bf16 rows with stride LDT
template <int D>
__device__ __forceinline__ void tc_abt(float *out, const __nv_bfloat16 *A, const __nv_bfloat16 *Bt) {
  constexpr int LDT = TcGeom<D>::LDT, LDF = TcGeom<D>::LDF;
  FragC c[TCC / 16];
#pragma unroll
  for (int j = 0; j < TCC / 16; j++) wmma::fill_fragment(c[j], 0.0f);
#pragma unroll
  for (int kk = 0; kk < D; kk += 16) {
    FragA a;
    wmma::load_matrix_sync(a, A + kk, LDT);
#pragma unroll
    for (int j = 0; j < TCC / 16; j++) {
      FragBc bt;
      wmma::load_matrix_sync(bt, Bt + j * 16 * LDT + kk, LDT);
      wmma::mma_sync(c[j], a, bt, c[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < TCC / 16; j++) wmma::store_matrix_sync(out + j * 16, c[j], LDF, wmma::mem_row_major);
}

// acc[D/16] += P[16][64] (bf16, ld LDP) · Bm[64][D] (bf16 rows, ld LDT)
template <int D>
__device__ __forceinline__ void tc_pb(FragC *acc, const __nv_bfloat16 *P, const __nv_bfloat16 *Bm) {
  constexpr int LDT = TcGeom<D>::LDT, LDP = TcGeom<D>::LDP;
#pragma unroll
  for (int kk = 0; kk < TCC; kk += 16) {
    FragA a;
    wmma::load_matrix_sync(a, P + kk, LDP);
#pragma unroll
    for (int f = 0; f < D / 16; f++) {
      FragBr bm;
      wmma::load_matrix_sync(bm, Bm + kk * LDT + f * 16, LDT);
      wmma::mma_sync(acc[f], a, bm, acc[f]);
    }
  }
}

// forward: grid (ceil(T/64), Hq, B), 128 threads
template <int D>
__global__ void __launch_bounds__(TCW * 32) attention_tc_forward_kernel(float *out, float *lse, const float *q,
    const float *k, const float *v, const int32_t *key_mask, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
    float scale) {
  using G = TcGeom<D>;
  constexpr int LDT = G::LDT, LDF = G::LDF, LDP = G::LDP, HALF = D / 2;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *Ks = Qs + TCR * LDT, *Vs = Ks + TCR * LDT;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *Sf = (float *)(smem + 3 * G::TILE + warp * G::F);
  __nv_bfloat16 *Pb = (__nv_bfloat16 *)(smem + 3 * G::TILE + TCW * G::F + warp * G::P);
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int q0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Qs, q, b, q0, h, Hq, T, T);
  int r = lane >> 1, half = lane & 1;
  int wfirst = q0 + warp * 16, tq = wfirst + r, slot = q_start + tq;
  bool qok = tq < T;
  int wlast_slot = q_start + min(wfirst + 15, T - 1);
  int block_last = min(q_start + min(q0 + TCR - 1, T - 1), Tk - 1);
  float m = -INFINITY, l = 0.0f, o[HALF];
#pragma unroll
  for (int i = 0; i < HALF; i++) o[i] = 0.0f;
  for (int k0 = 0; k0 <= block_last; k0 += TCC) {
    __syncthreads();  // previous K/V tiles consumed (and Qs written, the first time)
    tc_load<D>(Ks, k, b, k0, hk, Hkv, cap, Tk);
    tc_load<D>(Vs, v, b, k0, hk, Hkv, cap, Tk);
    __syncthreads();
    if (wfirst >= T || k0 > wlast_slot) continue;  // warp-uniform: nothing of this tile is visible
    tc_abt<D>(Sf, Qs + warp * 16 * LDT, Ks);
    __syncwarp();
    float s[32], mt = -INFINITY;
#pragma unroll
    for (int c = 0; c < 32; c++) {
      int j = k0 + half * 32 + c;
      bool ok = qok && j <= slot && j < Tk && (key_mask == nullptr || key_mask[(int64_t)b * cap + j] != 0);
      s[c] = ok ? Sf[r * LDF + half * 32 + c] * scale : -INFINITY;
      mt = fmaxf(mt, s[c]);
    }
    mt = fmaxf(mt, __shfl_xor_sync(0xffffffff, mt, 1));
    float mnew = fmaxf(m, mt);
    float corr = mnew == -INFINITY ? 1.0f : expf(m - mnew), ps = 0.0f;
#pragma unroll
    for (int c = 0; c < 32; c++) {
      float p = mnew == -INFINITY ? 0.0f : expf(s[c] - mnew);
      ps += p;
      Pb[r * LDP + half * 32 + c] = __float2bfloat16_rn(p);
    }
    ps += __shfl_xor_sync(0xffffffff, ps, 1);
    l = l * corr + ps;
    m = mnew;
    __syncwarp();
    FragC acc[D / 16];
#pragma unroll
    for (int f = 0; f < D / 16; f++) wmma::fill_fragment(acc[f], 0.0f);
    tc_pb<D>(acc, Pb, Vs);
#pragma unroll
    for (int f = 0; f < D / 16; f++) wmma::store_matrix_sync(Sf + f * 16, acc[f], LDF, wmma::mem_row_major);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < HALF; i++) o[i] = o[i] * corr + Sf[r * LDF + half * HALF + i];
    __syncwarp();
  }
  if (qok) {
    float inv = l > 0.0f ? 1.0f / l : 0.0f;  // a query that sees no key gets zeros and lse = -inf
    float *op = out + qkv_index(b, tq, h, Hq, T, D) + half * HALF;
#pragma unroll
    for (int i = 0; i < HALF; i += 4) *reinterpret_cast<float4 *>(op + i) = make_float4(o[i] * inv, o[i + 1] * inv, o[i + 2] * inv, o[i + 3] * inv);
    if (half == 0) lse[((int64_t)b * T + tq) * Hq + h] = l > 0.0f ? m + logf(l) : -INFINITY;
  }
}

// backward dQ: grid (ceil(T/64), Hq, B). dS = P∘(dO·Vᵀ − delta)·scale, dQ = dS·K
template <int D>
__global__ void __launch_bounds__(TCW * 32) attention_tc_dq_kernel(float *dq, const float *dout, const float *q,
    const float *k, const float *v, const float *lse, const float *delta, const int32_t *key_mask, int T, int Hq,
    int Hkv, float scale) {
  using G = TcGeom<D>;
  constexpr int LDT = G::LDT, LDF = G::LDF, LDP = G::LDP, HALF = D / 2;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *dOs = Qs + TCR * LDT, *Ks = dOs + TCR * LDT, *Vs = Ks + TCR * LDT;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *Sf = (float *)(smem + 4 * G::TILE + warp * 2 * G::F), *dPf = Sf + 16 * LDF;
  __nv_bfloat16 *Pb = (__nv_bfloat16 *)(smem + 4 * G::TILE + TCW * 2 * G::F + warp * G::P);
  float *Lw = (float *)(smem + 4 * G::TILE + TCW * (2 * G::F + G::P)) + warp * 32, *Dw = Lw + 16;
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int q0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Qs, q, b, q0, h, Hq, T, T);
  tc_load<D>(dOs, dout, b, q0, h, Hq, T, T);
  int r = lane >> 1, half = lane & 1;
  int wfirst = q0 + warp * 16, tq = wfirst + r;
  bool qok = tq < T;
  if (lane < 16) {  // the warp's 16 rows: lse and delta, read by every lane in the elementwise phase
    int t = wfirst + lane;
    Lw[lane] = t < T ? lse[((int64_t)b * T + t) * Hq + h] : -INFINITY;
    Dw[lane] = t < T ? delta[((int64_t)b * T + t) * Hq + h] : 0.0f;
  }
  __syncwarp();
  int wlast = min(wfirst + 15, T - 1), qlast = min(q0 + TCR - 1, T - 1);
  FragC acc[D / 16];
#pragma unroll
  for (int f = 0; f < D / 16; f++) wmma::fill_fragment(acc[f], 0.0f);
  for (int k0 = 0; k0 <= qlast; k0 += TCC) {
    __syncthreads();
    tc_load<D>(Ks, k, b, k0, hk, Hkv, T, T);
    tc_load<D>(Vs, v, b, k0, hk, Hkv, T, T);
    __syncthreads();
    if (wfirst >= T || k0 > wlast) continue;
    tc_abt<D>(Sf, Qs + warp * 16 * LDT, Ks);
    tc_abt<D>(dPf, dOs + warp * 16 * LDT, Vs);
    __syncwarp();
    // lane = column (conflict-free shared reads), rows in turn
#pragma unroll
    for (int half2 = 0; half2 < 2; half2++) {
      int cc = lane + 32 * half2, j = k0 + cc;
      bool kv = j < T && (key_mask == nullptr || key_mask[(int64_t)b * T + j] != 0);
#pragma unroll 4
      for (int rr = 0; rr < 16; rr++) {
        int t = wfirst + rr;
        float L = Lw[rr];
        bool ok = kv && t < T && j <= t && L != -INFINITY;
        float p = ok ? expf(Sf[rr * LDF + cc] * scale - L) : 0.0f;
        Pb[rr * LDP + cc] = __float2bfloat16_rn(p * (dPf[rr * LDF + cc] - Dw[rr]) * scale);
      }
    }
    __syncwarp();
    tc_pb<D>(acc, Pb, Ks);
  }
  __syncwarp();
#pragma unroll
  for (int f = 0; f < D / 16; f++) wmma::store_matrix_sync(Sf + f * 16, acc[f], LDF, wmma::mem_row_major);
  __syncwarp();
  if (qok) {
    float *dp = dq + qkv_index(b, tq, h, Hq, T, D) + half * HALF;
#pragma unroll
    for (int i = 0; i < HALF; i += 4)
      *reinterpret_cast<float4 *>(dp + i) = *reinterpret_cast<const float4 *>(Sf + r * LDF + half * HALF + i);
  }
}

// backward dK, dV: grid (ceil(T/64), Hkv*S, B); a block owns 64 keys of one KV head and walks the query tiles at
// or after its first key for its share of the G query heads sharing that KV head (S splits of G/S heads each,
// so that the grid fills the GPU; with S > 1 each split writes its partial sums to dk/dv + split*nk, which
// attention_sum_kernel adds in a fixed order): no atomics, deterministic.
// Per warp (16 keys): Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q.
template <int D>
__global__ void __launch_bounds__(TCW * 32) attention_tc_dkv_kernel(float *dk, float *dv, const float *dout,
    const float *q, const float *k, const float *v, const float *lse, const float *delta, const int32_t *key_mask,
    int T, int Hq, int Hkv, float scale, int S, int64_t nk) {
  using G = TcGeom<D>;
  constexpr int LDT = G::LDT, LDF = G::LDF, LDP = G::LDP, HALF = D / 2;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Ks = (__nv_bfloat16 *)smem, *Vs = Ks + TCR * LDT, *Qs = Vs + TCR * LDT, *dOs = Qs + TCR * LDT;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *Sf = (float *)(smem + 4 * G::TILE + warp * 2 * G::F), *dPf = Sf + 16 * LDF;
  __nv_bfloat16 *Pb = (__nv_bfloat16 *)(smem + 4 * G::TILE + TCW * 2 * G::F + warp * 2 * G::P), *dSb = Pb + 16 * LDP;
  float *Ls = (float *)(smem + 4 * G::TILE + TCW * 2 * G::F + TCW * 2 * G::P), *Ds = Ls + TCC;
  int b = blockIdx.z, hk = blockIdx.y / S, split = blockIdx.y % S, GQ = Hq / Hkv;
  int g0 = split * (GQ / S), g1 = g0 + GQ / S;
  if (S > 1) {
    dk += split * nk;
    dv += split * nk;
  }
  int j0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Ks, k, b, j0, hk, Hkv, T, T);
  tc_load<D>(Vs, v, b, j0, hk, Hkv, T, T);
  int r = lane >> 1, half = lane & 1;
  int wfirst = j0 + warp * 16, tj = wfirst + r;
  bool kok = tj < T && (key_mask == nullptr || key_mask[(int64_t)b * T + tj] != 0);  // padding key: dK = dV = 0
  // bit rr: key row wfirst + rr is a real key (pairs of lanes share a row: take the even lanes' votes)
  unsigned kmask = 0;
  {
    unsigned votes = __ballot_sync(0xffffffff, kok);
#pragma unroll
    for (int rr = 0; rr < 16; rr++) kmask |= ((votes >> (2 * rr)) & 1u) << rr;
  }
  FragC adk[D / 16], adv[D / 16];
#pragma unroll
  for (int f = 0; f < D / 16; f++) {
    wmma::fill_fragment(adk[f], 0.0f);
    wmma::fill_fragment(adv[f], 0.0f);
  }
  for (int g = g0; g < g1; g++) {
    int h = hk * GQ + g;
    for (int i0 = j0; i0 < T; i0 += TCC) {  // j0 is a multiple of 64: earlier query tiles see none of these keys
      __syncthreads();
      tc_load<D>(Qs, q, b, i0, h, Hq, T, T);
      tc_load<D>(dOs, dout, b, i0, h, Hq, T, T);
      if (threadIdx.x < TCC) {
        int t = i0 + threadIdx.x;
        Ls[threadIdx.x] = t < T ? lse[((int64_t)b * T + t) * Hq + h] : -INFINITY;
        Ds[threadIdx.x] = t < T ? delta[((int64_t)b * T + t) * Hq + h] : 0.0f;
      }
      __syncthreads();
      if (wfirst >= T || i0 + TCC - 1 < wfirst) continue;
      tc_abt<D>(Sf, Ks + warp * 16 * LDT, Qs);
      tc_abt<D>(dPf, Vs + warp * 16 * LDT, dOs);
      __syncwarp();
      // lane = column (a query; conflict-free shared reads), rows (keys) in turn
#pragma unroll
      for (int half2 = 0; half2 < 2; half2++) {
        int cc = lane + 32 * half2, ti = i0 + cc;
        float L = Ls[cc], Dc = Ds[cc];
        bool qv = ti < T && L != -INFINITY;
#pragma unroll 4
        for (int rr = 0; rr < 16; rr++) {
          int t = wfirst + rr;
          bool ok = qv && ti >= t && ((kmask >> rr) & 1);
          float p = ok ? expf(Sf[rr * LDF + cc] * scale - L) : 0.0f;
          Pb[rr * LDP + cc] = __float2bfloat16_rn(p);
          dSb[rr * LDP + cc] = __float2bfloat16_rn(p * (dPf[rr * LDF + cc] - Dc) * scale);
        }
      }
      __syncwarp();
      tc_pb<D>(adv, Pb, dOs);
      tc_pb<D>(adk, dSb, Qs);
    }
  }
  __syncwarp();
#pragma unroll
  for (int pass = 0; pass < 2; pass++) {
    FragC *acc = pass == 0 ? adk : adv;
    float *dst = pass == 0 ? dk : dv;
#pragma unroll
    for (int f = 0; f < D / 16; f++) wmma::store_matrix_sync(Sf + f * 16, acc[f], LDF, wmma::mem_row_major);
    __syncwarp();
    if (tj < T) {
      float *dp = dst + qkv_index(b, tj, hk, Hkv, T, D) + half * HALF;
#pragma unroll
      for (int i = 0; i < HALF; i += 4)
        *reinterpret_cast<float4 *>(dp + i) = *reinterpret_cast<const float4 *>(Sf + r * LDF + half * HALF + i);
    }
    __syncwarp();
  }
}

// out[i] = sum over s < S of part[s*n + i], in order (the dK/dV partial sums of the S head splits)
__global__ void attention_sum_kernel(float *out, const float *part, int S, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float acc = part[i];
    for (int sp = 1; sp < S; sp++) acc += part[sp * n + i];
    out[i] = acc;
  }
}

template <typename K>
static int tc_smem(const char *op, K kernel, size_t bytes) {
  // above 48 KB a kernel must opt in to dynamic shared memory; cheap, so done per launch
  ST_CUDA(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  return ST_OK;
}

static bool tc_usable(int D, std::initializer_list<const void *> ptrs) {
  if (D != 64 && D != 128) return false;
  for (const void *p : ptrs)
    if (p != nullptr && ((uintptr_t)p & 15) != 0) return false;
  return true;
}

template <int D>
static int tc_forward(const char *op, st_ctx *ctx, float *out, float *lse, const float *q, const float *k,
                      const float *v, const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq,
                      int Hkv, float scale) {
  using G = TcGeom<D>;
  size_t bytes = 3 * G::TILE + TCW * (G::F + G::P);
  int rc = tc_smem(op, attention_tc_forward_kernel<D>, bytes);
  if (rc) return rc;
  dim3 grid((unsigned)ceil_div(T, TCR), Hq, B);
  attention_tc_forward_kernel<D><<<grid, TCW * 32, bytes, ctx->stream>>>(out, lse, q, k, v, key_mask, T, Tk, cap,
                                                                          q_start, Hq, Hkv, scale);
  ST_LAUNCHED(op);
  return ST_OK;
}

template <int D>
static int tc_backward(const char *op, st_ctx *ctx, float *dq, float *dk, float *dv, const float *delta,
                       const float *dout, const float *q, const float *k, const float *v, const float *lse,
                       const int32_t *key_mask, int B, int T, int Hq, int Hkv, float scale) {
  using G = TcGeom<D>;
  size_t b1 = 4 * G::TILE + TCW * (2 * G::F + G::P) + TCW * 32 * sizeof(float);
  size_t b2 = 4 * G::TILE + TCW * (2 * G::F + 2 * G::P) + 2 * TCC * sizeof(float);
  int rc = tc_smem(op, attention_tc_dq_kernel<D>, b1);
  if (rc || (rc = tc_smem(op, attention_tc_dkv_kernel<D>, b2))) return rc;
  dim3 g1((unsigned)ceil_div(T, TCR), Hq, B);
  attention_tc_dq_kernel<D><<<g1, TCW * 32, b1, ctx->stream>>>(dq, dout, q, k, v, lse, delta, key_mask, T, Hq, Hkv,
                                                                scale);
  ST_LAUNCHED(op);
  // split the query heads of a KV head over blocks when the grid would not fill the GPU twice
  int GQ = Hq / Hkv, S = 1;
  int64_t blocks = ceil_div(T, TCR) * Hkv * B;
  for (int cand = GQ; cand > 1; cand--)
    if (GQ % cand == 0 && blocks < 264) { S = cand; break; }
  int64_t nk = (int64_t)B * T * Hkv * D;
  float *pk = dk, *pv = dv;
  if (S > 1) {
    if ((rc = st_workspace(ctx, (size_t)S * nk * 2 * sizeof(float), op))) return rc;
    pk = (float *)ctx->ws;
    pv = pk + S * nk;
  }
  dim3 g2((unsigned)ceil_div(T, TCR), Hkv * S, B);
  attention_tc_dkv_kernel<D><<<g2, TCW * 32, b2, ctx->stream>>>(pk, pv, dout, q, k, v, lse, delta, key_mask, T, Hq,
                                                                 Hkv, scale, S, nk);
  ST_LAUNCHED(op);
  if (S > 1) {
    unsigned grid = (unsigned)std::min<int64_t>(ceil_div(nk, 256), 4096);
    attention_sum_kernel<<<grid, 256, 0, ctx->stream>>>(dk, pk, S, nk);
    attention_sum_kernel<<<grid, 256, 0, ctx->stream>>>(dv, pv, S, nk);
    ST_LAUNCHED(op);
  }
  return ST_OK;
}

extern "C" int st_attention_forward_bf16(st_ctx *ctx, float *out, float *lse, const float *q, const float *k,
                                         const float *v, const int32_t *key_mask, int B, int T, int Tk, int cap,
                                         int q_start, int Hq, int Hkv, int D, float scale) {
  const char *op = "st_attention_forward_bf16";
  ST_CTX(op);
  ST_CHECK(op, out && lse && q && k && v, "NULL buffer");
  int rc = check_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  ST_CHECK(op, q_start >= 0 && q_start + T <= Tk && Tk <= cap, "need 0 <= q_start, q_start+T <= Tk <= cap (q_start=%d T=%d Tk=%d cap=%d)",
           q_start, T, Tk, cap);
  if (!tc_usable(D, {out, q, k, v}))
    return st_attention_forward(ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, D, scale);
  return D == 64 ? tc_forward<64>(op, ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, scale)
                 : tc_forward<128>(op, ctx, out, lse, q, k, v, key_mask, B, T, Tk, cap, q_start, Hq, Hkv, scale);
}

extern "C" int st_attention_backward_bf16(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                                          const float *out, const float *q, const float *k, const float *v,
                                          const float *lse, const int32_t *key_mask, int B, int T, int Hq, int Hkv,
                                          int D, float scale) {
  const char *op = "st_attention_backward_bf16";
  ST_CTX(op);
  ST_CHECK(op, dq && dk && dv && delta && dout && out && q && k && v && lse, "NULL buffer");
  int rc = check_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  if (!tc_usable(D, {dq, dk, dv, dout, q, k, v}))
    return st_attention_backward(ctx, dq, dk, dv, delta, dout, out, q, k, v, lse, key_mask, B, T, Hq, Hkv, D, scale);
  int64_t rows = (int64_t)B * T * Hq;
  attention_delta_kernel<<<(unsigned)ceil_div(rows, WARPS), WARPS * 32, 0, ctx->stream>>>(delta, dout, out, B, T, Hq, D);
  ST_LAUNCHED(op);
  return D == 64 ? tc_backward<64>(op, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale)
                 : tc_backward<128>(op, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale);
}
