// LoRA linear layer with a frozen (possibly quantized) base weight, forward and backward, plus the strided
// fp32 GEMM that does the skinny rank-r products.
//
// The fused product. Forward  y  = x·Wᵀ + s·xa·Bᵀ   is one GEMM over the concatenated reduction axis
//                                 = [x | s·xa] · [Wᵀ ; Bᵀ]          (K = in + r)
//                    backward dx = dy·W + s·g·A    = [dy | s·g] · [W ; A]   (K = out + r)
// so the LoRA term costs one or a few extra 32-wide k-tiles of the same tile loop and y is written once.
// The base weight is read in its stored format (bf16, Q8_0 or Q4_1, or f32) and expanded tile by tile into
// shared memory; a 32-wide k-tile in the forward is exactly one GGUF block per weight row.
//
// Three precisions:
//  - ST_PREC_F32: the fused tile kernel in SIMT fp32, each thread owns a 4×4 sub-tile (exact fp32 math:
//    meets the fp32 reference bounds).
//  - ST_PREC_BF16_TILED: the same fused tile kernel on tensor cores (WMMA 16×16×16 bf16 → fp32; 8 warps
//    each own a 16×32 strip); quantized W is expanded per tile in shared memory, never in device memory.
//  - ST_PREC_BF16: the speed path. The base product goes through cuBLAS (bf16 in, fp32 accumulate): x or
//    dy is cast to bf16 and a quantized W is expanded once per call into a bf16 copy in the context's
//    workspace (QLoRA style); the rank-r terms stay fp32 and are added by the strided GEMM.
// Tile geometry: 64×64 output tile per block, 256 threads, k-tiles of 32.
// Shared-memory tiles: Xs[m][k] (row-major, what WMMA's matrix_a wants) and Wt[k][p] (row-major matrix_b);
// both directions of the base weight are written into Wt[k][p] by the loader, so one compute loop serves
// the forward and the backward.
#include "common.cuh"
#include <mma.h>

#define BM 64
#define BP 64
#define BKT 32

struct TileArgs {
  const float *X;   // [M, K]   x (forward) or dy (backward)
  const void *W;    // [out, in] base weight
  int wtype;
  int in, out;      // W shape
  const float *L;   // [M, r]   xa (forward) or g (backward)
  const float *R;   // B [out, r] (forward) or A [r, in] (backward)
  int r;
  float s;
  int M, K, P;      // output [M, P], base reduction length K
  bool backward;
  float *Y;         // [M, P]
};

template <typename T> __device__ __forceinline__ T cvt(float f);
template <> __device__ __forceinline__ float cvt<float>(float f) { return f; }
template <> __device__ __forceinline__ __nv_bfloat16 cvt<__nv_bfloat16>(float f) { return __float2bfloat16_rn(f); }

// Fills Xs[BM][LDX] and Wt[BKT][LDW] for k-tile kt; tiles past the base reduction are the LoRA tiles.
template <typename T, int LDX, int LDW>
__device__ void load_tiles(T *Xs, T *Wt, const TileArgs &a, int m0, int p0, int kt, int ktiles_base) {
  int tid = threadIdx.x;
  bool lora = kt >= ktiles_base;
  // X tile: 64 rows × 32 k, 8 consecutive k per thread
  {
    int m = tid / 4, k8 = (tid % 4) * 8;
    int64_t gm = m0 + m;
#pragma unroll
    for (int i = 0; i < 8; i++) {
      float v = 0.0f;
      if (!lora) {
        int k = kt * BKT + k8 + i;
        if (gm < a.M && k < a.K) v = a.X[gm * a.K + k];
      } else {
        int kl = (kt - ktiles_base) * BKT + k8 + i;
        if (gm < a.M && kl < a.r) v = a.s * a.L[gm * a.r + kl];
      }
      Xs[m * LDX + k8 + i] = cvt<T>(v);
    }
  }
  // W tile as Wt[k][p]
  float v[8];
  if (!a.backward) {
    // forward: Wt[k][p] = W[p0+p][k0+k] (base) or B[p0+p][kl] (LoRA); a thread takes 8 k of one p
    int p = tid / 4, k8 = (tid % 4) * 8;
    int64_t gp = p0 + p;
    if (!lora) {
      if (gp < a.P) load8(v, a.W, a.wtype, a.in, gp, kt * BKT + k8);
      else for (int i = 0; i < 8; i++) v[i] = 0.0f;
    } else {
      int kl = (kt - ktiles_base) * BKT + k8;
      for (int i = 0; i < 8; i++) v[i] = (gp < a.P && kl + i < a.r) ? a.R[gp * a.r + kl + i] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) Wt[(k8 + i) * LDW + p] = cvt<T>(v[i]);
  } else {
    // backward: Wt[k][p] = W[k0+k][p0+p] (base) or A[kl][p0+p] (LoRA); a thread takes 8 p of one k
    int k = tid / 8, p8 = (tid % 8) * 8;
    int gp = p0 + p8;  // P = in is a multiple of 32, so 8 columns are all in or all out
    if (!lora) {
      int64_t row = (int64_t)kt * BKT + k;
      if (row < a.K && gp < a.P) load8(v, a.W, a.wtype, a.in, row, gp);
      else for (int i = 0; i < 8; i++) v[i] = 0.0f;
    } else {
      int kl = (kt - ktiles_base) * BKT + k;
      for (int i = 0; i < 8; i++) v[i] = (kl < a.r && gp + i < a.P) ? a.R[(int64_t)kl * a.P + gp + i] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) Wt[k * LDW + p8 + i] = cvt<T>(v[i]);
  }
}

