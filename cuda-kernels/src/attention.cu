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
  int rc = check_attention_shapes(op, B, T, Hq, Hkv, D);
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
  int rc = check_attention_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  int64_t rows = (int64_t)B * T * Hq;
  attention_delta_kernel<<<(unsigned)ceil_div(rows, WARPS), WARPS * 32, 0, ctx->stream>>>(delta, dout, out, B, T, Hq, D);
  ST_LAUNCHED(op);
  ATTN_DISPATCH(launch_bwd, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale, D);
  ST_LAUNCHED(op);
  return ST_OK;
}

// ===================================================================================================
// The same three passes on tensor cores (mma.sync m16n8k16 bf16, fp32 accumulate), for the bf16 precisions:
// Q, K, V, dO are rounded to bf16 as their tiles are loaded, and so are the probabilities P (forward, dV) and
// dS (dQ, dK) before the second product; scores, the online softmax, lse and every accumulator stay fp32.
// This is what a bf16 training run of PyTorch (SDPA / flash attention) computes. A block of 4 warps owns
// 64 rows (queries, or keys in the dK/dV pass), 16 per warp, and walks 64-wide tiles of the other side;
// blocks with the most causal work are scheduled first (row blocks reversed). Needs D = 64 or 128 and
// 16-byte aligned buffers; st_attention_*_bf16 otherwise run the fp32 kernels above.
#include <algorithm>
#include <initializer_list>

#define TCW 4    // warps per block
#define TCR 64   // rows per block (16 per warp)
#define TCC 64   // columns per inner tile

template <int D> struct TcGeom {
  static constexpr int LDT = D + 8;                          // bf16 tile rows (+16 bytes: fewer bank conflicts)
  static constexpr size_t TILE = (size_t)TCR * LDT * 2;      // bytes of one bf16 tile
};

// rows t0..t0+63 of head h of a [B, Tseq, H, D] fp32 tensor -> bf16 tile [64][LDT]; rows >= limit are zeros.
// Every load of a chunk is issued before the first conversion, so a tile costs about one memory latency
// instead of one per float4 (the strided loop this replaces ran load -> store -> load ...). Needs blockDim.x
// == TCW * 32, as every tensor-core kernel here is launched.
template <int D>
__device__ __forceinline__ void tc_load(__nv_bfloat16 *dst, const float *src, int b, int t0, int h, int H, int Tseq,
                                        int limit) {
  constexpr int C4 = D / 4, LDT = TcGeom<D>::LDT, NT = TCW * 32, PER = TCR * C4 / NT, CH = PER > 8 ? 8 : PER;
  static_assert(TCR * C4 % NT == 0 && PER % CH == 0, "tile / thread count");
#pragma unroll
  for (int c0 = 0; c0 < PER; c0 += CH) {
    float4 x[CH];
#pragma unroll
    for (int u = 0; u < CH; u++) {
      int i = threadIdx.x + (c0 + u) * NT, r = i / C4, c = (i % C4) * 4, t = t0 + r;
      x[u] = t < limit ? __ldg(reinterpret_cast<const float4 *>(src + qkv_index(b, t, h, H, Tseq, D) + c))
                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int u = 0; u < CH; u++) {
      int i = threadIdx.x + (c0 + u) * NT, r = i / C4, c = (i % C4) * 4;
      __nv_bfloat162 *d2 = reinterpret_cast<__nv_bfloat162 *>(dst + r * LDT + c);
      d2[0] = __floats2bfloat162_rn(x[u].x, x[u].y);
      d2[1] = __floats2bfloat162_rn(x[u].z, x[u].w);
    }
  }
}

