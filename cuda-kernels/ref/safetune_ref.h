/*
 * Plain C CPU references of every SafeTune kernel (same names as safetune_kernels.h with st_ref_ in place
 * of st_, same argument order and meaning, host pointers, no context). Written for clarity: double
 * accumulation, no tiling. The GPU test compares each kernel against these; ref_check.c checks each
 * backward here against finite differences of its forward.
 */
#ifndef SAFETUNE_REF_H
#define SAFETUNE_REF_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

float st_ref_bf16_to_f32(uint16_t h);
uint16_t st_ref_f32_to_bf16(float f);     /* round to nearest even (NaN kept quiet) */
float st_ref_f16_to_f32(uint16_t h);
uint16_t st_ref_f32_to_f16(float f);
/* expands row `row` of a [rows, cols] weight of type wtype (0 f32, 1 bf16, 2 Q8_0, 3 Q4_1) into out[cols] */
void st_ref_weight_row(float *out, const void *W, int wtype, int cols, int64_t row);
/* quantizes a float matrix [rows, cols] into wtype blocks (the GGUF reference quantizers) */
void st_ref_quantize(void *dst, const float *src, int wtype, int64_t rows, int cols);

void st_ref_matmul_bf16(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, int trans_a, int trans_b,
                        float alpha, float beta);
void st_ref_lora_forward(float *y, float *xa, const float *x, const void *W, int wtype, const float *A, const float *B,
                         float scale, int N, int in, int out, int r);
void st_ref_lora_backward(float *dx, float *dA, float *dB, float *g, const float *dy, const float *x, const float *xa,
                          const void *W, int wtype, const float *A, const float *B, float scale, int N, int in, int out,
                          int r, int accumulate);
void st_ref_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
void st_ref_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                             int N, int C);
/* inv_freq[i] = 1/theta^(2i/D) in fp32, as HF (and the CPU backend) compute it */
void st_ref_rope_inv_freq(float *inv_freq, int D, double theta);
void st_ref_rope_forward(float *out, const float *in, const int32_t *pos, const float *inv_freq, int N, int H, int D);
void st_ref_rope_backward(float *din, const float *dout, const int32_t *pos, const float *inv_freq, int N, int H, int D);
void st_ref_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                              const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv, int D,
                              float scale);
void st_ref_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale);
void st_ref_add(float *out, const float *a, const float *b, int64_t n);
void st_ref_softmax_forward(float *out, const float *x, int N, int V);
void st_ref_logsumexp(float *out, const float *x, int N, int V);
void st_ref_swiglu_forward(float *h, const float *gate, const float *up, int64_t n);
void st_ref_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n);
/* u_i = the i-th nextDouble() of Java's SplittableRandom(seed); out[i] = in[i] * (u_i < p ? 0 : 1/(1-p)) */
double st_ref_dropout_uniform(uint64_t seed, uint64_t i);
void st_ref_dropout(float *out, const float *in, int64_t n, uint64_t seed, float p);
void st_ref_cross_entropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets,
                                  const uint8_t *mask, int N, int V);
void st_ref_cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                   const uint8_t *mask, float grad_scale, int N, int V);
void st_ref_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int t, float grad_scale);
void st_ref_embedding_forward(float *out, const int32_t *ids, const void *table, int wtype, int N, int V, int C);
void st_ref_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V, int C);

#ifdef __cplusplus
}
#endif
#endif