__global__ void __launch_bounds__(256) lora_tile_f32_kernel(TileArgs a) {
  constexpr int LDX = BKT + 1, LDW = BP + 4;
  __shared__ float Xs[BM * LDX];
  __shared__ __align__(16) float Wt[BKT * LDW];
  int m0 = blockIdx.y * BM, p0 = blockIdx.x * BP;
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  int kb = (int)ceil_div(a.K, BKT), kl = (int)ceil_div(a.r, BKT);
  for (int kt = 0; kt < kb + kl; kt++) {
    load_tiles<float, LDX, LDW>(Xs, Wt, a, m0, p0, kt, kb);
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < BKT; k++) {
      float4 w = *reinterpret_cast<const float4 *>(&Wt[k * LDW + tx * 4]);
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float x = Xs[(ty * 4 + i) * LDX + k];
        acc[i][0] += x * w.x; acc[i][1] += x * w.y; acc[i][2] += x * w.z; acc[i][3] += x * w.w;
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int64_t m = m0 + ty * 4 + i;
    if (m >= a.M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int p = p0 + tx * 4 + j;
      if (p < a.P) a.Y[m * a.P + p] = acc[i][j];
    }
  }
}

__global__ void __launch_bounds__(256) lora_tile_bf16_kernel(TileArgs a) {
  using namespace nvcuda;
  constexpr int LDX = BKT + 8, LDW = BP + 8, LDC = BP + 4;  // +16 bytes per row: fewer bank conflicts
  __shared__ __align__(128) __nv_bfloat16 Xs[BM * LDX];
  __shared__ __align__(128) __nv_bfloat16 Wt[BKT * LDW];
  __shared__ __align__(128) float Cs[BM * LDC];
  int m0 = blockIdx.y * BM, p0 = blockIdx.x * BP;
  int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[2];
  wmma::fill_fragment(c[0], 0.0f);
  wmma::fill_fragment(c[1], 0.0f);
  int kb = (int)ceil_div(a.K, BKT), kl = (int)ceil_div(a.r, BKT);
  for (int kt = 0; kt < kb + kl; kt++) {
    load_tiles<__nv_bfloat16, LDX, LDW>(Xs, Wt, a, m0, p0, kt, kb);
    __syncthreads();
#pragma unroll
    for (int k16 = 0; k16 < BKT; k16 += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
      wmma::load_matrix_sync(fa, Xs + (16 * wm) * LDX + k16, LDX);
#pragma unroll
      for (int f = 0; f < 2; f++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
        wmma::load_matrix_sync(fb, Wt + k16 * LDW + 32 * wn + 16 * f, LDW);
        wmma::mma_sync(c[f], fa, fb, c[f]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int f = 0; f < 2; f++)
    wmma::store_matrix_sync(Cs + (16 * wm) * LDC + 32 * wn + 16 * f, c[f], LDC, wmma::mem_row_major);
  __syncthreads();
  for (int i = threadIdx.x; i < BM * BP; i += blockDim.x) {
    int mm = i / BP, pp = i % BP;
    int64_t m = m0 + mm;
    int p = p0 + pp;
    if (m < a.M && p < a.P) a.Y[m * a.P + p] = Cs[mm * LDC + pp];
  }
}

static int launch_tile(const char *op, st_ctx *ctx, const TileArgs &a, int precision) {
  dim3 grid((unsigned)ceil_div(a.P, BP), (unsigned)ceil_div(a.M, BM));
  ST_CHECK(op, grid.y <= 65535, "too many rows (%d) for one launch", a.M);
  if (precision == ST_PREC_BF16) lora_tile_bf16_kernel<<<grid, 256, 0, ctx->stream>>>(a);
  else lora_tile_f32_kernel<<<grid, 256, 0, ctx->stream>>>(a);
  ST_LAUNCHED(op);
  return ST_OK;
}

// ---------------------------------------------------------------------------------------------------
// Strided fp32 GEMM for the rank-r products. 64×64 tile, 256 threads × 4×4 outputs, k-tiles of 16.
// These products are skinny (one side is r ≤ 256) with a long reduction (tokens or features), so the
// reduction is split over gridDim.z until the grid has ~2 waves; partial sums meet with atomicAdd.
__global__ void __launch_bounds__(256) sgemm_strided_kernel(float *C, int ldc, const float *U, int64_t su0, int64_t su1,
                                                            const float *V, int64_t sv0, int64_t sv1, int M, int P,
                                                            int K, float alpha, int kchunk, int mode) {
  __shared__ __align__(16) float Us[16][BM + 4];
  __shared__ __align__(16) float Vs[16][BP + 4];
  int m0 = blockIdx.y * BM, p0 = blockIdx.x * BP;
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int kbeg = blockIdx.z * kchunk, kend = min(K, kbeg + kchunk);
  float acc[4][4] = {};
  for (int k0 = kbeg; k0 < kend; k0 += 16) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
      int idx = threadIdx.x + 256 * i;
      int kk = idx / 64, mm = idx % 64;
      int k = k0 + kk;
      Us[kk][mm] = (k < kend && m0 + mm < M) ? U[(int64_t)(m0 + mm) * su0 + (int64_t)k * su1] : 0.0f;
      Vs[kk][mm] = (k < kend && p0 + mm < P) ? V[(int64_t)k * sv0 + (int64_t)(p0 + mm) * sv1] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < 16; k++) {
      float4 u = *reinterpret_cast<const float4 *>(&Us[k][ty * 4]);
      float4 v = *reinterpret_cast<const float4 *>(&Vs[k][tx * 4]);
      float uu[4] = {u.x, u.y, u.z, u.w}, vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += uu[i] * vv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int p = p0 + tx * 4 + j;
      if (p >= P) continue;
      float *c = C + (int64_t)m * ldc + p;
      if (mode == 2) atomicAdd(c, alpha * acc[i][j]);
      else if (mode == 1) *c += alpha * acc[i][j];
      else *c = alpha * acc[i][j];
    }
  }
}

extern "C" int st_sgemm_strided(st_ctx *ctx, float *C, int ldc, const float *U, int64_t su0, int64_t su1,
                                const float *V, int64_t sv0, int64_t sv1, int M, int P, int K, float alpha,
                                int accumulate) {
  const char *op = "st_sgemm_strided";
  ST_CTX(op);
  ST_CHECK(op, C && U && V && M > 0 && P > 0 && K > 0 && ldc >= P, "bad arguments M=%d P=%d K=%d ldc=%d", M, P, K,
           ldc);
  int64_t tiles = ceil_div(M, BM) * ceil_div(P, BP);
  ST_CHECK(op, ceil_div(M, BM) <= 65535, "M=%d too large", M);
  int64_t splits = 1;
  if (tiles < 264) splits = std::min<int64_t>(ceil_div(K, 256), ceil_div(264, tiles));
  if (splits < 1) splits = 1;
  int kchunk = (int)(ceil_div(ceil_div(K, splits), 16) * 16);
  splits = ceil_div(K, kchunk);
  int mode = accumulate ? 1 : 0;
  if (splits > 1) {
    if (!accumulate) ST_CUDA(op, cudaMemset2DAsync(C, (size_t)ldc * 4, 0, (size_t)P * 4, M, ctx->stream));
    mode = 2;
  }
  dim3 grid((unsigned)ceil_div(P, BP), (unsigned)ceil_div(M, BM), (unsigned)splits);
  sgemm_strided_kernel<<<grid, 256, 0, ctx->stream>>>(C, ldc, U, su0, su1, V, sv0, sv1, M, P, K, alpha, kchunk, mode);
  ST_LAUNCHED(op);
  return ST_OK;
}

// ---------------------------------------------------------------------------------------------------
// W [rows, cols] in any format -> bf16 copy; one thread per 8 consecutive weights (one quarter block).
__global__ void dequant_bf16_kernel(__nv_bfloat16 *dst, const void *W, int wtype, int64_t rows, int cols) {
  int64_t units = rows * (cols / 8);
  for (int64_t u = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; u < units; u += (int64_t)gridDim.x * blockDim.x) {
    int64_t row = u / (cols / 8);
    int col = (int)(u % (cols / 8)) * 8;
    float v[8];
    load8(v, W, wtype, cols, row, col);
#pragma unroll
    for (int i = 0; i < 8; i++) dst[row * cols + col + i] = __float2bfloat16_rn(v[i]);
  }
}

// bf16 view of W: W itself when stored as bf16, else a copy expanded into the workspace at `at`.
static int weight_bf16(st_ctx *ctx, const char *op, const void *W, int wtype, int out, int in, void *at,
                       const uint16_t **Wb) {
  if (wtype == ST_W_BF16) {
    *Wb = (const uint16_t *)W;
    return ST_OK;
  }
  int64_t units = (int64_t)out * (in / 8);
  int64_t g = ceil_div(units, 256);
  dequant_bf16_kernel<<<(unsigned)(g > 65535 ? 65535 : g), 256, 0, ctx->stream>>>((__nv_bfloat16 *)at, W, wtype, out, in);
  ST_LAUNCHED(op);
  *Wb = (const uint16_t *)at;
  return ST_OK;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

// ---------------------------------------------------------------------------------------------------
// The cuBLAS path's operands: bf16(act) [rows, cols] and W as bf16 (a quantized W expanded) in the workspace.
// The workspace of a cuBLAS bf16 product: [bf16 activations | W expanded to bf16 (a quantized W only) | extra].
static int bf16_workspace(const char *op, st_ctx *ctx, int64_t act_elems, int wtype, int out, int in, size_t extra,
                          uint16_t **actb, void **wb_at, void **extra_at) {
  size_t ab_bytes = align256((size_t)act_elems * 2), wb_bytes = wtype == ST_W_BF16 ? 0 : align256((size_t)out * in * 2);
  int rc = st_workspace(ctx, ab_bytes + wb_bytes + extra, op);
  if (rc) return rc;
  *actb = (uint16_t *)ctx->ws;
  *wb_at = (char *)ctx->ws + ab_bytes;
  if (extra_at) *extra_at = (char *)ctx->ws + ab_bytes + wb_bytes;
  return ST_OK;
}

static int bf16_operands(const char *op, st_ctx *ctx, const float *act, int rows, int cols, const void *W, int wtype,
                         int out, int in, uint16_t **actb, const uint16_t **Wb) {
  void *wb_at;
  int rc = bf16_workspace(op, ctx, (int64_t)rows * cols, wtype, out, in, 0, actb, &wb_at, nullptr);
  if (rc) return rc;
  if ((rc = st_cast_f32_to_bf16(ctx, *actb, act, (int64_t)rows * cols))) return rc;
  return weight_bf16(ctx, op, W, wtype, out, in, wb_at, Wb);
}

extern "C" int st_lora_forward(st_ctx *ctx, float *y, float *xa, const float *x, const void *W, int wtype,
                               const float *A, const float *B, float scale, int N, int in, int out, int r,
                               int precision) {
  const char *op = "st_lora_forward";
  int rc = check_lora(op, ctx, W, wtype, N, in, out, r, precision);
  if (rc) return rc;
  ST_CHECK(op, y && x && (r == 0 || (xa && A && B)), "NULL buffer");
  // xa = x·Aᵀ : U = x [N,in], V[k=i][p=j] = A[j,i]
  if (r > 0 && (rc = st_sgemm_strided(ctx, xa, r, x, in, 1, A, 1, in, N, r, in, 1.0f, 0))) return rc;
  if (precision != ST_PREC_BF16) {
    TileArgs a{x, W, wtype, in, out, xa, B, r, scale, N, in, out, false, y};
    return launch_tile(op, ctx, a, precision == ST_PREC_F32 ? ST_PREC_F32 : ST_PREC_BF16);
  }
  // cuBLAS path: y = bf16(x)·bf16(W)ᵀ, then y += s·xa·Bᵀ in fp32
  uint16_t *xb;
  const uint16_t *Wb;
  if ((rc = bf16_operands(op, ctx, x, N, in, W, wtype, out, in, &xb, &Wb))) return rc;
  if ((rc = st_matmul_bf16(ctx, y, 0, xb, Wb, N, out, in, 0, 1, 1.0f, 0.0f))) return rc;
  // U = xa [N,r], V[k=j][p=o] = B[o,j]
  if (r > 0 && (rc = st_sgemm_strided(ctx, y, out, xa, r, 1, B, 1, r, N, out, r, scale, 1))) return rc;
  return ST_OK;
}

extern "C" int st_lora_backward(st_ctx *ctx, float *dx, float *dA, float *dB, float *g, const float *dy, const float *x,
                                const float *xa, const void *W, int wtype, const float *A, const float *B, float scale,
                                int N, int in, int out, int r, int precision, int accumulate) {
  const char *op = "st_lora_backward";
  int rc = check_lora(op, ctx, W, wtype, N, in, out, r, precision);
  if (rc) return rc;
  // r = 0: the backward of the plain frozen matmul, dx = dy·W only (the other buffers may be NULL)
  ST_CHECK(op, dy && (r == 0 ? dx != nullptr : (dA && dB && g && x && xa && A && B)), "NULL buffer");
  // g = dy·B : U = dy [N,out], V[k=o][p=j] = B[o,j]
  if (r > 0 && (rc = st_sgemm_strided(ctx, g, r, dy, out, 1, B, r, 1, N, r, out, 1.0f, 0))) return rc;
  if (dx && precision != ST_PREC_BF16) {
    TileArgs a{dy, W, wtype, in, out, g, A, r, scale, N, out, in, true, dx};
    if ((rc = launch_tile(op, ctx, a, precision == ST_PREC_F32 ? ST_PREC_F32 : ST_PREC_BF16))) return rc;
  } else if (dx) {
    // cuBLAS path: dx = bf16(dy)·bf16(W), then dx += s·g·A in fp32
    if ((rc = st_matmul_backward_bf16(ctx, dx, dy, W, wtype, N, in, out, 0))) return rc;
    // U = g [N,r], V[k=j][p=i] = A[j,i]
    if (r > 0 && (rc = st_sgemm_strided(ctx, dx, in, g, r, 1, A, in, 1, N, in, r, scale, 1))) return rc;
  }
  if (r == 0) return ST_OK;
  // dA (+)= s·gᵀ·x : U[m=j][k=n] = g[n,j], V[k=n][p=i] = x[n,i]
  if ((rc = st_sgemm_strided(ctx, dA, in, g, 1, r, x, in, 1, r, in, N, scale, accumulate))) return rc;
  // dB (+)= s·dyᵀ·xa : U[m=o][k=n] = dy[n,o], V[k=n][p=j] = xa[n,j]
  if ((rc = st_sgemm_strided(ctx, dB, r, dy, 1, out, xa, r, 1, out, r, N, scale, accumulate))) return rc;
  return ST_OK;
}

// The frozen product on cuBLAS bf16 in either direction: forward y (+)= bf16(x)·bf16(W)ᵀ, backward
// dx (+)= bf16(dy)·bf16(W). The accumulation is cuBLAS's beta, in fp32 in the GEMM's epilogue: a LoRA term written
// into the output first costs no separate read-modify-write pass of it.
static int frozen_bf16(const char *op, st_ctx *ctx, float *out_, const float *act, const void *W, int wtype, int N,
                       int in, int out, bool backward, int accumulate) {
  int rc = check_lora(op, ctx, W, wtype, N, in, out, 0, ST_PREC_BF16);
  if (rc) return rc;
  ST_CHECK(op, out_ && act, "NULL buffer");
  uint16_t *ab;
  const uint16_t *Wb;
  if ((rc = bf16_operands(op, ctx, act, N, backward ? out : in, W, wtype, out, in, &ab, &Wb))) return rc;
  return st_matmul_bf16(ctx, out_, 0, ab, Wb, N, backward ? in : out, backward ? out : in, 0, backward ? 0 : 1, 1.0f,
                        accumulate ? 1.0f : 0.0f);
}

extern "C" int st_matmul_backward_bf16(st_ctx *ctx, float *dx, const float *dy, const void *W, int wtype, int N,
                                       int in, int out, int accumulate) {
  return frozen_bf16("st_matmul_backward_bf16", ctx, dx, dy, W, wtype, N, in, out, true, accumulate);
}

extern "C" int st_matmul_forward_bf16(st_ctx *ctx, float *y, const float *x, const void *W, int wtype, int N, int in,
                                      int out, int accumulate) {
  return frozen_bf16("st_matmul_forward_bf16", ctx, y, x, W, wtype, N, in, out, false, accumulate);
}

// The same two products on activations already in bf16 (a copy a producer wrote, or one cast made once for several
// layers reading the same input): only W goes through the workspace, and only when it is quantized.
static int frozen_bf16_act(const char *op, st_ctx *ctx, float *out_, const uint16_t *actb, const void *W, int wtype,
                           int N, int in, int out, bool backward, int accumulate) {
  int rc = check_lora(op, ctx, W, wtype, N, in, out, 0, ST_PREC_BF16);
  if (rc) return rc;
  ST_CHECK(op, out_ && actb, "NULL buffer");
  uint16_t *unused;
  void *wb_at;
  if ((rc = bf16_workspace(op, ctx, 0, wtype, out, in, 0, &unused, &wb_at, nullptr))) return rc;
  const uint16_t *Wb;
  if ((rc = weight_bf16(ctx, op, W, wtype, out, in, wb_at, &Wb))) return rc;
  return st_matmul_bf16(ctx, out_, 0, actb, Wb, N, backward ? in : out, backward ? out : in, 0, backward ? 0 : 1, 1.0f,
                        accumulate ? 1.0f : 0.0f);
}

extern "C" int st_matmul_forward_bf16_act(st_ctx *ctx, float *y, const uint16_t *xb, const void *W, int wtype, int N,
                                          int in, int out, int accumulate) {
  return frozen_bf16_act("st_matmul_forward_bf16_act", ctx, y, xb, W, wtype, N, in, out, false, accumulate);
}

extern "C" int st_matmul_backward_bf16_act(st_ctx *ctx, float *dx, const uint16_t *dyb, const void *W, int wtype,
                                           int N, int in, int out, int accumulate) {
  return frozen_bf16_act("st_matmul_backward_bf16_act", ctx, dx, dyb, W, wtype, N, in, out, true, accumulate);
}

// ---------------------------------------------------------------------------------------------------
// The bf16 LoRA layer with fp32 rank-r kernels (r in {8, 16, 32, 64}). Measured on an H200 (ncu, one 1B step):
// cuBLAS ran the skinny products as TF32 CUTLASS kernels plus split-K reductions, 9.4 ms of a 39 ms step for
// ~0.3 TFLOP, while moving the activations they read once takes ~4 ms. These three kernels are memory-bound by
// design, exact fp32 FMA (no TF32 rounding), and deterministic (split partial sums meet in a fixed order):
//  - rows:   C[m, j] = α Σ_k X[m, k]·S(k, j)       X [M, K] row-major, S(k, j) = S[k·s_k + j·s_j]; also writes
//            bf16(X) when asked, so the frozen GEMM's cast of its input costs no extra read of X
//  - expand: C[m, p] (+)= α Σ_j L[m, j]·T(j, p)    L [M, R], T(j, p) = T[j·t_j + p·t_p], C [M, P]
//  - colsum: G(c, j) (+)= α Σ_n X[n, c]·L[n, j]    X [N, D], L [N, R], G(c, j) = G[c·g_c + j·g_j]
#define LR_THREADS 256

// rows: 8 warps × RW rows per block. A k-tile of KT columns: each lane loads a float4 of each of its RW rows per
// 128 columns, all before any use (KT/128·RW float4 in flight per thread: the kernel is latency-bound otherwise),
// writes their bf16 copies, then multiplies them with S's tile, which sits in shared memory as Ss[j][k] (a row
// stride of KT + 4 keeps the float4 reads aligned and spreads the j-fastest stores over the banks).
template <int R> struct RowsTile {
  static constexpr int RW = 64 / R > 0 ? 64 / R : 1;
  static constexpr int KT = R <= 16 ? 512 : R == 32 ? 256 : 128;
};

template <int R>
__global__ void __launch_bounds__(LR_THREADS) lowrank_rows_kernel(float *__restrict__ part, const float *__restrict__ X,
                                                                 int M, int K, const float *__restrict__ S, int64_t s_k,
                                                                 int64_t s_j, int kchunk, __nv_bfloat16 *__restrict__ Xb) {
  constexpr int RW = RowsTile<R>::RW, KT = RowsTile<R>::KT, NT = KT / 128;
  __shared__ __align__(16) float Ss[R][KT + 4];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int64_t row0 = (int64_t)blockIdx.x * (8 * RW) + warp * RW;
  int kbeg = blockIdx.y * kchunk, kend = min(K, kbeg + kchunk);
  float acc[RW][R];
#pragma unroll
  for (int i = 0; i < RW; i++)
#pragma unroll
    for (int j = 0; j < R; j++) acc[i][j] = 0.0f;
  for (int k0 = kbeg; k0 < kend; k0 += KT) {
    for (int e = threadIdx.x; e < KT * R; e += LR_THREADS) {
      // consecutive threads walk S's unit-stride axis: coalesced reads of A [r, in] and of B [out, r] alike
      int kk = s_k == 1 ? e % KT : e / R, j = s_k == 1 ? e / KT : e % R;
      int k = k0 + kk;
      Ss[j][kk] = k < kend ? S[(int64_t)k * s_k + (int64_t)j * s_j] : 0.0f;
    }
    float4 xv[RW][NT];
#pragma unroll
    for (int i = 0; i < RW; i++)
#pragma unroll
      for (int t = 0; t < NT; t++) {
        int k = k0 + 4 * lane + 128 * t;  // K % 4 == 0 and kend too: a float4 is all in or all out
        int64_t row = row0 + i;
        xv[i][t] = (row < M && k < kend) ? *reinterpret_cast<const float4 *>(X + row * K + k)
                                         : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      }
    if (Xb) {
#pragma unroll
      for (int i = 0; i < RW; i++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
          int k = k0 + 4 * lane + 128 * t;
          int64_t row = row0 + i;
          if (row < M && k < kend) {
            __nv_bfloat162 lo = __floats2bfloat162_rn(xv[i][t].x, xv[i][t].y);
            __nv_bfloat162 hi = __floats2bfloat162_rn(xv[i][t].z, xv[i][t].w);
            uint2 v;
            v.x = *reinterpret_cast<uint32_t *>(&lo);
            v.y = *reinterpret_cast<uint32_t *>(&hi);
            *reinterpret_cast<uint2 *>(Xb + row * K + k) = v;
          }
        }
    }
    __syncthreads();
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
      for (int j = 0; j < R; j++) {
        float4 sv = *reinterpret_cast<const float4 *>(&Ss[j][4 * lane + 128 * t]);
#pragma unroll
        for (int i = 0; i < RW; i++) {
          float a = acc[i][j];
          a = fmaf(xv[i][t].x, sv.x, a);
          a = fmaf(xv[i][t].y, sv.y, a);
          a = fmaf(xv[i][t].z, sv.z, a);
          a = fmaf(xv[i][t].w, sv.w, a);
          acc[i][j] = a;
        }
      }
    }
    __syncthreads();
  }
  // lane sums (fixed butterfly order), lane 0 writes this split's partial row
#pragma unroll
  for (int i = 0; i < RW; i++)
#pragma unroll
    for (int j = 0; j < R; j++) {
      float v = acc[i][j];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      acc[i][j] = v;
    }
  if (lane == 0) {
#pragma unroll
    for (int i = 0; i < RW; i++) {
      int64_t row = row0 + i;
      if (row >= M) continue;
#pragma unroll
      for (int j = 0; j < R; j++) part[((int64_t)blockIdx.y * M + row) * R + j] = acc[i][j];
    }
  }
}

// out[e] = α Σ_z part[z·n + e] (+ out[e]), z in order: the splits of rows/colsum meet deterministically.
__global__ void lowrank_sum_kernel(float *out, const float *part, int64_t n, int splits, float alpha, int accumulate) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int z = 0; z < splits; z++) s += part[z * n + e];
    out[e] = accumulate ? out[e] + alpha * s : alpha * s;
  }
}

