/* CPU references of the SafeTune kernels: the math written out once, plainly (see safetune_ref.h). */
#include "safetune_ref.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float st_ref_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }
uint16_t st_ref_f32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* NaN stays NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float st_ref_f16_to_f32(uint16_t h) {
  uint32_t s = (h >> 15) & 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v;
  if (e == 0) v = ldexpf((float)m, -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = ldexpf((float)(m | 0x400), (int)e - 25);
  return s ? -v : v;
}
uint16_t st_ref_f32_to_f16(float f) {
  /* via the exactly-rounding conversion of the C compiler when available */
#if defined(__FLT16_MAX__)
  _Float16 h = (_Float16)f;
  uint16_t u; memcpy(&u, &h, 2); return u;
#else
#error "needs _Float16 (gcc >= 12 on x86-64)"
#endif
}

typedef struct { uint16_t d; int8_t qs[32]; } __attribute__((packed)) q8_0_block;
typedef struct { uint16_t d, m; uint8_t qs[16]; } __attribute__((packed)) q4_1_block;

void st_ref_weight_row(float *out, const void *W, int wtype, int cols, int64_t row) {
  if (wtype == 0) { memcpy(out, (const float *)W + row * cols, (size_t)cols * 4); return; }
  if (wtype == 1) {
    const uint16_t *p = (const uint16_t *)W + row * cols;
    for (int i = 0; i < cols; i++) out[i] = st_ref_bf16_to_f32(p[i]);
    return;
  }
  int nb = cols / 32;
  for (int b = 0; b < nb; b++) {
    if (wtype == 2) {
      const q8_0_block *blk = (const q8_0_block *)W + row * nb + b;
      float d = st_ref_f16_to_f32(blk->d);
      for (int j = 0; j < 32; j++) out[b * 32 + j] = d * blk->qs[j];
    } else {
      const q4_1_block *blk = (const q4_1_block *)W + row * nb + b;
      float d = st_ref_f16_to_f32(blk->d), m = st_ref_f16_to_f32(blk->m);
      for (int j = 0; j < 16; j++) {
        out[b * 32 + j] = d * (blk->qs[j] & 0xF) + m;
        out[b * 32 + j + 16] = d * (blk->qs[j] >> 4) + m;
      }
    }
  }
}

void st_ref_quantize(void *dst, const float *src, int wtype, int64_t rows, int cols) {
  if (wtype == 0) { memcpy(dst, src, (size_t)(rows * cols) * 4); return; }
  if (wtype == 1) {
    for (int64_t i = 0; i < rows * cols; i++) ((uint16_t *)dst)[i] = st_ref_f32_to_bf16(src[i]);
    return;
  }
  int nb = cols / 32;
  for (int64_t r = 0; r < rows; r++)
    for (int b = 0; b < nb; b++) {
      const float *x = src + r * cols + b * 32;
      if (wtype == 2) { /* ggml quantize_row_q8_0_ref */
        q8_0_block *blk = (q8_0_block *)dst + r * nb + b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        blk->d = st_ref_f32_to_f16(d);
        for (int j = 0; j < 32; j++) blk->qs[j] = (int8_t)roundf(x[j] * id);
      } else { /* ggml quantize_row_q4_1_ref */
        q4_1_block *blk = (q4_1_block *)dst + r * nb + b;
        float mn = x[0], mx = x[0];
        for (int j = 1; j < 32; j++) { mn = fminf(mn, x[j]); mx = fmaxf(mx, x[j]); }
        float d = (mx - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
        blk->d = st_ref_f32_to_f16(d);
        blk->m = st_ref_f32_to_f16(mn);
        for (int j = 0; j < 16; j++) {
          int a = (int)fminf(15.0f, (x[j] - mn) * id + 0.5f), c = (int)fminf(15.0f, (x[j + 16] - mn) * id + 0.5f);
          blk->qs[j] = (uint8_t)(a | (c << 4));
        }
      }
    }
}

void st_ref_matmul_bf16(float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, int trans_a, int trans_b,
                        float alpha, float beta) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = 0;
      for (int k = 0; k < K; k++) {
        float a = st_ref_bf16_to_f32(trans_a ? A[(int64_t)k * M + m] : A[(int64_t)m * K + k]);
        float b = st_ref_bf16_to_f32(trans_b ? B[(int64_t)n * K + k] : B[(int64_t)k * N + n]);
        s += (double)a * b;
      }
      float *c = C + (int64_t)m * N + n;
      *c = (float)(alpha * s + (beta != 0.0f ? (double)beta * *c : 0.0));
    }
}

