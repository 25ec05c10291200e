// Shared plumbing of the SafeTune kernels: error reporting, the context, bf16/fp16 helpers.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cublas_v2.h>
#include <stdint.h>
#include "safetune_kernels.h"
#include "checks.h"  // st_set_error, ST_CHECK, ST_CTX and the checks the host emulation shares

struct st_ctx {
  int device;
  cudaStream_t stream;
  cublasHandle_t cublas;
  void *ws = nullptr;      // scratch for bf16 copies of activations / dequantized weights (lora.cu)
  size_t ws_bytes = 0;
};

// Grows ctx->ws to at least `bytes` (frees the old one after the stream drains). Returns ST_OK or an error.
int st_workspace(st_ctx *ctx, size_t bytes, const char *op);

// Every CUDA call goes through these; they return from the calling API function on failure.
#define ST_CUDA(op, call)                                                                          \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess)                                                                         \
      return st_set_error(ST_ERR_CUDA, op, "%s (%s) at %s:%d", cudaGetErrorString(e_),             \
                          cudaGetErrorName(e_), __FILE__, __LINE__);                               \
  } while (0)
#define ST_LAUNCHED(op) ST_CUDA(op, cudaGetLastError())
__host__ __device__ static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// GGUF block layouts (32 weights per block along a row).
struct __align__(2) block_q8_0 { __half d; int8_t qs[32]; };            // 34 bytes: w = d*q
struct __align__(4) block_q4_1 { __half d; __half m; uint8_t qs[16]; };  // 20 bytes: w = d*q + m
static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
static_assert(sizeof(block_q4_1) == 20, "q4_1 block");

// 8 consecutive weights of row `row`, starting at column `col` (a multiple of 8) of the base weight.
__device__ __forceinline__ void load8(float v[8], const void *W, int wtype, int in, int64_t row, int col) {
  switch (wtype) {
    case ST_W_F32: {
      const float *p = (const float *)W + row * in + col;
#pragma unroll
      for (int i = 0; i < 8; i++) v[i] = p[i];
      break;
    }
    case ST_W_BF16: {
      const __nv_bfloat16 *p = (const __nv_bfloat16 *)W + row * in + col;
#pragma unroll
      for (int i = 0; i < 8; i++) v[i] = __bfloat162float(p[i]);
      break;
    }
    case ST_W_Q8_0: {
      const block_q8_0 *b = (const block_q8_0 *)W + row * (in / 32) + col / 32;
      float d = __half2float(b->d);
      int j = col % 32;
#pragma unroll
      for (int i = 0; i < 8; i++) v[i] = d * (float)b->qs[j + i];
      break;
    }
    default: {  // Q4_1: elements 0-15 in the low nibbles of qs[0..15], elements 16-31 in the high nibbles
      const block_q4_1 *b = (const block_q4_1 *)W + row * (in / 32) + col / 32;
      float d = __half2float(b->d), m = __half2float(b->m);
      int j = col % 32;
      int shift = j < 16 ? 0 : 4;
      int jj = j & 15;
#pragma unroll
      for (int i = 0; i < 8; i++) v[i] = d * (float)((b->qs[jj + i] >> shift) & 0xF) + m;
      break;
    }
  }
}