// expand: 128 columns × 32 rows per block; a thread owns 4 consecutive columns (one float4 store) of 4 rows.
template <int R>
__global__ void __launch_bounds__(LR_THREADS) lowrank_expand_kernel(float *C, const float *L, const float *T,
                                                                   int64_t t_j, int64_t t_p, int M, int P, float alpha,
                                                                   int accumulate) {
  __shared__ __align__(16) float Ts[R][128];
  __shared__ float Ls[32][R + 1];
  int p0 = blockIdx.x * 128, m0 = blockIdx.y * 32;
  for (int e = threadIdx.x; e < R * 128; e += LR_THREADS) {
    int j = t_j == 1 ? e % R : e / 128, pp = t_j == 1 ? e / R : e % 128;  // unit-stride axis first (coalesced)
    Ts[j][pp] = p0 + pp < P ? T[(int64_t)j * t_j + (int64_t)(p0 + pp) * t_p] : 0.0f;
  }
  for (int e = threadIdx.x; e < 32 * R; e += LR_THREADS) {
    int mm = e / R, j = e % R;
    Ls[mm][j] = m0 + mm < M ? L[(int64_t)(m0 + mm) * R + j] : 0.0f;
  }
  __syncthreads();
  int c4 = (threadIdx.x % 32) * 4, rg = threadIdx.x / 32;  // 8 row groups × 4 rows
  float acc[4][4] = {};
#pragma unroll
  for (int j = 0; j < R; j++) {
    float4 t = *reinterpret_cast<const float4 *>(&Ts[j][c4]);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      float l = Ls[rg * 4 + i][j];
      acc[i][0] = fmaf(l, t.x, acc[i][0]);
      acc[i][1] = fmaf(l, t.y, acc[i][1]);
      acc[i][2] = fmaf(l, t.z, acc[i][2]);
      acc[i][3] = fmaf(l, t.w, acc[i][3]);
    }
  }
  int p = p0 + c4;
  if (p >= P) return;  // P % 4 == 0: a float4 is all in or all out
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int64_t m = m0 + rg * 4 + i;
    if (m >= M) continue;
    float4 *c = reinterpret_cast<float4 *>(C + m * P + p);
    float4 v = make_float4(alpha * acc[i][0], alpha * acc[i][1], alpha * acc[i][2], alpha * acc[i][3]);
    if (accumulate) {
      float4 o = *c;
      v.x += o.x; v.y += o.y; v.z += o.z; v.w += o.w;
    }
    *c = v;
  }
}