// Fragments stay in registers (the FlashAttention-2 layout; an earlier WMMA version staged every score tile and
// partial output through shared memory in fp32 and ran 1.8x (forward) and 2.2x (backward) slower on an H100):
// a thread owns 2 rows x 16 columns of each 16x64 score tile as the accumulator fragment of the PTX ISA (c0,c1: row g = lane/4, columns 2*(lane%4)+{0,1} of each
// 8-wide n-tile; c2,c3: row g+8), reduces rows across its quad with two shuffles, and turns P (or dS) into
// the A operand of the next product without leaving registers (the C layout of two adjacent n-tiles is the
// A layout of one k-chunk). Operands come from the bf16 tiles with ldmatrix (.trans for the [k][n] tiles).
// exp2 of log2-scaled scores instead of exp.
__device__ __forceinline__ void ldsm4(uint32_t *r, const __nv_bfloat16 *p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ __forceinline__ void ldsm4t(uint32_t *r, const __nv_bfloat16 *p) {
  uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

// c[4] += a (16x16, 4 regs) · b (16x8, 2 regs)
__device__ __forceinline__ void mma16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

// s[8][4] = A[16][D] · Bt[64][D]ᵀ, A = rows a_row0.. of a bf16 tile, Bt a bf16 tile ([n][k]: plain ldmatrix)
template <int D>
__device__ __forceinline__ void mma_abt(float (*s)[4], const __nv_bfloat16 *A, int a_row0, const __nv_bfloat16 *Bt,
                                        int lane) {
  constexpr int LDT = TcGeom<D>::LDT;
  int m = lane >> 3, r8 = lane & 7;
#pragma unroll
  for (int j = 0; j < 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < D; kk += 16) {
    uint32_t a[4];
    ldsm4(a, A + (a_row0 + (m & 1) * 8 + r8) * LDT + kk + (m >> 1) * 8);
#pragma unroll
    for (int np = 0; np < 4; np++) {
      uint32_t b[4];
      ldsm4(b, Bt + (np * 16 + (m >> 1) * 8 + r8) * LDT + kk + (m & 1) * 8);
      mma16816(s[2 * np], a, b[0], b[1]);
      mma16816(s[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// acc[D/8][4] += P[16][64] · Bm[64][D]: P given as the accumulator fragments p[8][4] (rounded to bf16 here),
// Bm a bf16 tile ([k][n]: transposing ldmatrix)
template <int D>
__device__ __forceinline__ void mma_pb(float (*acc)[4], const float (*p)[4], const __nv_bfloat16 *Bm, int lane) {
  constexpr int LDT = TcGeom<D>::LDT;
  int m = lane >> 3, r8 = lane & 7;
#pragma unroll
  for (int kc = 0; kc < 4; kc++) {
    uint32_t a[4] = {pack_bf16(p[2 * kc][0], p[2 * kc][1]), pack_bf16(p[2 * kc][2], p[2 * kc][3]),
                     pack_bf16(p[2 * kc + 1][0], p[2 * kc + 1][1]), pack_bf16(p[2 * kc + 1][2], p[2 * kc + 1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      uint32_t b[4];
      ldsm4t(b, Bm + (kc * 16 + (m & 1) * 8 + r8) * LDT + dp * 16 + (m >> 1) * 8);
      mma16816(acc[2 * dp], a, b[0], b[1]);
      mma16816(acc[2 * dp + 1], a, b[2], b[3]);
    }
  }
}

// rows row0 and row0+8 of a fragment accumulator [D/8][4] -> fp32 rows of dst (scaled; rows >= T skipped)
template <int D>
__device__ __forceinline__ void mma_store_rows(float *dst, const float (*acc)[4], int b, int row0, int h, int H, int T,
                                               int tg, float s0, float s1) {
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int t = row0 + 8 * r;
    if (t >= T) continue;
    float s = r ? s1 : s0;
    float *p = dst + qkv_index(b, t, h, H, T, D) + 2 * tg;
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++)
      *reinterpret_cast<float2 *>(p + dt * 8) = make_float2(acc[dt][2 * r] * s, acc[dt][2 * r + 1] * s);
  }
}

#define ST_LOG2E 1.4426950408889634f
#define ST_LN2 0.6931471805599453f

// forward: grid (ceil(T/64), Hq, B), 128 threads
template <int D>
__global__ void __launch_bounds__(TCW * 32, D == 64 ? 4 : 2) attention_mma_forward_kernel(float *out, float *lse, const float *q,
    const float *k, const float *v, const int32_t *key_mask, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
    float scale) {
  constexpr int LDT = TcGeom<D>::LDT;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *Ks = Qs + TCR * LDT, *Vs = Ks + TCR * LDT;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int q0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Qs, q, b, q0, h, Hq, T, T);
  int wfirst = q0 + warp * 16, slot0 = q_start + wfirst + g;  // the thread's rows: wfirst+g and wfirst+g+8
  int wlast_slot = q_start + min(wfirst + 15, T - 1);
  int block_last = min(q_start + min(q0 + TCR - 1, T - 1), Tk - 1);
  float sl2 = scale * ST_LOG2E;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  for (int k0 = 0; k0 <= block_last; k0 += TCC) {
    __syncthreads();  // previous K/V tiles consumed (and Qs written, the first time)
    tc_load<D>(Ks, k, b, k0, hk, Hkv, cap, Tk);
    tc_load<D>(Vs, v, b, k0, hk, Hkv, cap, Tk);
    __syncthreads();
    if (wfirst >= T || k0 > wlast_slot) continue;  // warp-uniform: nothing of this tile is visible
    float s[8][4];
    mma_abt<D>(s, Qs, warp * 16, Ks, lane);
    // every key of the tile visible to every row of the warp: no per-element mask
    bool full = key_mask == nullptr && k0 + TCC - 1 <= q_start + wfirst && k0 + TCC - 1 < Tk;
    float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float x = s[nt][i] * sl2;
        if (!full) {
          int j = k0 + nt * 8 + 2 * tg + (i & 1), slot = slot0 + 8 * (i >> 1);
          bool ok = j <= slot && j < Tk && (key_mask == nullptr || key_mask[(int64_t)b * cap + j] != 0);
          x = ok ? x : -INFINITY;
        }
        s[nt][i] = x;
        mt[i >> 1] = fmaxf(mt[i >> 1], x);
      }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffff, mt[r], 1));
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffff, mt[r], 2));
      float mnew = fmaxf(m[r], mt[r]);
      corr[r] = mnew == -INFINITY ? 1.0f : exp2f(m[r] - mnew);
      m[r] = mnew;
      l[r] *= corr[r];
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float mr = m[i >> 1];
        float p = mr == -INFINITY ? 0.0f : exp2f(s[nt][i] - mr);
        s[nt][i] = p;
        l[i >> 1] += p;  // this thread's 16 columns; the quad's partial sums are added at the end
      }
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++)
#pragma unroll
      for (int i = 0; i < 4; i++) o[dt][i] *= corr[i >> 1];
    mma_pb<D>(o, s, Vs, lane);
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffff, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffff, l[r], 2);
  }
  // a query that sees no key gets zeros and lse = -inf
  mma_store_rows<D>(out, o, b, wfirst + g, h, Hq, T, tg, l[0] > 0.0f ? 1.0f / l[0] : 0.0f,
                    l[1] > 0.0f ? 1.0f / l[1] : 0.0f);
  if (tg == 0) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      int t = wfirst + g + 8 * r;
      if (t < T) lse[((int64_t)b * T + t) * Hq + h] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * ST_LN2 : -INFINITY;
    }
  }
}