void st_ref_lora_forward(float *y, float *xa, const float *x, const void *W, int wtype, const float *A, const float *B,
                         float scale, int N, int in, int out, int r) {
  float *w = malloc(sizeof(float) * in);
  for (int n = 0; n < N; n++)
    for (int j = 0; j < r; j++) {
      double s = 0;
      for (int i = 0; i < in; i++) s += (double)x[(int64_t)n * in + i] * A[(int64_t)j * in + i];
      xa[(int64_t)n * r + j] = (float)s;
    }
  for (int o = 0; o < out; o++) {
    st_ref_weight_row(w, W, wtype, in, o);
    for (int n = 0; n < N; n++) {
      double s = 0, l = 0;
      for (int i = 0; i < in; i++) s += (double)x[(int64_t)n * in + i] * w[i];
      for (int j = 0; j < r; j++) l += (double)xa[(int64_t)n * r + j] * B[(int64_t)o * r + j];
      y[(int64_t)n * out + o] = (float)(s + scale * l);
    }
  }
  free(w);
}

void st_ref_lora_backward(float *dx, float *dA, float *dB, float *g, const float *dy, const float *x, const float *xa,
                          const void *W, int wtype, const float *A, const float *B, float scale, int N, int in, int out,
                          int r, int accumulate) {
  for (int n = 0; n < N; n++)
    for (int j = 0; j < r; j++) {
      double s = 0;
      for (int o = 0; o < out; o++) s += (double)dy[(int64_t)n * out + o] * B[(int64_t)o * r + j];
      g[(int64_t)n * r + j] = (float)s;
    }
  if (dx) {
    double *acc = calloc((size_t)N * in, sizeof(double));
    float *w = malloc(sizeof(float) * in);
    for (int o = 0; o < out; o++) {
      st_ref_weight_row(w, W, wtype, in, o);
      for (int n = 0; n < N; n++) {
        double d = dy[(int64_t)n * out + o];
        for (int i = 0; i < in; i++) acc[(int64_t)n * in + i] += d * w[i];
      }
    }
    for (int n = 0; n < N; n++)
      for (int i = 0; i < in; i++) {
        double l = 0;
        for (int j = 0; j < r; j++) l += (double)g[(int64_t)n * r + j] * A[(int64_t)j * in + i];
        dx[(int64_t)n * in + i] = (float)(acc[(int64_t)n * in + i] + scale * l);
      }
    free(w);
    free(acc);
  }
  for (int j = 0; j < r; j++)
    for (int i = 0; i < in; i++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += (double)g[(int64_t)n * r + j] * x[(int64_t)n * in + i];
      float *d = dA + (int64_t)j * in + i;
      *d = (float)((accumulate ? *d : 0.0) + scale * s);
    }
  for (int o = 0; o < out; o++)
    for (int j = 0; j < r; j++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += (double)dy[(int64_t)n * out + o] * xa[(int64_t)n * r + j];
      float *d = dB + (int64_t)o * r + j;
      *d = (float)((accumulate ? *d : 0.0) + scale * s);
    }
}

void st_ref_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * C;
    double ss = 0;
    for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
    float r = (float)(1.0 / sqrt(ss / C + eps));
    for (int c = 0; c < C; c++) y[(int64_t)n * C + c] = xr[c] * r * w[c];
    rstd[n] = r;
  }
}

void st_ref_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                             int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (int64_t)n * C, *g = dy + (int64_t)n * C;
    double r = rstd[n], dot = 0;
    for (int c = 0; c < C; c++) dot += (double)g[c] * w[c] * xr[c] * r;
    dot /= C;
    for (int c = 0; c < C; c++) {
      double xh = xr[c] * r;
      if (dw) dw[c] += (float)(g[c] * xh);
      dx[(int64_t)n * C + c] = (float)(r * (g[c] * (double)w[c] - xh * dot));
    }
  }
}

