package ai.safetune.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.ByPtrPtr;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Opaque;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP bindings of the kernel library's C API ({@code cuda-kernels/include/safetune_kernels.h}); the
 * JavaCPP Maven plugin generates the JNI glue against that header and links it to
 * {@code libsafetune_kernels.so}, and both go into this module's jar under JavaCPP's platform layout.
 * <p>Device pointers travel as {@code long} addresses; every function returns 0 or an error code whose
 * message is {@link #st_last_error()}. Use through {@link CudaBackend}, which checks every code. Loading
 * fails (UnsatisfiedLinkError) when the jar was built without nvcc or cuBLAS is not on the library path.
 */
@Platform(include = "safetune_kernels.h", link = "safetune_kernels")
public final class SafeTuneKernels {
    private SafeTuneKernels() {
    }

    /** Loads the JNI glue and the kernel library; throws {@link UnsatisfiedLinkError} with the cause if absent. */
    public static void load() {
        Loader.load(SafeTuneKernels.class);
    }

    static {
        Loader.load();
    }

    /** The opaque per-trainer context: one CUDA stream and one cuBLAS handle. */
    @Opaque
    public static final class st_ctx extends Pointer {
        public st_ctx() {
            super((Pointer) null);
        }

        public st_ctx(Pointer p) {
            super(p);
        }
    }

    public static final int ST_OK = 0;
    public static final int ST_W_F32 = 0;
    public static final int ST_W_BF16 = 1;
    public static final int ST_W_Q8_0 = 2;
    public static final int ST_W_Q4_1 = 3;
    public static final int ST_PREC_F32 = 0;
    public static final int ST_PREC_BF16 = 1;
    public static final int ST_PREC_BF16_TILED = 2;

    public static native @Cast("const char*") BytePointer st_last_error();

    public static native int st_device_count(int[] count);

    public static native int st_device_name(int device, @Cast("char*") byte[] buf, int buflen);

    public static native int st_ctx_create(@ByPtrPtr st_ctx ctx, int device);

    public static native int st_ctx_destroy(st_ctx ctx);

    public static native int st_ctx_sync(st_ctx ctx);

    public static native int st_profiler_range(st_ctx ctx, int start);

    public static native int st_malloc(st_ctx ctx, @Cast("void**") long[] ptr, @Cast("size_t") long bytes);

    public static native int st_free(st_ctx ctx, @Cast("void*") long ptr);

    public static native int st_memcpy_h2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") float[] src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_h2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") int[] src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_h2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") byte[] src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_h2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") short[] src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_h2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") long[] src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_d2h(st_ctx ctx, @Cast("void*") float[] dst, @Cast("const void*") long src,
                                           @Cast("size_t") long bytes);

    public static native int st_memcpy_d2d(st_ctx ctx, @Cast("void*") long dst, @Cast("const void*") long src,
                                           @Cast("size_t") long bytes);

    public static native int st_fill(st_ctx ctx, @Cast("float*") long out, float value, long n);

    public static native int st_cast_bf16_to_f32(st_ctx ctx, @Cast("float*") long out, @Cast("const uint16_t*") long in,
                                                 @Cast("int64_t") long n);

    public static native int st_cast_f32_to_bf16(st_ctx ctx, @Cast("uint16_t*") long out, @Cast("const float*") long in,
                                                 @Cast("int64_t") long n);

    /** C[M,N] = alpha·op(A)·op(B) + beta·C, row-major, A and B bf16, fp32 accumulate, C fp32 (c_bf16 = 0) or bf16. */
    public static native int st_matmul_bf16(st_ctx ctx, @Cast("void*") long c, int c_bf16,
                                            @Cast("const uint16_t*") long a, @Cast("const uint16_t*") long b, int m,
                                            int n, int k, int trans_a, int trans_b, float alpha, float beta);

    public static native int st_add(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long a,
                                    @Cast("const float*") long b, long n);

    public static native int st_sgemm_strided(st_ctx ctx, @Cast("float*") long c, int ldc, @Cast("const float*") long u,
                                              long su0, long su1, @Cast("const float*") long v, long sv0, long sv1,
                                              int m, int p, int k, float alpha, int accumulate);

    public static native int st_lora_forward(st_ctx ctx, @Cast("float*") long y, @Cast("float*") long xa,
                                             @Cast("const float*") long x, @Cast("const void*") long w, int wtype,
                                             @Cast("const float*") long a, @Cast("const float*") long b, float scale,
                                             int n, int in, int out, int r, int precision);

    public static native int st_lora_backward(st_ctx ctx, @Cast("float*") long dx, @Cast("float*") long dA,
                                              @Cast("float*") long dB, @Cast("float*") long g,
                                              @Cast("const float*") long dy, @Cast("const float*") long x,
                                              @Cast("const float*") long xa, @Cast("const void*") long w, int wtype,
                                              @Cast("const float*") long a, @Cast("const float*") long b, float scale,
                                              int n, int in, int out, int r, int precision, int accumulate);

    public static native int st_rmsnorm_forward(st_ctx ctx, @Cast("float*") long y, @Cast("float*") long rstd,
                                                @Cast("const float*") long x, @Cast("const float*") long w, int n, int c,
                                                float eps);

    public static native int st_matmul_backward_bf16(st_ctx ctx, @Cast("float*") long dx,
                                                     @Cast("const float*") long dy, @Cast("const void*") long w,
                                                     int wtype, int n, int in, int out, int accumulate);

    public static native int st_matmul_forward_bf16_act(st_ctx ctx, @Cast("float*") long y,
                                                        @Cast("const uint16_t*") long xb, @Cast("const void*") long w,
                                                        int wtype, int n, int in, int out, int accumulate);

    public static native int st_matmul_backward_bf16_act(st_ctx ctx, @Cast("float*") long dx,
                                                         @Cast("const uint16_t*") long dyb, @Cast("const void*") long w,
                                                         int wtype, int n, int in, int out, int accumulate);

    public static native int st_rmsnorm_forward_bf16(st_ctx ctx, @Cast("float*") long y, @Cast("uint16_t*") long yb,
                                                     @Cast("float*") long rstd, @Cast("const float*") long x,
                                                     @Cast("const float*") long w, int n, int c, float eps);

    public static native int st_lora_linear_supported(int in, int out, int r);

    public static native int st_lora_linear_forward(st_ctx ctx, @Cast("float*") long y, @Cast("float*") long u,
                                                    @Cast("const float*") long x, @Cast("const float*") long xl,
                                                    @Cast("const void*") long w, int wtype, @Cast("const float*") long a,
                                                    @Cast("const float*") long b, float scale, int n, int in, int out,
                                                    int r);

    public static native int st_lora_linear_backward(st_ctx ctx, @Cast("float*") long dx, @Cast("float*") long du,
                                                     @Cast("float*") long dA, @Cast("float*") long dB,
                                                     @Cast("const float*") long dy, @Cast("const float*") long x,
                                                     @Cast("const float*") long u, @Cast("const void*") long w,
                                                     int wtype, @Cast("const float*") long a,
                                                     @Cast("const float*") long b, float scale, int n, int in, int out,
                                                     int r, int accumulate);

    public static native int st_matmul_forward_bf16(st_ctx ctx, @Cast("float*") long y,
                                                    @Cast("const float*") long x, @Cast("const void*") long w,
                                                    int wtype, int n, int in, int out, int accumulate);

    public static native int st_rmsnorm_backward_add(st_ctx ctx, @Cast("float*") long dx, @Cast("float*") long dw,
                                                     @Cast("const float*") long dy, @Cast("const float*") long x,
                                                     @Cast("const float*") long w, @Cast("const float*") long rstd,
                                                     int n, int c);

    public static native int st_rmsnorm_backward_add_bf16(st_ctx ctx, @Cast("float*") long dx, @Cast("uint16_t*") long dxb,
                                                          @Cast("float*") long dw, @Cast("const float*") long dy,
                                                          @Cast("const float*") long x, @Cast("const float*") long w,
                                                          @Cast("const float*") long rstd, int n, int c);

    public static native int st_rmsnorm_backward(st_ctx ctx, @Cast("float*") long dx, @Cast("float*") long dw,
                                                 @Cast("const float*") long dy, @Cast("const float*") long x,
                                                 @Cast("const float*") long w, @Cast("const float*") long rstd, int n,
                                                 int c);

    public static native int st_rope_forward(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long in,
                                             @Cast("const int32_t*") long pos, @Cast("const float*") long invFreq,
                                             int n, int h, int d);

    public static native int st_rope_backward(st_ctx ctx, @Cast("float*") long din, @Cast("const float*") long dout,
                                              @Cast("const int32_t*") long pos, @Cast("const float*") long invFreq,
                                              int n, int h, int d);

    public static native int st_attention_forward(st_ctx ctx, @Cast("float*") long out, @Cast("float*") long lse,
                                                  @Cast("const float*") long q, @Cast("const float*") long k,
                                                  @Cast("const float*") long v, @Cast("const int32_t*") long keyMask,
                                                  int b, int t, int tk, int cap, int qStart, int hq, int hkv, int d,
                                                  float scale);

    public static native int st_attention_backward(st_ctx ctx, @Cast("float*") long dq, @Cast("float*") long dk,
                                                   @Cast("float*") long dv, @Cast("float*") long delta,
                                                   @Cast("const float*") long dout, @Cast("const float*") long out,
                                                   @Cast("const float*") long q, @Cast("const float*") long k,
                                                   @Cast("const float*") long v, @Cast("const float*") long lse,
                                                   @Cast("const int32_t*") long keyMask, int b, int t, int hq, int hkv,
                                                   int d, float scale);

    public static native int st_attention_forward_bf16(st_ctx ctx, @Cast("float*") long out, @Cast("float*") long lse,
                                                       @Cast("const float*") long q, @Cast("const float*") long k,
                                                       @Cast("const float*") long v, @Cast("const int32_t*") long keyMask,
                                                       int b, int t, int tk, int cap, int qStart, int hq, int hkv, int d,
                                                       float scale);

    public static native int st_attention_backward_bf16(st_ctx ctx, @Cast("float*") long dq, @Cast("float*") long dk,
                                                        @Cast("float*") long dv, @Cast("float*") long delta,
                                                        @Cast("const float*") long dout, @Cast("const float*") long out,
                                                        @Cast("const float*") long q, @Cast("const float*") long k,
                                                        @Cast("const float*") long v, @Cast("const float*") long lse,
                                                        @Cast("const int32_t*") long keyMask, int b, int t, int hq,
                                                        int hkv, int d, float scale);

    public static native int st_sgemm_tf32(st_ctx ctx, @Cast("float*") long c, @Cast("const float*") long a,
                                           @Cast("const float*") long b, int m, int n, int k, int transA, int transB,
                                           float alpha, float beta);

    public static native int st_sgemm(st_ctx ctx, @Cast("float*") long c, @Cast("const float*") long a,
                                      @Cast("const float*") long b, int m, int n, int k, int transA, int transB,
                                      float alpha, float beta);

    public static native int st_swiglu_forward(st_ctx ctx, @Cast("float*") long h, @Cast("const float*") long gate,
                                               @Cast("const float*") long up, long n);

    public static native int st_swiglu_backward(st_ctx ctx, @Cast("float*") long dgate, @Cast("float*") long dup,
                                                @Cast("const float*") long dh, @Cast("const float*") long gate,
                                                @Cast("const float*") long up, long n);

    public static native int st_swiglu_forward_bf16(st_ctx ctx, @Cast("float*") long h, @Cast("uint16_t*") long hb,
                                                    @Cast("const float*") long gate, @Cast("const float*") long up,
                                                    long n);

    public static native int st_swiglu_backward_bf16(st_ctx ctx, @Cast("float*") long dgate, @Cast("float*") long dup,
                                                     @Cast("uint16_t*") long dgb, @Cast("uint16_t*") long dub,
                                                     @Cast("const float*") long dh, @Cast("const float*") long gate,
                                                     @Cast("const float*") long up, long n);

    public static native int st_softmax_forward(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long x, int n,
                                                int v);

    public static native int st_logsumexp(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long x, int n,
                                          int v);

    public static native int st_cross_entropy_forward(st_ctx ctx, @Cast("float*") long losses, @Cast("float*") long lse,
                                                      @Cast("const float*") long logits,
                                                      @Cast("const int32_t*") long targets,
                                                      @Cast("const uint8_t*") long mask, int n, int v);

    public static native int st_dropout(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long in,
                                        @Cast("int64_t") long n, @Cast("uint64_t") long seed, float p);

    public static native int st_cross_entropy_backward(st_ctx ctx, @Cast("float*") long dlogits,
                                                       @Cast("const float*") long logits,
                                                       @Cast("const float*") long lse,
                                                       @Cast("const int32_t*") long targets,
                                                       @Cast("const uint8_t*") long mask, float gradScale, int n, int v);

    public static native int st_cross_entropy_backward_bf16(st_ctx ctx, @Cast("float*") long dlogits,
                                                            @Cast("uint16_t*") long dlb,
                                                            @Cast("const float*") long logits,
                                                            @Cast("const float*") long lse,
                                                            @Cast("const int32_t*") long targets,
                                                            @Cast("const uint8_t*") long mask, float gradScale, int n,
                                                            int v);

    public static native int st_adamw_update(st_ctx ctx, @Cast("float*") long p, @Cast("const float*") long g,
                                             @Cast("float*") long m, @Cast("float*") long v, long n, float lr,
                                             float beta1, float beta2, float eps, float weightDecay, int t,
                                             float gradScale);

    public static native int st_adamw_update_multi(st_ctx ctx, @Cast("const int64_t*") long table, int count,
                                                   @Cast("int64_t") long maxN, float lr, float beta1, float beta2,
                                                   float eps, float weightDecay, int t, float gradScale);

    public static native int st_fill_multi(st_ctx ctx, @Cast("const int64_t*") long table, int count,
                                           @Cast("int64_t") long maxN, float value);

    public static native int st_sumsq_multi(st_ctx ctx, @Cast("float*") long out, @Cast("const int64_t*") long table,
                                            int count, @Cast("int64_t") long maxN);

    public static native int st_sumsq(st_ctx ctx, @Cast("float*") long out, @Cast("const float*") long g, long n);

    public static native int st_embedding_forward(st_ctx ctx, @Cast("float*") long out, @Cast("const int32_t*") long ids,
                                                  @Cast("const void*") long table, int wtype, int n, int v, int c);

    public static native int st_embedding_backward(st_ctx ctx, @Cast("float*") long dtable,
                                                   @Cast("const float*") long dout, @Cast("const int32_t*") long ids,
                                                   int n, int v, int c);
}
