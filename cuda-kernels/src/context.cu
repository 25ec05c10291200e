// Context (stream + cuBLAS handle), memory and error reporting. Nothing here launches a kernel.
#define ST_ERRORS_IMPL  // st_set_error and st_last_error (checks.h)
#include "common.cuh"
#include <string.h>

extern "C" int st_device_count(int *count) {
  ST_CHECK("st_device_count", count != nullptr, "count is NULL");
  *count = 0;
  cudaError_t e = cudaGetDeviceCount(count);
  if (e != cudaSuccess) {
    *count = 0;
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return st_set_error(ST_ERR_NO_DEVICE, "st_device_count", "no usable CUDA device: %s (%s)",
                        cudaGetErrorString(e), cudaGetErrorName(e));
  }
  return ST_OK;
}

extern "C" int st_device_name(int device, char *buf, int buflen) {
  ST_CHECK("st_device_name", buf != nullptr && buflen > 0, "buffer is NULL or empty");
  cudaDeviceProp p;
  ST_CUDA("st_device_name", cudaGetDeviceProperties(&p, device));
  snprintf(buf, buflen, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
           p.totalGlobalMem / 1073741824.0);
  return ST_OK;
}

extern "C" int st_ctx_create(st_ctx **out, int device) {
  const char *op = "st_ctx_create";
  ST_CHECK(op, out != nullptr, "out is NULL");
  *out = nullptr;
  int n = 0;
  if (st_device_count(&n) != ST_OK) return ST_ERR_NO_DEVICE;
  ST_CHECK(op, device >= 0 && device < n, "device %d not in [0,%d)", device, n);
  ST_CUDA(op, cudaSetDevice(device));
  st_ctx *c = new st_ctx{device, nullptr, nullptr};
  cudaError_t e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    delete c;
    return st_set_error(ST_ERR_CUDA, op, "cudaStreamCreate: %s", cudaGetErrorString(e));
  }
  cublasStatus_t s = cublasCreate(&c->cublas);
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(c->cublas, c->stream);
  if (s != CUBLAS_STATUS_SUCCESS) {
    if (c->cublas) cublasDestroy(c->cublas);
    cudaStreamDestroy(c->stream);
    delete c;
    return st_set_error(ST_ERR_CUBLAS, op, "cublasCreate: %s", cublasGetStatusString(s));
  }
  *out = c;
  return ST_OK;
}

extern "C" int st_ctx_destroy(st_ctx *ctx) {
  ST_CTX("st_ctx_destroy");
  cudaSetDevice(ctx->device);
  cudaError_t e = cudaStreamSynchronize(ctx->stream);
  if (ctx->ws) cudaFree(ctx->ws);
  cublasStatus_t s = cublasDestroy(ctx->cublas);
  cudaError_t e2 = cudaStreamDestroy(ctx->stream);
  delete ctx;
  ST_CUDA("st_ctx_destroy", e);
  ST_CUDA("st_ctx_destroy", e2);
  if (s != CUBLAS_STATUS_SUCCESS)
    return st_set_error(ST_ERR_CUBLAS, "st_ctx_destroy", "cublasDestroy: %s", cublasGetStatusString(s));
  return ST_OK;
}

int st_workspace(st_ctx *ctx, size_t bytes, const char *op) {
  if (bytes <= ctx->ws_bytes) return ST_OK;
  if (ctx->ws) {
    ST_CUDA(op, cudaStreamSynchronize(ctx->stream));  // queued kernels may still read the old workspace
    ST_CUDA(op, cudaFree(ctx->ws));
    ctx->ws = nullptr;
    ctx->ws_bytes = 0;
  }
  size_t want = bytes + bytes / 4;  // headroom so slowly growing shapes do not reallocate every call
  cudaError_t e = cudaMalloc(&ctx->ws, want);
  if (e != cudaSuccess) {
    ctx->ws = nullptr;
    return st_set_error(ST_ERR_CUDA, op, "workspace cudaMalloc(%zu bytes): %s", want, cudaGetErrorString(e));
  }
  ctx->ws_bytes = want;
  return ST_OK;
}

extern "C" int st_ctx_sync(st_ctx *ctx) {
  ST_CTX("st_ctx_sync");
  ST_CUDA("st_ctx_sync", cudaStreamSynchronize(ctx->stream));
  ST_CUDA("st_ctx_sync", cudaGetLastError());
  return ST_OK;
}

extern "C" void *st_ctx_stream(st_ctx *ctx) { return ctx ? (void *)ctx->stream : nullptr; }

extern "C" int st_malloc(st_ctx *ctx, void **ptr, size_t bytes) {
  ST_CTX("st_malloc");
  ST_CHECK("st_malloc", ptr != nullptr, "ptr is NULL");
  *ptr = nullptr;
  ST_CUDA("st_malloc", cudaSetDevice(ctx->device));
  cudaError_t e = cudaMalloc(ptr, bytes == 0 ? 1 : bytes);
  if (e != cudaSuccess) {
    *ptr = nullptr;
    return st_set_error(ST_ERR_CUDA, "st_malloc", "cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
  }
  return ST_OK;
}

extern "C" int st_free(st_ctx *ctx, void *ptr) {
  ST_CTX("st_free");
  ST_CUDA("st_free", cudaFree(ptr));
  return ST_OK;
}

extern "C" int st_memcpy_h2d(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_h2d");
  ST_CUDA("st_memcpy_h2d", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream));
  ST_CUDA("st_memcpy_h2d", cudaStreamSynchronize(ctx->stream));
  return ST_OK;
}

extern "C" int st_memcpy_d2h(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_d2h");
  ST_CUDA("st_memcpy_d2h", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
  ST_CUDA("st_memcpy_d2h", cudaStreamSynchronize(ctx->stream));
  return ST_OK;
}

extern "C" int st_memcpy_d2d(st_ctx *ctx, void *dst, const void *src, size_t bytes) {
  ST_CTX("st_memcpy_d2d");
  ST_CUDA("st_memcpy_d2d", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
  return ST_OK;
}

extern "C" int st_memset(st_ctx *ctx, void *ptr, int value, size_t bytes) {
  ST_CTX("st_memset");
  ST_CUDA("st_memset", cudaMemsetAsync(ptr, value, bytes, ctx->stream));
  return ST_OK;
}

extern "C" size_t st_weight_bytes(int wtype, int64_t rows, int64_t cols) {
  switch (wtype) {
    case ST_W_F32: return (size_t)(rows * cols * 4);
    case ST_W_BF16: return (size_t)(rows * cols * 2);
    case ST_W_Q8_0: return (size_t)(rows * (cols / 32) * 34);
    case ST_W_Q4_1: return (size_t)(rows * (cols / 32) * 20);
    default: return 0;
  }
}

// cudart's profiler switches, declared here as cuda_profiler_api.h declares them: the PyPI nvcc wheels lack that header.
extern "C" __host__ cudaError_t CUDARTAPI cudaProfilerStart(void);
extern "C" __host__ cudaError_t CUDARTAPI cudaProfilerStop(void);

// Brackets for Nsight Compute's --profile-from-start off: only the kernels between start (1) and stop (0) are
// profiled (one training step of a benchmark, not the weight upload and warm-up before it).
extern "C" int st_profiler_range(st_ctx *ctx, int start) {
  ST_CTX("st_profiler_range");
  ST_CUDA("st_profiler_range", cudaStreamSynchronize(ctx->stream));
  ST_CUDA("st_profiler_range", start ? cudaProfilerStart() : cudaProfilerStop());
  return ST_OK;
}