// backward dQ: grid (ceil(T/64), Hq, B). dS = P∘(dO·Vᵀ − delta)·scale, dQ = dS·K
template <int D>
__global__ void __launch_bounds__(TCW * 32, D == 64 ? 4 : 1) attention_mma_dq_kernel(float *dq, const float *dout, const float *q,
    const float *k, const float *v, const float *lse, const float *delta, const int32_t *key_mask, int T, int Hq,
    int Hkv, float scale) {
  constexpr int LDT = TcGeom<D>::LDT;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem, *dOs = Qs + TCR * LDT, *Ks = dOs + TCR * LDT, *Vs = Ks + TCR * LDT;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  int q0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Qs, q, b, q0, h, Hq, T, T);
  tc_load<D>(dOs, dout, b, q0, h, Hq, T, T);
  int wfirst = q0 + warp * 16, t0 = wfirst + g;
  float L[2], Dl[2];  // the thread's two rows: lse (log2 units) and delta
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int t = t0 + 8 * r;
    L[r] = t < T ? lse[((int64_t)b * T + t) * Hq + h] * ST_LOG2E : -INFINITY;
    Dl[r] = t < T ? delta[((int64_t)b * T + t) * Hq + h] : 0.0f;
  }
  int wlast = min(wfirst + 15, T - 1), qlast = min(q0 + TCR - 1, T - 1);
  float sl2 = scale * ST_LOG2E;
  float acc[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
  for (int k0 = 0; k0 <= qlast; k0 += TCC) {
    __syncthreads();
    tc_load<D>(Ks, k, b, k0, hk, Hkv, T, T);
    tc_load<D>(Vs, v, b, k0, hk, Hkv, T, T);
    __syncthreads();
    if (wfirst >= T || k0 > wlast) continue;
    float s[8][4], dp[8][4];
    mma_abt<D>(s, Qs, warp * 16, Ks, lane);
    mma_abt<D>(dp, dOs, warp * 16, Vs, lane);
    bool full = key_mask == nullptr && k0 + TCC - 1 <= wfirst && k0 + TCC - 1 < T;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        int r = i >> 1, t = t0 + 8 * r, j = k0 + nt * 8 + 2 * tg + (i & 1);
        bool ok = L[r] != -INFINITY &&
                  (full || (j <= t && j < T && (key_mask == nullptr || key_mask[(int64_t)b * T + j] != 0)));
        float p = ok ? exp2f(s[nt][i] * sl2 - L[r]) : 0.0f;
        s[nt][i] = p * (dp[nt][i] - Dl[r]) * scale;
      }
    mma_pb<D>(acc, s, Ks, lane);
  }
  mma_store_rows<D>(dq, acc, b, t0, h, Hq, T, tg, 1.0f, 1.0f);
}

