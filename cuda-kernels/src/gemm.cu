// Large base-model GEMMs through cuBLAS: bf16 operands, fp32 accumulation (CUBLAS_COMPUTE_32F), output
// fp32 or bf16. Row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
// operands are passed swapped and no data is transposed.
#include "common.cuh"

enum GemmKind { GEMM_BF16, GEMM_F32, GEMM_TF32 };

// The one cuBLAS call behind the three entry points: argument checks, the row-major operand swap, the error text.
static int gemm(const char *op, st_ctx *ctx, GemmKind kind, void *C, int c_bf16, const void *A, const void *B, int M,
                int N, int K, int trans_a, int trans_b, float alpha, float beta) {
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = trans_b ? K : N;
  int lda = trans_a ? M : K;
  cublasStatus_t s;
  if (kind == GEMM_F32)  // the handle's default math mode: plain fp32 FMA, no TF32
    s = cublasSgemm(ctx->cublas, opb, opa, N, M, K, &alpha, (const float *)B, ldb, (const float *)A, lda, &beta,
                    (float *)C, N);
  else if (kind == GEMM_TF32)
    s = cublasGemmEx(ctx->cublas, opb, opa, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                     CUDA_R_32F, N, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
  else
    s = cublasGemmEx(ctx->cublas, opb, opa, N, M, K, &alpha, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF, lda, &beta, C,
                     c_bf16 ? CUDA_R_16BF : CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    return st_set_error(ST_ERR_CUBLAS, op, "cuBLAS GEMM (M=%d N=%d K=%d): %s", M, N, K, cublasGetStatusString(s));
  return ST_OK;
}

extern "C" int st_matmul_bf16(st_ctx *ctx, void *C, int c_bf16, const uint16_t *A, const uint16_t *B, int M,
                              int N, int K, int trans_a, int trans_b, float alpha, float beta) {
  return gemm("st_matmul_bf16", ctx, GEMM_BF16, C, c_bf16, A, B, M, N, K, trans_a, trans_b, alpha, beta);
}

// fp32 GEMM for the LoRA rank-r products (exact fp32 precision), same row-major convention.
extern "C" int st_sgemm(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                        int trans_b, float alpha, float beta) {
  return gemm("st_sgemm", ctx, GEMM_F32, C, 0, A, B, M, N, K, trans_a, trans_b, alpha, beta);
}

// The same product with TF32 tensor-core inputs (10-bit mantissas, fp32 accumulate): for the bf16 precisions,
// whose other products round to 8 bits.
extern "C" int st_sgemm_tf32(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                             int trans_b, float alpha, float beta) {
  return gemm("st_sgemm_tf32", ctx, GEMM_TF32, C, 0, A, B, M, N, K, trans_a, trans_b, alpha, beta);
}
