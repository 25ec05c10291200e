/*
 * SafeTune CUDA kernels: C API.
 *
 * Every function returns ST_OK (0) or an error code; on error st_last_error() returns a message naming
 * the op and the CUDA/cuBLAS error string (thread-local, valid until the next failing call on that
 * thread). No function exits the process.
 *
 * Conventions (llm.c style): row-major flat buffers; N = rows (tokens = B*T), shapes in element counts.
 * Activations and LoRA parameters are fp32; the frozen base weight may be bf16 or GGUF Q4_1 / Q8_0
 * blocks (32 weights per block along the input dimension, rows contiguous). Every op runs on the
 * context's stream (one context per trainer) and is asynchronous unless its comment says otherwise.
 */
#ifndef SAFETUNE_KERNELS_H
#define SAFETUNE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* exported symbols: the library is built with -fvisibility=hidden */
#if defined(__GNUC__)
#define ST_API __attribute__((visibility("default")))
#else
#define ST_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum st_status { ST_OK = 0, ST_ERR_ARG = 1, ST_ERR_CUDA = 2, ST_ERR_CUBLAS = 3, ST_ERR_NO_DEVICE = 4 };

/* dtype of a frozen base weight */
enum st_wtype { ST_W_F32 = 0, ST_W_BF16 = 1, ST_W_Q8_0 = 2, ST_W_Q4_1 = 3 };
/* arithmetic of the LoRA linear (lora.cu):
 *  ST_PREC_F32        fused tile kernel, fp32 FMA (exact fp32; W expanded per tile in shared memory)
 *  ST_PREC_BF16       cuBLAS bf16 tensor cores, fp32 accumulate; x/dy cast to bf16 and a quantized W expanded
 *                     to a bf16 copy in the context's workspace once per call; rank-r terms in fp32
 *  ST_PREC_BF16_TILED fused tile kernel on tensor cores (WMMA bf16), W expanded per tile in shared memory */
enum st_precision { ST_PREC_F32 = 0, ST_PREC_BF16 = 1, ST_PREC_BF16_TILED = 2 };

typedef struct st_ctx st_ctx; /* one CUDA stream + one cuBLAS handle, bound to one device */

ST_API const char *st_last_error(void);

/* ---- device, context, memory ---- */
ST_API int st_device_count(int *count);                  /* any CUDA error (no driver, no GPU) is returned as ST_ERR_NO_DEVICE */
ST_API int st_device_name(int device, char *buf, int buflen);
ST_API int st_ctx_create(st_ctx **ctx, int device);
ST_API int st_ctx_destroy(st_ctx *ctx);
ST_API int st_ctx_sync(st_ctx *ctx);                     /* waits for the stream; reports asynchronous kernel errors */
ST_API int st_profiler_range(st_ctx *ctx, int start);  /* stream sync, then cudaProfilerStart (1) / Stop (0) */
ST_API void *st_ctx_stream(st_ctx *ctx);                 /* the context's cudaStream_t (for events, interop); NULL if ctx is NULL */
ST_API int st_malloc(st_ctx *ctx, void **ptr, size_t bytes);
ST_API int st_free(st_ctx *ctx, void *ptr);
ST_API int st_memcpy_h2d(st_ctx *ctx, void *dst, const void *src, size_t bytes);   /* synchronous */
ST_API int st_memcpy_d2h(st_ctx *ctx, void *dst, const void *src, size_t bytes);   /* synchronous */
ST_API int st_memcpy_d2d(st_ctx *ctx, void *dst, const void *src, size_t bytes);
ST_API int st_memset(st_ctx *ctx, void *ptr, int value, size_t bytes);
/* bytes of a [rows, cols] base weight of the given type (cols must be a multiple of 32 for Q types) */
ST_API size_t st_weight_bytes(int wtype, int64_t rows, int64_t cols);

/* ---- casts (casts.cu) ---- */
/* out must not alias in (different element sizes: the threads would race) */
ST_API int st_cast_f32_to_bf16(st_ctx *ctx, uint16_t *out, const float *in, int64_t n);   /* round to nearest even */
ST_API int st_cast_bf16_to_f32(st_ctx *ctx, float *out, const uint16_t *in, int64_t n);

/* ---- base GEMM through cuBLAS (gemm.cu): C[M,N] = alpha*op(A)·op(B) + beta*C, row-major,
 *      A is [M,K] (or [K,M] if trans_a), B is [K,N] (or [N,K] if trans_b), bf16 in, fp32 accumulate,
 *      C fp32 (c_bf16 = 0) or bf16 (c_bf16 = 1). ---- */
ST_API int st_matmul_bf16(st_ctx *ctx, void *C, int c_bf16, const uint16_t *A, const uint16_t *B,
                   int M, int N, int K, int trans_a, int trans_b, float alpha, float beta);

