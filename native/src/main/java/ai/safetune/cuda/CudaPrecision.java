package ai.safetune.cuda;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.Function;

/**
 * Arithmetic of the CUDA backend's frozen-weight matmuls (forward and backward), the kernel library's
 * {@code st_precision}. The two bf16 precisions also run attention on tensor cores (bf16 Q, K, V and
 * probabilities, fp32 softmax) and the LoRA rank-r products in TF32; norms, loss and the optimizer stay fp32.
 * Chosen by {@code -Dsafetune.cuda.precision}, else {@code SAFETUNE_CUDA_PRECISION}, else {@link #F32}.
 * <p>{@link #F32} is the default because it is the exact path every CPU-vs-GPU test bounds at fp32 level;
 * the bf16 paths trade about 8 significant bits per input for the tensor cores and must be asked for.
 */
public enum CudaPrecision {
    /** Fused tile kernel in fp32 SIMT: exact fp32, the slow path. */
    F32("f32", SafeTuneKernels.ST_PREC_F32,
            "fp32 SIMT tile kernels for the frozen matmuls"),
    /** cuBLAS bf16 tensor cores, fp32 accumulate; x/dy cast to bf16, the base weights kept as bf16. */
    BF16("bf16", SafeTuneKernels.ST_PREC_BF16,
            "cuBLAS bf16 tensor cores (fp32 accumulate) for the frozen matmuls, base weights bf16 on the device"),
    /** The fused tile kernel on tensor cores (WMMA bf16 → fp32), base weights bf16 on the device. */
    BF16_TILED("bf16-tiled", SafeTuneKernels.ST_PREC_BF16_TILED,
            "fused WMMA bf16 tile kernels (fp32 accumulate) for the frozen matmuls, base weights bf16 on the device");

    /** System property that selects the precision. */
    public static final String PROPERTY = "safetune.cuda.precision";
    /** Environment variable that selects the precision (the property wins). */
    public static final String ENV = "SAFETUNE_CUDA_PRECISION";
    /** The {@link ai.safetune.backend.BackendOptions#settings()} key that picks the precision (wins over both). */
    public static final String SETTING = "cuda.precision";

    private final String id;
    private final int code;
    private final String what;

    CudaPrecision(String id, int code, String what) {
        this.id = id;
        this.code = code;
        this.what = what;
    }

    /** The name used by the property, the environment variable and the benchmark flags. */
    public String id() {
        return id;
    }

    /** The kernel library's {@code st_precision} value. */
    int code() {
        return code;
    }

    /** One phrase for {@link CudaBackend#description()}. */
    String description() {
        return what;
    }

    /** True for the two bf16 paths (the base weights are then stored as bf16 on the device). */
    public boolean bf16() {
        return this != F32;
    }

    /**
     * Parses {@code f32}, {@code bf16} or {@code bf16-tiled} (case and surrounding blanks ignored).
     *
     * @param source where the value came from, for the error message (e.g. {@code -Dsafetune.cuda.precision})
     * @throws IllegalArgumentException naming the source, the value and the allowed ones
     */
    public static CudaPrecision parse(String value, String source) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (CudaPrecision p : values()) {
            if (p.id.equals(v)) {
                return p;
            }
        }
        throw new IllegalArgumentException(source + ": unknown CUDA precision '" + value + "'; allowed: "
                + String.join(", ", Arrays.stream(values()).map(CudaPrecision::id).toList()));
    }

    /** The precision selected by {@code -Dsafetune.cuda.precision}, else {@code SAFETUNE_CUDA_PRECISION}, else f32. */
    public static CudaPrecision configured() {
        return configured(System::getProperty, System::getenv);
    }

    /** {@link #configured()} over given lookups (for tests). */
    static CudaPrecision configured(Function<String, String> properties, Function<String, String> environment) {
        String p = properties.apply(PROPERTY);
        if (p != null && !p.isBlank()) {
            return parse(p, "-D" + PROPERTY);
        }
        String e = environment.apply(ENV);
        if (e != null && !e.isBlank()) {
            return parse(e, ENV);
        }
        return F32;
    }
}