void st_ref_rope_inv_freq(float *inv_freq, int D, double theta) {
  for (int i = 0; i < D / 2; i++) inv_freq[i] = (float)(1.0 / (float)pow(theta, (float)(2 * i) / D));
}
static void rope(float *out, const float *in, const int32_t *pos, const float *inv_freq, int N, int H, int D, int sign) {
  int half = D / 2;
  for (int n = 0; n < N; n++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < half; i++) {
        float ang = (float)pos[n] * inv_freq[i]; /* fp32 angle, as HF computes it */
        double c = cos((double)ang), s = sign * sin((double)ang);
        int64_t base = ((int64_t)n * H + h) * D;
        double a = in[base + i], b = in[base + i + half];
        out[base + i] = (float)(a * c - b * s);
        out[base + i + half] = (float)(b * c + a * s);
      }
}
void st_ref_rope_forward(float *out, const float *in, const int32_t *pos, const float *inv_freq, int N, int H, int D) {
  rope(out, in, pos, inv_freq, N, H, D, 1);
}
void st_ref_rope_backward(float *din, const float *dout, const int32_t *pos, const float *inv_freq, int N, int H, int D) {
  rope(din, dout, pos, inv_freq, N, H, D, -1);
}

#define QIDX(b, t, h) ((((int64_t)(b) * T + (t)) * Hq + (h)) * D)
#define KIDX(b, t, h) ((((int64_t)(b) * cap + (t)) * Hkv + (h)) * D)

/* probabilities of query (b, t, h) over key slots [0, slot]: p[j] (0 where masked); returns lse (-inf if none) */
static double attn_probs(double *p, const float *q, const float *k, const int32_t *key_mask, int b, int t, int h,
                         int slot, int Tk, int T, int cap, int Hq, int Hkv, int D, float scale) {
  int hk = h / (Hq / Hkv);
  double mx = -INFINITY, sum = 0;
  for (int j = 0; j <= slot; j++) {
    p[j] = -INFINITY;
    if (j >= Tk || (key_mask && key_mask[(int64_t)b * cap + j] == 0)) continue;
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)q[QIDX(b, t, h) + d] * k[KIDX(b, j, hk) + d];
    p[j] = s * scale;
    if (p[j] > mx) mx = p[j];
  }
  if (mx == -INFINITY) {
    for (int j = 0; j <= slot; j++) p[j] = 0;
    return -INFINITY;
  }
  for (int j = 0; j <= slot; j++) { p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx); sum += p[j]; }
  for (int j = 0; j <= slot; j++) p[j] /= sum;
  return mx + log(sum);
}

void st_ref_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                              const int32_t *key_mask, int B, int T, int Tk, int cap, int q_start, int Hq, int Hkv, int D,
                              float scale) {
  double *p = malloc(sizeof(double) * (size_t)cap);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++)
      for (int t = 0; t < T; t++) {
        int slot = q_start + t, hk = h / (Hq / Hkv);
        double l = attn_probs(p, q, k, key_mask, b, t, h, slot, Tk, T, cap, Hq, Hkv, D, scale);
        for (int d = 0; d < D; d++) {
          double o = 0;
          for (int j = 0; j <= slot && j < Tk; j++) o += p[j] * v[KIDX(b, j, hk) + d];
          out[QIDX(b, t, h) + d] = (float)o;
        }
        lse[((int64_t)b * T + t) * Hq + h] = (float)l;
      }
  free(p);
}

void st_ref_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, const int32_t *key_mask, int B, int T, int Hq, int Hkv, int D, float scale) {
  int cap = T;
  double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
  memset(dk, 0, sizeof(float) * (size_t)B * T * Hkv * D);
  memset(dv, 0, sizeof(float) * (size_t)B * T * Hkv * D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++)
      for (int t = 0; t < T; t++) {
        int hk = h / (Hq / Hkv);
        attn_probs(p, q, k, key_mask, b, t, h, t, T, T, cap, Hq, Hkv, D, scale);
        double pdp = 0;
        for (int j = 0; j <= t; j++) {
          double s = 0;
          for (int d = 0; d < D; d++) s += (double)dout[QIDX(b, t, h) + d] * v[KIDX(b, j, hk) + d];
          dp[j] = s;
          pdp += p[j] * s;
        }
        for (int d = 0; d < D; d++) dq[QIDX(b, t, h) + d] = 0;
        for (int j = 0; j <= t; j++) {
          double ds = p[j] * (dp[j] - pdp) * scale;
          for (int d = 0; d < D; d++) {
            dq[QIDX(b, t, h) + d] += (float)(ds * k[KIDX(b, j, hk) + d]);
            dk[KIDX(b, j, hk) + d] += (float)(ds * q[QIDX(b, t, h) + d]);
            dv[KIDX(b, j, hk) + d] += (float)(p[j] * dout[QIDX(b, t, h) + d]);
          }
        }
      }
  free(p);
  free(dp);
}

