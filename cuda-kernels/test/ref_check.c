/*
 * Checks the CPU references themselves, on this machine (no GPU): every backward reference against
 * central finite differences of its forward reference (loss = sum(out · R) for a fixed random R), the
 * dequantizers against hand-made blocks, and AdamW's first step against its closed form.
 * Cheap by design (tiny shapes, a sample of coordinates): it runs in CI. Exit code 0 = all passed.
 */
#include "safetune_ref.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float *rnd(int64_t n, float scale) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = frand() * scale;
  return p;
}
static double dotR(const float *a, const float *R, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)a[i] * R[i];
  return s;
}

static int failures = 0;
static void report(const char *what, double worst, double tol_hit) {
  int ok = tol_hit <= 1.0;
  printf("%-36s worst |fd-an| = %.3g  %s\n", what, worst, ok ? "ok" : "FAIL");
  if (!ok) failures++;
}

/* compares analytic gradient `an` of parameter `p` (n elements) against finite differences of loss() */
typedef double (*loss_fn)(void);
static void fd_check(const char *what, float *p, int64_t n, const float *an, loss_fn loss, double eps) {
  double worst = 0, hit = 0;
  int samples = n < 24 ? (int)n : 24;
  for (int s = 0; s < samples; s++) {
    int64_t i = n < 24 ? s : (int64_t)((frand() + 1.0f) * 0.5f * (float)(n - 1));
    float keep = p[i];
    p[i] = keep + (float)eps; double lp = loss();
    p[i] = keep - (float)eps; double lm = loss();
    p[i] = keep;
    double fd = (lp - lm) / (2 * eps), d = fabs(fd - an[i]);
    double tol = 2e-3 + 1e-2 * fabs(an[i]);
    if (d > worst) worst = d;
    if (d / tol > hit) hit = d / tol;
  }
  report(what, worst, hit);
}

/* ---- LoRA (Q4_1 base: the dequantized weights enter as constants) ---- */
enum { LN = 5, LIN = 64, LOUT = 24, LR = 4 };
static float *lx, *lA, *lB, *lR, *ly, *lxa; static void *lW; static const float LS = 1.7f;
static double lora_loss(void) {
  st_ref_lora_forward(ly, lxa, lx, lW, 3, lA, lB, LS, LN, LIN, LOUT, LR);
  return dotR(ly, lR, LN * LOUT);
}
static void check_lora(void) {
  lx = rnd(LN * LIN, 1); lA = rnd(LR * LIN, 0.3f); lB = rnd(LOUT * LR, 0.3f); lR = rnd(LN * LOUT, 1);
  ly = rnd(LN * LOUT, 1); lxa = rnd(LN * LR, 1);
  float *w = rnd(LOUT * LIN, 0.2f);
  lW = malloc(LOUT * (LIN / 32) * 20);
  st_ref_quantize(lW, w, 3, LOUT, LIN);
  float *dx = rnd(LN * LIN, 1), *dA = rnd(LR * LIN, 1), *dB = rnd(LOUT * LR, 1), *g = rnd(LN * LR, 1);
  lora_loss();
  st_ref_lora_backward(dx, dA, dB, g, lR, lx, lxa, lW, 3, lA, lB, LS, LN, LIN, LOUT, LR, 0);
  fd_check("lora dx (Q4_1 base)", lx, LN * LIN, dx, lora_loss, 1e-2);
  fd_check("lora dA", lA, LR * LIN, dA, lora_loss, 1e-2);
  fd_check("lora dB", lB, LOUT * LR, dB, lora_loss, 1e-2);
  /* accumulate = 1 adds the same gradient again */
  float *dA2 = malloc(sizeof(float) * LR * LIN);
  memcpy(dA2, dA, sizeof(float) * LR * LIN);
  st_ref_lora_backward(NULL, dA2, dB, g, lR, lx, lxa, lW, 3, lA, lB, LS, LN, LIN, LOUT, LR, 1);
  double worst = 0;
  for (int i = 0; i < LR * LIN; i++) worst = fmax(worst, fabs(dA2[i] - 2 * dA[i]));
  report("lora accumulate adds", worst, worst / 1e-5);
}

