// Large base-model GEMMs through cuBLAS: bf16 operands, fp32 accumulation (CUBLAS_COMPUTE_32F), output
// fp32 or bf16. Row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
// operands are passed swapped and no data is transposed.
#include "common.cuh"

extern "C" int st_matmul_bf16(st_ctx *ctx, void *C, int c_bf16, const uint16_t *A, const uint16_t *B, int M,
                              int N, int K, int trans_a, int trans_b, float alpha, float beta) {
  const char *op = "st_matmul_bf16";
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = trans_b ? K : N;
  int lda = trans_a ? M : K;
  cublasStatus_t s = cublasGemmEx(ctx->cublas, opb, opa, N, M, K, &alpha, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF,
                                  lda, &beta, C, c_bf16 ? CUDA_R_16BF : CUDA_R_32F, N, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    return st_set_error(ST_ERR_CUBLAS, op, "cublasGemmEx(M=%d N=%d K=%d): %s", M, N, K, cublasGetStatusString(s));
  return ST_OK;
}

// fp32 GEMM through cuBLAS (cublasSgemm, the handle's default math mode: plain fp32 FMA, no TF32), for the
// LoRA rank-r products. Same row-major convention and operand swap as st_matmul_bf16.
extern "C" int st_sgemm(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                        int trans_b, float alpha, float beta) {
  const char *op = "st_sgemm";
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = trans_b ? K : N;
  int lda = trans_a ? M : K;
  cublasStatus_t s = cublasSgemm(ctx->cublas, opb, opa, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N);
  if (s != CUBLAS_STATUS_SUCCESS)
    return st_set_error(ST_ERR_CUBLAS, op, "cublasSgemm(M=%d N=%d K=%d): %s", M, N, K, cublasGetStatusString(s));
  return ST_OK;
}

// The same product with TF32 tensor-core inputs (10-bit mantissas, fp32 accumulate): for the bf16 precisions,
// whose other products round to 8 bits.
extern "C" int st_sgemm_tf32(st_ctx *ctx, float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                             int trans_b, float alpha, float beta) {
  const char *op = "st_sgemm_tf32";
  ST_CTX(op);
  ST_CHECK(op, C && A && B && M > 0 && N > 0 && K > 0, "bad arguments M=%d N=%d K=%d", M, N, K);
  cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = trans_b ? K : N;
  int lda = trans_a ? M : K;
  cublasStatus_t s = cublasGemmEx(ctx->cublas, opb, opa, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta,
                                  C, CUDA_R_32F, N, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    return st_set_error(ST_ERR_CUBLAS, op, "cublasGemmEx tf32 (M=%d N=%d K=%d): %s", M, N, K, cublasGetStatusString(s));
  return ST_OK;
}