// colsum: 256 columns per block (64 threads × float4) × 4 groups of R/4 j's; tokens split over gridDim.y. Eight
// token rows are loaded before they are used (8 float4 in flight per thread: latency-bound otherwise).
template <int R>
__global__ void __launch_bounds__(LR_THREADS) lowrank_colsum_kernel(float *__restrict__ part, const float *__restrict__ X,
                                                                   const float *__restrict__ L, int N, int D, int nchunk) {
  constexpr int RJ = R / 4, NB = 8;
  int c4 = (threadIdx.x % 64) * 4, jg = threadIdx.x / 64;
  int c = blockIdx.x * 256 + c4;
  int nbeg = blockIdx.y * nchunk, nend = min(N, nbeg + nchunk);
  float acc[4][RJ] = {};
  if (c >= D) return;
  for (int n0 = nbeg; n0 < nend; n0 += NB) {
    float4 x[NB];
    float l[NB][RJ];
#pragma unroll
    for (int b = 0; b < NB; b++) {
      int n = n0 + b;
      x[b] = n < nend ? *reinterpret_cast<const float4 *>(X + (int64_t)n * D + c) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
      for (int j = 0; j < RJ; j++) l[b][j] = n < nend ? L[(int64_t)n * R + jg * RJ + j] : 0.0f;
    }
#pragma unroll
    for (int b = 0; b < NB; b++)
#pragma unroll
      for (int j = 0; j < RJ; j++) {
        acc[0][j] = fmaf(x[b].x, l[b][j], acc[0][j]);
        acc[1][j] = fmaf(x[b].y, l[b][j], acc[1][j]);
        acc[2][j] = fmaf(x[b].z, l[b][j], acc[2][j]);
        acc[3][j] = fmaf(x[b].w, l[b][j], acc[3][j]);
      }
  }
#pragma unroll
  for (int q = 0; q < 4; q++)
#pragma unroll
    for (int j = 0; j < RJ; j++) part[((int64_t)blockIdx.y * D + c + q) * R + jg * RJ + j] = acc[q][j];
}