/* ---- RMSNorm ---- */
enum { RN = 3, RC = 40 };
static float *rx, *rw, *ry, *rrs, *rR;
static double rms_loss(void) { st_ref_rmsnorm_forward(ry, rrs, rx, rw, RN, RC, 1e-5f); return dotR(ry, rR, RN * RC); }
static void check_rmsnorm(void) {
  rx = rnd(RN * RC, 1); rw = rnd(RC, 1); ry = rnd(RN * RC, 1); rrs = rnd(RN, 1); rR = rnd(RN * RC, 1);
  float *dx = rnd(RN * RC, 1), *dw = calloc(RC, sizeof(float));
  rms_loss();
  st_ref_rmsnorm_backward(dx, dw, rR, rx, rw, rrs, RN, RC);
  fd_check("rmsnorm dx", rx, RN * RC, dx, rms_loss, 1e-3);
  fd_check("rmsnorm dw", rw, RC, dw, rms_loss, 1e-3);
}

/* ---- RoPE ---- */
enum { PN = 4, PH = 3, PD = 16 };
static float *px, *py, *pR, pinv[PD / 2]; static int32_t ppos[PN] = {0, 3, 17, 511};
static double rope_loss(void) { st_ref_rope_forward(py, px, ppos, pinv, PN, PH, PD); return dotR(py, pR, PN * PH * PD); }
static void check_rope(void) {
  px = rnd(PN * PH * PD, 1); py = rnd(PN * PH * PD, 1); pR = rnd(PN * PH * PD, 1);
  float *dx = rnd(PN * PH * PD, 1);
  st_ref_rope_inv_freq(pinv, PD, 10000.0);
  st_ref_rope_backward(dx, pR, ppos, pinv, PN, PH, PD);
  fd_check("rope din", px, PN * PH * PD, dx, rope_loss, 1e-3);
}

/* ---- attention (GQA 4 query heads on 2 KV heads) ---- */
enum { AB = 2, AT = 7, AHQ = 4, AHK = 2, AD = 8 };
static float *aq, *ak, *av, *ao, *alse, *aR;
static int32_t amask[AB * AT] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}; /* row 1 right-padded */
static double attn_loss(void) {
  st_ref_attention_forward(ao, alse, aq, ak, av, amask, AB, AT, AT, AT, 0, AHQ, AHK, AD, 0.35f);
  return dotR(ao, aR, AB * AT * AHQ * AD);
}
static void check_attention(void) {
  int nq = AB * AT * AHQ * AD, nk = AB * AT * AHK * AD;
  aq = rnd(nq, 1); ak = rnd(nk, 1); av = rnd(nk, 1); ao = rnd(nq, 1); alse = rnd(AB * AHQ * AT, 1); aR = rnd(nq, 1);
  float *dq = rnd(nq, 1), *dk = rnd(nk, 1), *dv = rnd(nk, 1);
  st_ref_attention_backward(dq, dk, dv, aR, aq, ak, av, amask, AB, AT, AHQ, AHK, AD, 0.35f);
  fd_check("attention dq", aq, nq, dq, attn_loss, 1e-3);
  fd_check("attention dk", ak, nk, dk, attn_loss, 1e-3);
  fd_check("attention dv", av, nk, dv, attn_loss, 1e-3);
  /* causality: changing a later key must not change an earlier output */
  attn_loss();
  float o0 = ao[0];
  ak[((0 * AT + 5) * AHK + 0) * AD] += 1.0f;
  attn_loss();
  report("attention causal (row 0 ignores key 5)", fabs(ao[0] - o0), fabs(ao[0] - o0) / 1e-7);
  /* KV-cache form: the last 3 queries at slots 4..6 equal rows 4..6 of the full pass */
  float *o2 = rnd(AB * 3 * AHQ * AD, 1), *l2 = rnd(AB * 3 * AHQ, 1), *q2 = rnd(AB * 3 * AHQ * AD, 1);
  for (int b = 0; b < AB; b++)
    memcpy(q2 + (size_t)b * 3 * AHQ * AD, aq + ((size_t)b * AT + 4) * AHQ * AD, sizeof(float) * 3 * AHQ * AD);
  st_ref_attention_forward(o2, l2, q2, ak, av, amask, AB, 3, AT, AT, 4, AHQ, AHK, AD, 0.35f);
  double w = 0;
  for (int b = 0; b < AB; b++)
    for (int i = 0; i < 3 * AHQ * AD; i++) w = fmax(w, fabs(o2[(size_t)b * 3 * AHQ * AD + i] - ao[((size_t)b * AT + 4) * AHQ * AD + i]));
  report("attention cached queries = full pass", w, w / 1e-6);
}