void st_ref_add(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void st_ref_logsumexp(float *out, const float *x, int N, int V) {
  for (int n = 0; n < N; n++) {
    const float *row = x + (int64_t)n * V;
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) if (row[i] > mx) mx = row[i];
    for (int i = 0; i < V; i++) s += exp(row[i] - mx);
    out[n] = (float)(mx + log(s));
  }
}
void st_ref_softmax_forward(float *out, const float *x, int N, int V) {
  for (int n = 0; n < N; n++) {
    float l;
    st_ref_logsumexp(&l, x + (int64_t)n * V, 1, V);
    for (int i = 0; i < V; i++) out[(int64_t)n * V + i] = (float)exp((double)x[(int64_t)n * V + i] - l);
  }
}

void st_ref_swiglu_forward(float *h, const float *gate, const float *up, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double g = gate[i];
    h[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
  }
}
void st_ref_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double g = gate[i], s = 1.0 / (1.0 + exp(-g));
    double dg = dh[i] * (double)up[i] * s * (1.0 + g * (1.0 - s)), du = dh[i] * g * s;
    dgate[i] = (float)dg;
    dup[i] = (float)du;
  }
}

/* SplitMix64, as java.util.SplittableRandom: seed advances by the golden gamma, each draw is mix64 of it */
double st_ref_dropout_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}
void st_ref_dropout(float *out, const float *in, int64_t n, uint64_t seed, float p) {
  float keep = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; i++) out[i] = in[i] * (st_ref_dropout_uniform(seed, (uint64_t)i) < p ? 0.0f : keep);
}

static int counted(const int32_t *targets, const uint8_t *mask, int n, int V) {
  return targets[n] >= 0 && targets[n] < V && (mask == NULL || mask[n] != 0);
}
void st_ref_cross_entropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets,
                                  const uint8_t *mask, int N, int V) {
  for (int n = 0; n < N; n++) {
    const float *row = logits + (int64_t)n * V;
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) if (row[i] > mx) mx = row[i];
    for (int i = 0; i < V; i++) s += exp(row[i] - mx);
    double l = mx + log(s);
    lse[n] = (float)l;
    losses[n] = counted(targets, mask, n, V) ? (float)(l - row[targets[n]]) : 0.0f;
  }
}
void st_ref_cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                   const uint8_t *mask, float grad_scale, int N, int V) {
  for (int n = 0; n < N; n++) {
    int c = counted(targets, mask, n, V);
    for (int i = 0; i < V; i++) {
      int64_t idx = (int64_t)n * V + i;
      dlogits[idx] = c ? (float)((exp((double)logits[idx] - lse[n]) - (i == targets[n])) * grad_scale) : 0.0f;
    }
  }
}

void st_ref_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int t, float grad_scale) {
  double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
  for (int64_t i = 0; i < n; i++) {
    double gi = (double)g[i] * grad_scale;
    double mi = beta1 * (double)m[i] + (1.0 - beta1) * gi;
    double vi = beta2 * (double)v[i] + (1.0 - beta2) * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    double pi = p[i] * (1.0 - (double)lr * weight_decay);
    pi -= (lr / bc1) * mi / (sqrt(vi) / sqrt(bc2) + eps);
    p[i] = (float)pi;
  }
}

void st_ref_embedding_forward(float *out, const int32_t *ids, const void *table, int wtype, int N, int V, int C) {
  for (int n = 0; n < N; n++) {
    if (ids[n] < 0 || ids[n] >= V) {
      for (int c = 0; c < C; c++) out[(int64_t)n * C + c] = NAN;
      continue;
    }
    st_ref_weight_row(out + (int64_t)n * C, table, wtype, C, ids[n]);
  }
}
void st_ref_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V, int C) {
  for (int n = 0; n < N; n++) {
    if (ids[n] < 0 || ids[n] >= V) continue;
    for (int c = 0; c < C; c++) dtable[(int64_t)ids[n] * C + c] += dout[(int64_t)n * C + c];
  }
}