// part[z][c][j] summed over z into G(c, j) = G[c·g_c + j·g_j] (+=).
__global__ void lowrank_colsum_finish_kernel(float *G, int64_t g_c, int64_t g_j, const float *part, int D, int R,
                                             int splits, float alpha) {
  int64_t n = (int64_t)D * R;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int z = 0; z < splits; z++) s += part[z * n + e];
    int64_t c = e / R, j = e % R;
    G[c * g_c + j * g_j] += alpha * s;
  }
}

static unsigned lr_grid1(int64_t n) { int64_t g = ceil_div(n, 256); return (unsigned)(g < 1 ? 1 : g > 4096 ? 4096 : g); }

#define LR_DISPATCH(R, KERNEL, GRID, ...)                                                          \
  switch (R) {                                                                                     \
    case 8: KERNEL<8><<<GRID, LR_THREADS, 0, ctx->stream>>>(__VA_ARGS__); break;                    \
    case 16: KERNEL<16><<<GRID, LR_THREADS, 0, ctx->stream>>>(__VA_ARGS__); break;                  \
    case 32: KERNEL<32><<<GRID, LR_THREADS, 0, ctx->stream>>>(__VA_ARGS__); break;                  \
    default: KERNEL<64><<<GRID, LR_THREADS, 0, ctx->stream>>>(__VA_ARGS__); break;                  \
  }