// backward dK, dV: grid (ceil(T/64), Hkv*S, B); a block owns 64 keys of one KV head and walks the query tiles at
// or after its first key for its share of the G query heads sharing that KV head (S splits of G/S heads each,
// so that the grid fills the GPU; with S > 1 each split writes its partial sums to dk/dv + split*nk, which
// attention_sum_kernel adds in a fixed order): no atomics, deterministic.
// Per warp (16 keys): Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q.
template <int D>
__global__ void __launch_bounds__(TCW * 32, D == 64 ? 3 : 1) attention_mma_dkv_kernel(float *dk, float *dv, const float *dout,
    const float *q, const float *k, const float *v, const float *lse, const float *delta, const int32_t *key_mask,
    int T, int Hq, int Hkv, float scale, int S, int64_t nk) {
  constexpr int LDT = TcGeom<D>::LDT;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Ks = (__nv_bfloat16 *)smem, *Vs = Ks + TCR * LDT, *Qs = Vs + TCR * LDT, *dOs = Qs + TCR * LDT;
  float *Ls = (float *)(dOs + TCR * LDT), *Ds = Ls + TCC;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
  int b = blockIdx.z, hk = blockIdx.y / S, split = blockIdx.y % S, GQ = Hq / Hkv;
  int g0 = split * (GQ / S), g1 = g0 + GQ / S;
  if (S > 1) {
    dk += split * nk;
    dv += split * nk;
  }
  int j0 = (gridDim.x - 1 - blockIdx.x) * TCR;
  tc_load<D>(Ks, k, b, j0, hk, Hkv, T, T);
  tc_load<D>(Vs, v, b, j0, hk, Hkv, T, T);
  int wfirst = j0 + warp * 16, tj0 = wfirst + g;
  bool kok[2];  // the thread's two keys are real (a padding key gets dK = dV = 0)
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int t = tj0 + 8 * r;
    kok[r] = t < T && (key_mask == nullptr || key_mask[(int64_t)b * T + t] != 0);
  }
  float sl2 = scale * ST_LOG2E;
  float adk[D / 8][4], adv[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++)
