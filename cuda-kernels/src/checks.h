// Argument checks shared by the kernel library (src/*.cu) and its host emulation (host/safetune_host.c): one text,
// so both refuse the same calls with the same messages. Plain C that C++ compiles too. The one file of each library
// that defines ST_ERRORS_IMPL before including this (context.cu, safetune_host.c) gets the error recorder.
#pragma once
#include "safetune_kernels.h"

// Records "op: message" as the thread's last error and returns code.
int st_set_error(int code, const char *op, const char *fmt, ...);

#ifdef ST_ERRORS_IMPL
#include <stdarg.h>
#include <stdio.h>
#ifdef __cplusplus
#define ST_THREAD_LOCAL thread_local
#else
#define ST_THREAD_LOCAL _Thread_local
#endif
static ST_THREAD_LOCAL char g_err[1024] = "";

int st_set_error(int code, const char *op, const char *fmt, ...) {
  int n = snprintf(g_err, sizeof g_err, "%s: ", op);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err + n, sizeof g_err - n, fmt, ap);
  va_end(ap);
  return code;
}

const char *st_last_error(void) { return g_err; }
#endif

#define ST_CHECK(op, cond, ...)                                                                    \
  do {                                                                                             \
    if (!(cond)) return st_set_error(ST_ERR_ARG, op, __VA_ARGS__);                                 \
  } while (0)
#define ST_CTX(op)                                                                                 \
  do {                                                                                             \
    if (!ctx) return st_set_error(ST_ERR_ARG, op, "context is NULL");                              \
  } while (0)

// The LoRA linear's arguments (lora.cu): weight type, precision, shape, rank.
static inline int check_lora(const char *op, st_ctx *ctx, const void *W, int wtype, int N, int in, int out, int r,
                             int precision) {
  ST_CTX(op);
  ST_CHECK(op, W != NULL, "W is NULL");
  ST_CHECK(op, wtype >= ST_W_F32 && wtype <= ST_W_Q4_1, "unknown weight type %d", wtype);
  ST_CHECK(op, precision == ST_PREC_F32 || precision == ST_PREC_BF16 || precision == ST_PREC_BF16_TILED,
           "unknown precision %d", precision);
  ST_CHECK(op, N > 0 && in > 0 && out > 0, "bad shape N=%d in=%d out=%d", N, in, out);
  ST_CHECK(op, in % 32 == 0, "in=%d must be a multiple of 32 (one quant block per 32 weights)", in);
  ST_CHECK(op, r >= 0 && r <= 256, "rank r=%d not in [0,256] (0 = plain frozen matmul)", r);
  return ST_OK;
}

// The bf16 LoRA layer with the fp32 rank-r kernels (st_lora_linear_*).
static inline int check_lora_linear(const char *op, st_ctx *ctx, const void *W, int wtype, int N, int in, int out,
                                    int r) {
  int rc = check_lora(op, ctx, W, wtype, N, in, out, r, ST_PREC_BF16);
  if (rc) return rc;
  ST_CHECK(op, st_lora_linear_supported(in, out, r), "r=%d in=%d out=%d: needs r in {8,16,32,64} and in, out "
           "multiples of 4 (use st_lora_forward/st_lora_backward)", r, in, out);
  return ST_OK;
}

// Attention's shapes (attention.cu): head dim up to 128, grouped heads, grid limits.
static inline int check_attention_shapes(const char *op, int B, int T, int Hq, int Hkv, int D) {
  ST_CHECK(op, B > 0 && T > 0 && Hq > 0 && Hkv > 0, "bad shape B=%d T=%d Hq=%d Hkv=%d", B, T, Hq, Hkv);
  ST_CHECK(op, Hq % Hkv == 0, "Hq=%d is not a multiple of Hkv=%d", Hq, Hkv);
  ST_CHECK(op, D >= 1 && D <= 128, "head dim %d not in [1,128]", D);
  ST_CHECK(op, Hq <= 65535 && B <= 65535, "too many heads or batch rows for the grid");
  return ST_OK;
}