// Grid shapes: k-tile width of rows, and how many splits of the reduction give the grid ~2-4 blocks per SM.
static int rows_kt(int R) { return R <= 16 ? 512 : R == 32 ? 256 : 128; }
static int rows_splits(int M, int K, int R) {
  int rw = 64 / R, blocks = (int)ceil_div(M, 8 * rw);
  int s = (int)std::min<int64_t>(ceil_div(K, rows_kt(R)), ceil_div(396, blocks));
  return s < 1 ? 1 : s;
}
static int rows_kchunk(int K, int splits, int R) { return (int)(ceil_div(ceil_div(K, splits), rows_kt(R)) * rows_kt(R)); }
static int colsum_splits(int N, int D) {
  int blocks = (int)ceil_div(D, 256);
  int s = (int)std::min<int64_t>(std::min<int64_t>(ceil_div(N, 64), ceil_div(528, blocks)), 64);
  return s < 1 ? 1 : s;
}

// C[M, R] = α X·S; Xb (may be NULL) receives bf16(X). part: workspace of rows_splits·M·R floats.
static int lr_rows(const char *op, st_ctx *ctx, float *C, const float *X, int M, int K, const float *S, int64_t s_k,
                   int64_t s_j, int R, float alpha, __nv_bfloat16 *Xb, float *part) {
  int splits = rows_splits(M, K, R), kchunk = rows_kchunk(K, splits, R);
  splits = (int)ceil_div(K, kchunk);
  dim3 grid((unsigned)ceil_div(M, 8 * (64 / R)), (unsigned)splits);
  LR_DISPATCH(R, lowrank_rows_kernel, grid, part, X, M, K, S, s_k, s_j, kchunk, Xb);
  ST_LAUNCHED(op);
  lowrank_sum_kernel<<<lr_grid1((int64_t)M * R), 256, 0, ctx->stream>>>(C, part, (int64_t)M * R, splits, alpha, 0);
  ST_LAUNCHED(op);
  return ST_OK;
}