/* ---- SwiGLU ---- */
enum { SN = 50 };
static float *sg, *su, *sh, *sR;
static double swiglu_loss(void) { st_ref_swiglu_forward(sh, sg, su, SN); return dotR(sh, sR, SN); }
static void check_swiglu(void) {
  sg = rnd(SN, 4); su = rnd(SN, 2); sh = rnd(SN, 1); sR = rnd(SN, 1);
  float *dg = rnd(SN, 1), *du = rnd(SN, 1);
  st_ref_swiglu_backward(dg, du, sR, sg, su, SN);
  fd_check("swiglu dgate", sg, SN, dg, swiglu_loss, 1e-3);
  fd_check("swiglu dup", su, SN, du, swiglu_loss, 1e-3);
}

/* ---- cross-entropy with mask and ignored targets ---- */
enum { CN = 5, CV = 33 };
static float *cl, *closs, *clse; static int32_t ct[CN] = {3, -100, 32, 0, 7}; static uint8_t cm[CN] = {1, 1, 1, 0, 1};
static double ce_loss(void) {
  st_ref_cross_entropy_forward(closs, clse, cl, ct, cm, CN, CV);
  double s = 0;
  for (int n = 0; n < CN; n++) s += closs[n];
  return s * 0.25;
}
static void check_ce(void) {
  cl = rnd(CN * CV, 3); closs = rnd(CN, 1); clse = rnd(CN, 1);
  float *dl = rnd(CN * CV, 1);
  ce_loss();
  st_ref_cross_entropy_backward(dl, cl, clse, ct, cm, 0.25f, CN, CV);
  fd_check("cross_entropy dlogits", cl, CN * CV, dl, ce_loss, 1e-3);
  double z = 0;
  for (int i = 0; i < CV; i++) z += fabs(dl[1 * CV + i]) + fabs(dl[3 * CV + i]);
  report("cross_entropy masked rows zero", z, z / 1e-30);
}

/* ---- embedding (bf16 table) ---- */
enum { EN = 6, EV = 9, EC = 5 };
static float *et, *eo, *eR; static int32_t eids[EN] = {1, 4, 1, 8, 0, 4};
static double emb_loss(void) { st_ref_embedding_forward(eo, eids, et, 0, EN, EV, EC); return dotR(eo, eR, EN * EC); }
static void check_embedding(void) {
  et = rnd(EV * EC, 1); eo = rnd(EN * EC, 1); eR = rnd(EN * EC, 1);
  float *dt = calloc(EV * EC, sizeof(float));
  st_ref_embedding_backward(dt, eR, eids, EN, EV, EC);
  fd_check("embedding dtable", et, EV * EC, dt, emb_loss, 1e-2);
}