/* ---- fp32 GEMM through cuBLAS (gemm.cu, cublasSgemm without TF32), same convention: C[M,N] = alpha*op(A)·op(B)
 *      + beta*C, row-major fp32. Serves the LoRA rank-r products. ---- */
ST_API int st_sgemm(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                    int trans_b, float alpha, float beta);
/* the same with TF32 tensor-core inputs (CUBLAS_COMPUTE_32F_FAST_TF32): for the bf16 precisions */
ST_API int st_sgemm_tf32(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                         int trans_b, float alpha, float beta);

/* ---- small fp32 GEMM with arbitrary strides (lora.cu): C[m*ldc+p] = alpha*sum_k U[m*su0+k*su1]*V[k*sv0+p*sv1]
 *      (+ C if accumulate). Serves the skinny LoRA products (x·Aᵀ, dy·B, dyᵀ·xa, gᵀ·x). ---- */
ST_API int st_sgemm_strided(st_ctx *ctx, float *C, int ldc, const float *U, int64_t su0, int64_t su1,
                     const float *V, int64_t sv0, int64_t sv1, int M, int P, int K, float alpha, int accumulate);

/* ---- LoRA linear (lora.cu): W [out,in] frozen (wtype), A [r,in], B [out,r], scale s.
 * forward:  xa = x·Aᵀ [N,r] (kept for backward);  y = x·Wᵀ + s·xa·Bᵀ  [N,out]
 * backward: g = dy·B [N,r] (scratch, caller-owned);  dx = dy·W + s·g·A  [N,in]  (dx may be NULL)
 *           dA (+)= s·gᵀ·x [r,in];  dB (+)= s·dyᵀ·xa [out,r]  (accumulate = 1 adds to existing gradients)
 * in must be a multiple of 32; 0 <= r <= 256 (forward with r = 0 is the plain frozen matmul y = x·Wᵀ;
 * xa, A, B may then be NULL; backward with r = 0 writes only dx = dy·W, which must then be non-NULL, and
 * dA, dB, g, x, xa, A, B may be NULL). */
ST_API int st_lora_forward(st_ctx *ctx, float *y, float *xa, const float *x, const void *W, int wtype,
                    const float *A, const float *B, float scale, int N, int in, int out, int r, int precision);
ST_API int st_lora_backward(st_ctx *ctx, float *dx, float *dA, float *dB, float *g, const float *dy, const float *x,
                     const float *xa, const void *W, int wtype, const float *A, const float *B, float scale,
                     int N, int in, int out, int r, int precision, int accumulate);
/* The backward of the plain frozen matmul, dx (+)= dy·W, in ST_PREC_BF16 only (cuBLAS with beta = accumulate:
 * no scratch copy and no separate add for a residual-stream gradient). */
ST_API int st_matmul_backward_bf16(st_ctx *ctx, float *dx, const float *dy, const void *W, int wtype, int N, int in,
                                   int out, int accumulate);
/* The bf16 LoRA layer with fp32 rank-r kernels (exact fp32 FMA, deterministic) and the frozen product on cuBLAS
 * bf16, for r in {8, 16, 32, 64} and in, out multiples of 4 (st_lora_linear_supported); y, dx, dy, x 16-byte aligned.
 * forward:  u = xl·Aᵀ (xl = x, or its dropout-masked copy), y = s·u·Bᵀ + bf16(x)·bf16(W)ᵀ
 * backward (no dropout): du = s·dy·B, dB += s·dyᵀ·u, dx (+)= du·A + bf16(dy)·bf16(W), dA += duᵀ·x */
ST_API int st_lora_linear_supported(int in, int out, int r);
ST_API int st_lora_linear_forward(st_ctx *ctx, float *y, float *u, const float *x, const float *xl, const void *W,
                                  int wtype, const float *A, const float *B, float scale, int N, int in, int out, int r);
ST_API int st_lora_linear_backward(st_ctx *ctx, float *dx, float *du, float *dA, float *dB, const float *dy,
                                   const float *x, const float *u, const void *W, int wtype, const float *A,
                                   const float *B, float scale, int N, int in, int out, int r, int accumulate);
/* Its forward, y (+)= bf16(x)·bf16(W)ᵀ, ST_PREC_BF16 only: with accumulate = 1 cuBLAS adds what y holds (a LoRA
 * term computed first) in the GEMM's epilogue. */
ST_API int st_matmul_forward_bf16(st_ctx *ctx, float *y, const float *x, const void *W, int wtype, int N, int in,
                                  int out, int accumulate);