static int lr_expand(const char *op, st_ctx *ctx, float *C, const float *L, const float *T, int64_t t_j, int64_t t_p,
                     int M, int P, int R, float alpha, int accumulate) {
  dim3 grid((unsigned)ceil_div(P, 128), (unsigned)ceil_div(M, 32));
  LR_DISPATCH(R, lowrank_expand_kernel, grid, C, L, T, t_j, t_p, M, P, alpha, accumulate);
  ST_LAUNCHED(op);
  return ST_OK;
}

static int lr_colsum(const char *op, st_ctx *ctx, float *G, int64_t g_c, int64_t g_j, const float *X, const float *L,
                     int N, int D, int R, float alpha, float *part) {
  int splits = colsum_splits(N, D), nchunk = (int)ceil_div(N, splits);
  splits = (int)ceil_div(N, nchunk);
  dim3 grid((unsigned)ceil_div(D, 256), (unsigned)splits);
  LR_DISPATCH(R, lowrank_colsum_kernel, grid, part, X, L, N, D, nchunk);
  ST_LAUNCHED(op);
  lowrank_colsum_finish_kernel<<<lr_grid1((int64_t)D * R), 256, 0, ctx->stream>>>(G, g_c, g_j, part, D, R, splits,
                                                                                   alpha);
  ST_LAUNCHED(op);
  return ST_OK;
}