#pragma unroll
    for (int i = 0; i < 4; i++) adk[dt][i] = adv[dt][i] = 0.0f;
  for (int gq = g0; gq < g1; gq++) {
    int h = hk * GQ + gq;
    for (int i0 = j0; i0 < T; i0 += TCC) {  // j0 is a multiple of 64: earlier query tiles see none of these keys
      __syncthreads();
      tc_load<D>(Qs, q, b, i0, h, Hq, T, T);
      tc_load<D>(dOs, dout, b, i0, h, Hq, T, T);
      if (threadIdx.x < TCC) {
        int t = i0 + threadIdx.x;
        Ls[threadIdx.x] = t < T ? lse[((int64_t)b * T + t) * Hq + h] * ST_LOG2E : -INFINITY;
        Ds[threadIdx.x] = t < T ? delta[((int64_t)b * T + t) * Hq + h] : 0.0f;
      }
      __syncthreads();
      if (wfirst >= T || i0 + TCC - 1 < wfirst) continue;
      float s[8][4], dp[8][4];
      mma_abt<D>(s, Ks, warp * 16, Qs, lane);
      mma_abt<D>(dp, Vs, warp * 16, dOs, lane);
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        int c = nt * 8 + 2 * tg;
        float2 L2 = *reinterpret_cast<const float2 *>(Ls + c), D2 = *reinterpret_cast<const float2 *>(Ds + c);
#pragma unroll
        for (int i = 0; i < 4; i++) {
          int r = i >> 1, ti = i0 + c + (i & 1), tj = tj0 + 8 * r;
          float L = (i & 1) ? L2.y : L2.x, Dc = (i & 1) ? D2.y : D2.x;
          bool ok = kok[r] && ti < T && ti >= tj && L != -INFINITY;
          float p = ok ? exp2f(s[nt][i] * sl2 - L) : 0.0f;
          s[nt][i] = p;
          dp[nt][i] = p * (dp[nt][i] - Dc) * scale;
        }
      }
      mma_pb<D>(adv, s, dOs, lane);
      mma_pb<D>(adk, dp, Qs, lane);
    }
  }
  mma_store_rows<D>(dk, adk, b, tj0, hk, Hkv, T, tg, 1.0f, 1.0f);
  mma_store_rows<D>(dv, adv, b, tj0, hk, Hkv, T, tg, 1.0f, 1.0f);
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
  size_t bytes = 3 * G::TILE;  // Q, K, V tiles
  dim3 grid((unsigned)ceil_div(T, TCR), Hq, B);
  int rc = tc_smem(op, attention_mma_forward_kernel<D>, bytes);
  if (rc) return rc;
  attention_mma_forward_kernel<D><<<grid, TCW * 32, bytes, ctx->stream>>>(out, lse, q, k, v, key_mask, T, Tk, cap,
                                                                           q_start, Hq, Hkv, scale);
  ST_LAUNCHED(op);
  return ST_OK;
}

template <int D>
static int tc_backward(const char *op, st_ctx *ctx, float *dq, float *dk, float *dv, const float *delta,
                       const float *dout, const float *q, const float *k, const float *v, const float *lse,
                       const int32_t *key_mask, int B, int T, int Hq, int Hkv, float scale) {
  using G = TcGeom<D>;
  size_t b1 = 4 * G::TILE;                               // Q, dO, K, V tiles
  size_t b2 = 4 * G::TILE + 2 * TCC * sizeof(float);     // K, V, Q, dO tiles, lse and delta of the query tile
  int rc = tc_smem(op, attention_mma_dq_kernel<D>, b1);
  if (rc || (rc = tc_smem(op, attention_mma_dkv_kernel<D>, b2))) return rc;
  dim3 g1((unsigned)ceil_div(T, TCR), Hq, B);
  attention_mma_dq_kernel<D><<<g1, TCW * 32, b1, ctx->stream>>>(dq, dout, q, k, v, lse, delta, key_mask, T, Hq, Hkv,
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
  attention_mma_dkv_kernel<D><<<g2, TCW * 32, b2, ctx->stream>>>(pk, pv, dout, q, k, v, lse, delta, key_mask, T, Hq,
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
  int rc = check_attention_shapes(op, B, T, Hq, Hkv, D);
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
  int rc = check_attention_shapes(op, B, T, Hq, Hkv, D);
  if (rc) return rc;
  if (!tc_usable(D, {dq, dk, dv, dout, q, k, v}))
    return st_attention_backward(ctx, dq, dk, dv, delta, dout, out, q, k, v, lse, key_mask, B, T, Hq, Hkv, D, scale);
  int64_t rows = (int64_t)B * T * Hq;
  attention_delta_kernel<<<(unsigned)ceil_div(rows, WARPS), WARPS * 32, 0, ctx->stream>>>(delta, dout, out, B, T, Hq, D);
  ST_LAUNCHED(op);
  return D == 64 ? tc_backward<64>(op, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale)
                 : tc_backward<128>(op, ctx, dq, dk, dv, delta, dout, q, k, v, lse, key_mask, B, T, Hq, Hkv, scale);
}