/* The two frozen products on activations already in bf16 (xb [N,in], dyb [N,out]: a copy written by
 * st_rmsnorm_forward_bf16 / st_swiglu_*_bf16, or one cast shared by the layers that read the same input), ST_PREC_BF16
 * only: the same cuBLAS product as st_matmul_forward_bf16 / st_matmul_backward_bf16 without their cast pass. */
ST_API int st_matmul_forward_bf16_act(st_ctx *ctx, float *y, const uint16_t *xb, const void *W, int wtype, int N,
                                      int in, int out, int accumulate);
ST_API int st_matmul_backward_bf16_act(st_ctx *ctx, float *dx, const uint16_t *dyb, const void *W, int wtype, int N,
                                       int in, int out, int accumulate);

/* ---- RMSNorm (rmsnorm.cu): y = x * rstd * w, rstd = 1/sqrt(mean(x²)+eps); x,y [N,C], rstd [N] saved.
 *      backward: dx [N,C]; dw (+)= sum_n dy*x*rstd if dw != NULL (accumulates) ---- */
ST_API int st_rmsnorm_forward(st_ctx *ctx, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* The same, also writing yb [N,C] = bf16(y) (round to nearest even, bit for bit what st_cast_f32_to_bf16 of y gives). */
ST_API int st_rmsnorm_forward_bf16(st_ctx *ctx, float *y, uint16_t *yb, float *rstd, const float *x, const float *w,
                                   int N, int C, float eps);
ST_API int st_rmsnorm_backward(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const float *rstd, int N, int C);
/* The same, adding to dx (the residual stream's gradient) instead of writing it; dx must not alias x or dy. */
ST_API int st_rmsnorm_backward_add(st_ctx *ctx, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                   const float *rstd, int N, int C);
/* The same, also writing dxb [N,C] = bf16 of the updated dx (bit for bit what st_cast_f32_to_bf16 of it gives). */
ST_API int st_rmsnorm_backward_add_bf16(st_ctx *ctx, float *dx, uint16_t *dxb, float *dw, const float *dy,
                                        const float *x, const float *w, const float *rstd, int N, int C);

/* ---- RoPE, HF rotate-half (rope.cu): x [N,H,D], out may equal in (in place); pos [N] int32;
 *      inv_freq [D/2] fp32 on the device (1/theta^(2i/D) as HF computes it in fp32, or a scaled variant):
 *      pair (i, i+D/2) rotated by the fp32 angle pos*inv_freq[i]. backward applies the inverse rotation. ---- */
ST_API int st_rope_forward(st_ctx *ctx, float *out, const float *in, const int32_t *pos, const float *inv_freq, int N,
                           int H, int D);
ST_API int st_rope_backward(st_ctx *ctx, float *din, const float *dout, const int32_t *pos, const float *inv_freq, int N,
                            int H, int D);

/* ---- causal grouped-query attention (attention.cu), the layout of core's AttentionShape:
 *      q, out [B,T,Hq,D]; k, v [B,cap,Hkv,D] of which the first Tk slots are filled; query i sits at slot
 *      q_start+i and sees slots j <= q_start+i, j < Tk, whose key_mask[b*cap+j] != 0 (key_mask NULL = all).
 *      lse [B,T,Hq] = log-sum-exp of the scaled scores (saved for backward); a query that sees no key gets
 *      zeros and lse = -inf. Online softmax over 32-key tiles: no T×T matrix is stored.
 *      1 <= D <= 128 (run at the next multiple of 32); Hq % Hkv == 0.
 *      backward (no cache: Tk = cap = T, q_start = 0): delta [B,T,Hq] scratch; dq, dk, dv written. ---- */
ST_API int st_attention_forward(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                                const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
                                int D, float scale);
ST_API int st_attention_backward(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                                 const float *out, const float *q, const float *k, const float *v, const float *lse,
                                 const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale);

/* The same two ops on tensor cores for the bf16 precisions: Q, K, V, dO and the probabilities / dS are rounded
 * to bf16 before each product (fp32 accumulation, softmax, lse), as bf16 flash attention does. Same arguments
 * and semantics; head dims other than 64 and 128, or buffers not 16-byte aligned, run the fp32 kernels. */
ST_API int st_attention_forward_bf16(st_ctx *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                                     const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv,
                                     int D, float scale);
ST_API int st_attention_backward_bf16(st_ctx *ctx, float *dq, float *dk, float *dv, float *delta, const float *dout,
                                      const float *out, const float *q, const float *k, const float *v, const float *lse,
                                      const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale);

/* ---- elementwise (elementwise.cu) ---- */
ST_API int st_add(st_ctx *ctx, float *out, const float *a, const float *b, int64_t n);    /* out may alias a or b */
ST_API int st_fill(st_ctx *ctx, float *out, float value, int64_t n);

/* ---- row softmax and log-sum-exp (softmax.cu): x [N,V]; out may alias x ---- */
ST_API int st_softmax_forward(st_ctx *ctx, float *out, const float *x, int N, int V);
ST_API int st_logsumexp(st_ctx *ctx, float *out, const float *x, int N, int V);

/* ---- SwiGLU (swiglu.cu): h = silu(gate) * up, all [N,C] ---- */
ST_API int st_swiglu_forward(st_ctx *ctx, float *h, const float *gate, const float *up, int64_t n);
ST_API int st_swiglu_backward(st_ctx *ctx, float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n);
/* The same, also writing bf16 copies of the outputs (hb = bf16(h); dgb, dub = bf16(dgate), bf16(dup); round to nearest
 * even, bit for bit what st_cast_f32_to_bf16 gives) for the frozen GEMMs that read them next. */
ST_API int st_swiglu_forward_bf16(st_ctx *ctx, float *h, uint16_t *hb, const float *gate, const float *up, int64_t n);
ST_API int st_swiglu_backward_bf16(st_ctx *ctx, float *dgate, float *dup, uint16_t *dgb, uint16_t *dub, const float *dh,
                                   const float *gate, const float *up, int64_t n);

/* ---- inverted dropout (dropout.cu): out[i] = in[i] * (u_i < p ? 0 : 1/(1-p)), u_i the i-th nextDouble() of Java's
 *      SplittableRandom(seed) (core's DropoutMask: the CPU backend's mask, bit for bit); out may alias in;
 *      0 <= p < 1. The backward applies the same call to the gradient. ---- */
ST_API int st_dropout(st_ctx *ctx, float *out, const float *in, int64_t n, uint64_t seed, float p);

/* ---- cross-entropy fused with softmax and the response mask (cross_entropy.cu): logits [N,V],
 *      targets [N] int32 (< 0: ignored), mask [N] uint8 or NULL (0: ignored).
 *      forward: losses[n] = lse - logit[target] (0 where ignored), lse [N] saved.
 *      backward: dlogits = (softmax - onehot(target)) * grad_scale where counted, 0 elsewhere;
 *      dlogits may alias logits (in place). ---- */
ST_API int st_cross_entropy_forward(st_ctx *ctx, float *losses, float *lse, const float *logits, const int32_t *targets,
                             const uint8_t *mask, int N, int V);
ST_API int st_cross_entropy_backward(st_ctx *ctx, float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, const uint8_t *mask, float grad_scale, int N, int V);
/* The backward also writing dlb [N,V] = bf16(dlogits) (bit for bit what st_cast_f32_to_bf16 of it gives), the input
 * of the head's frozen backward GEMM. */
ST_API int st_cross_entropy_backward_bf16(st_ctx *ctx, float *dlogits, uint16_t *dlb, const float *logits,
                                          const float *lse, const int32_t *targets, const uint8_t *mask,
                                          float grad_scale, int N, int V);

/* ---- AdamW, decoupled weight decay as torch.optim.AdamW (adamw.cu): step t >= 1;
 *      g is multiplied by grad_scale first (gradient clipping / accumulation). ---- */
ST_API int st_adamw_update(st_ctx *ctx, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t, float grad_scale);
/* sum of squares of g into *out (device float, accumulated: zero it first) — for the global grad norm */
ST_API int st_sumsq(st_ctx *ctx, float *out, const float *g, int64_t n);

/* multi-tensor forms, one launch per list: `table` is a DEVICE array of int64 words, per tensor {p, g, m, v, n}
 * (AdamW, same arguments for every tensor) or {p, n} (fill; sum of squares into out[i] per tensor, accumulated:
 * zero out first); max_n = the largest n. */
ST_API int st_adamw_update_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float lr, float beta1,
                                 float beta2, float eps, float weight_decay, int t, float grad_scale);
ST_API int st_fill_multi(st_ctx *ctx, const int64_t *table, int count, int64_t max_n, float value);
ST_API int st_sumsq_multi(st_ctx *ctx, float *out, const int64_t *table, int count, int64_t max_n);

/* ---- embedding (embedding.cu): out [N,C] = table[ids[n]] with table f32, bf16, Q8_0 or Q4_1 (any st_wtype; C % 32 == 0 for the GGUF blocks);
 *      ids outside [0,V) give NaN rows. backward: dtable[ids[n]] += dout[n] (fp32 table gradient). ---- */
ST_API int st_embedding_forward(st_ctx *ctx, float *out, const int32_t *ids, const void *table, int wtype, int N, int V, int C);
ST_API int st_embedding_backward(st_ctx *ctx, float *dtable, const float *dout, const int32_t *ids, int N, int V, int C);

#ifdef __cplusplus
}
#endif
#endif