// Bytes of workspace rows/colsum need for their partial sums, over every product of one layer.
static size_t lr_part_bytes(int N, int in, int out, int R) {
  int64_t rows = std::max<int64_t>((int64_t)rows_splits(N, in, R) * N * R, (int64_t)rows_splits(N, out, R) * N * R);
  int64_t cols = std::max<int64_t>((int64_t)colsum_splits(N, in) * in * R, (int64_t)colsum_splits(N, out) * out * R);
  return align256((size_t)std::max(rows, cols) * 4);
}

extern "C" int st_lora_linear_supported(int in, int out, int r) {
  return (r == 8 || r == 16 || r == 32 || r == 64) && in > 0 && out > 0 && in % 4 == 0 && out % 4 == 0;
}

extern "C" int st_lora_linear_forward(st_ctx *ctx, float *y, float *u, const float *x, const float *xl, const void *W,
                                      int wtype, const float *A, const float *B, float scale, int N, int in, int out,
                                      int r) {
  const char *op = "st_lora_linear_forward";
  int rc = check_lora_linear(op, ctx, W, wtype, N, in, out, r);
  if (rc) return rc;
  ST_CHECK(op, y && u && x && xl && A && B, "NULL buffer");
  ST_CHECK(op, (((uintptr_t)y | (uintptr_t)x | (uintptr_t)xl) & 15) == 0,
           "y, x and xl must be 16-byte aligned (float4 loads and stores)");
  uint16_t *xbits;
  void *wb_at, *part_at;
  if ((rc = bf16_workspace(op, ctx, (int64_t)N * in, wtype, out, in, lr_part_bytes(N, in, out, r), &xbits, &wb_at,
                           &part_at)))
    return rc;
  __nv_bfloat16 *xb = (__nv_bfloat16 *)xbits;
  float *part = (float *)part_at;
  // u = xl·Aᵀ (S(k=i, j) = A[j, i]); with no dropout the same pass writes bf16(x) for the frozen GEMM
  if ((rc = lr_rows(op, ctx, u, xl, N, in, A, 1, in, r, 1.0f, xl == x ? xb : nullptr, part))) return rc;
  if (xl != x && (rc = st_cast_f32_to_bf16(ctx, xbits, x, (int64_t)N * in))) return rc;
  // y = s·u·Bᵀ (T(j, o) = B[o, j]), then the frozen GEMM adds bf16(x)·bf16(W)ᵀ through beta = 1
  if ((rc = lr_expand(op, ctx, y, u, B, 1, r, N, out, r, scale, 0))) return rc;
  const uint16_t *Wb;
  if ((rc = weight_bf16(ctx, op, W, wtype, out, in, wb_at, &Wb))) return rc;
  return st_matmul_bf16(ctx, y, 0, xbits, Wb, N, out, in, 0, 1, 1.0f, 1.0f);
}

extern "C" int st_lora_linear_backward(st_ctx *ctx, float *dx, float *du, float *dA, float *dB, const float *dy,
                                       const float *x, const float *u, const void *W, int wtype, const float *A,
                                       const float *B, float scale, int N, int in, int out, int r, int accumulate) {
  const char *op = "st_lora_linear_backward";
  int rc = check_lora_linear(op, ctx, W, wtype, N, in, out, r);
  if (rc) return rc;
  ST_CHECK(op, dx && du && dA && dB && dy && x && u && A && B, "NULL buffer");
  ST_CHECK(op, (((uintptr_t)dx | (uintptr_t)dy | (uintptr_t)x) & 15) == 0,
           "dx, dy and x must be 16-byte aligned (float4 loads and stores)");
  uint16_t *ybits;
  void *wb_at, *part_at;
  if ((rc = bf16_workspace(op, ctx, (int64_t)N * out, wtype, out, in, lr_part_bytes(N, in, out, r), &ybits, &wb_at,
                           &part_at)))
    return rc;
  __nv_bfloat16 *yb = (__nv_bfloat16 *)ybits;
  float *part = (float *)part_at;
  // du = s·dy·B (S(k=o, j) = B[o, j]), writing bf16(dy) for the frozen GEMM on the way
  if ((rc = lr_rows(op, ctx, du, dy, N, out, B, r, 1, r, scale, yb, part))) return rc;
  // dB[o, j] += s·Σ_n dy[n, o]·u[n, j]
  if ((rc = lr_colsum(op, ctx, dB, r, 1, dy, u, N, out, r, scale, part))) return rc;
  // dx (+)= du·A (T(j, i) = A[j, i]); dA[j, i] += Σ_n x[n, i]·du[n, j]
  if ((rc = lr_expand(op, ctx, dx, du, A, in, 1, N, in, r, 1.0f, accumulate))) return rc;
  if ((rc = lr_colsum(op, ctx, dA, 1, in, x, du, N, in, r, 1.0f, part))) return rc;
  // dx += bf16(dy)·bf16(W) through beta = 1
  const uint16_t *Wb;
  if ((rc = weight_bf16(ctx, op, W, wtype, out, in, wb_at, &Wb))) return rc;
  return st_matmul_bf16(ctx, dx, 0, ybits, Wb, N, in, out, 0, 0, 1.0f, 1.0f);
}