/* ---- dequantization of hand-made blocks ---- */
static void check_blocks(void) {
  /* Q4_1: d = 0.5 (fp16 0x3800), m = -1 (0xBC00); qs[j] = j | (15-j) << 4 -> element j = 0.5*j - 1,
     element 16+j = 0.5*(15-j) - 1 */
  uint8_t q41[20] = {0x00, 0x38, 0x00, 0xBC};
  for (int j = 0; j < 16; j++) q41[4 + j] = (uint8_t)(j | ((15 - j) << 4));
  float out[32];
  st_ref_weight_row(out, q41, 3, 32, 0);
  double worst = 0;
  for (int j = 0; j < 16; j++) {
    worst = fmax(worst, fabs(out[j] - (0.5 * j - 1)));
    worst = fmax(worst, fabs(out[16 + j] - (0.5 * (15 - j) - 1)));
  }
  report("Q4_1 hand block (low/high nibbles)", worst, worst / 1e-30);
  /* Q8_0: d = 0.25 (0x3400), qs[j] = j - 16 -> element j = 0.25*(j-16) */
  uint8_t q80[34] = {0x00, 0x34};
  for (int j = 0; j < 32; j++) q80[2 + j] = (uint8_t)(int8_t)(j - 16);
  st_ref_weight_row(out, q80, 2, 32, 0);
  worst = 0;
  for (int j = 0; j < 32; j++) worst = fmax(worst, fabs(out[j] - 0.25 * (j - 16)));
  report("Q8_0 hand block", worst, worst / 1e-30);
  /* bf16 rounding: 1 + 2^-8 is a tie -> rounds to even (1.0); 1 + 3*2^-8 rounds up */
  float t1 = st_ref_bf16_to_f32(st_ref_f32_to_bf16(1.0f + 1.0f / 256)), t2 = st_ref_bf16_to_f32(st_ref_f32_to_bf16(1.0f + 3.0f / 256));
  worst = fabs(t1 - 1.0f) + fabs(t2 - (1.0f + 4.0f / 256));
  report("bf16 round-to-nearest-even", worst, worst / 1e-30);
}

/* ---- dropout's mask: the first draws of java.util.SplittableRandom(seed).nextDouble(), printed by the JDK
 *      (java 17: new SplittableRandom(seed), four nextDouble() calls, Double.toHexString) ---- */
static void check_dropout(void) {
  struct { uint64_t seed; double draws[4]; } cases[] = {
      {0, {0x1.c4415072f63b9p-1, 0x1.b9e279aa86e58p-2, 0x1.b1174620025p-6, 0x1.f1177150e499p-1}},
      {(uint64_t)-1, {0x1.c9b2e2ee36ca5p-1, 0x1.d33ff0cfb7edp-1, 0x1.c17fc2659394p-3, 0x1.b476cdb32ea6p-2}},
      {0x5eed, {0x1.3e3fb3a07e15p-5, 0x1.54c9d0586efep-2, 0x1.756f291a5acdp-2, 0x1.c34a6db1f4894p-2}}};
  double worst = 0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 4; i++) worst = fmax(worst, fabs(st_ref_dropout_uniform(cases[c].seed, i) - cases[c].draws[i]));
  /* p = 0.5 around the draws of seed 0: kept ones scaled by 2, dropped ones 0 */
  float in[4] = {1, 2, 3, 4}, out[4];
  st_ref_dropout(out, in, 4, 0, 0.5f);
  worst += fabs(out[0] - 2) + fabs(out[1] - 0) + fabs(out[2] - 0) + fabs(out[3] - 8);
  report("dropout mask = SplittableRandom", worst, worst / 1e-300);
}

/* ---- AdamW first step: m = (1-b1) g, v = (1-b2) g², bias-corrected ratio = sign(g) (eps -> 0) ---- */
static void check_adamw(void) {
  enum { n = 16 };
  float *p = rnd(n, 1), *g = rnd(n, 1), m[n] = {0}, v[n] = {0}, p0[n];
  memcpy(p0, p, sizeof p0);
  st_ref_adamw_update(p, g, m, v, n, 1e-2f, 0.9f, 0.999f, 1e-12f, 0.1f, 1, 1.0f);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double want = p0[i] * (1 - 1e-3) - 1e-2 * (g[i] > 0 ? 1 : -1);
    worst = fmax(worst, fabs(p[i] - want));
  }
  report("adamw step 1 closed form", worst, worst / 1e-6);
}

int main(void) {
  check_lora();
  check_rmsnorm();
  check_rope();
  check_attention();
  check_swiglu();
  check_ce();
  check_embedding();
  check_blocks();
  check_adamw();
  check_dropout();
  printf(failures ? "ref_check: %d FAILED\n" : "ref_check: all passed\n", failures);
  return failures ? 1 : 0;
}
