package ai.safetune.backend.cpu;

/**
 * Products of fp32 activations with quantized weight rows, read straight from their blocks (no fp32 copy of the
 * weight). {@link ScalarQuantKernel} is plain Java; {@code VectorQuantKernel} widens the quants to floats in
 * SIMD registers and is loaded by {@link QuantGemm#pickKernel(boolean)} only when the Vector API is present.
 */
interface QuantKernel {
    String name();

    /**
     * {@code out[i·outStride + outOff + r] = Σ_k x[i·K + k] · W_r[k]} for {@code i < n}, {@code r < rows}, where row
     * {@code W_r} is stored at {@code w[wOff + r·rowBytes ...]} in {@code format} ({@code K / 32} blocks).
     */
    void tile(QuantFormat format, byte[] w, int wOff, int rows, int rowBytes, float[] x, int n, int K, float[] out, int outOff,
              int outStride);

    /**
     * {@code out[i·outStride + r] = Σ_k x[i·K + k] · W_r[k]} for {@code i < n} and rows {@code r0 ≤ r < r1} of a
     * packed weight (packed in groups of {@link #group()}; r0 a multiple of it, r1 too unless it is the row count).
     * {@code blockSums[i·blocks + b]} holds the sum of x row i over block b (for the {@code m·Σx} term of nibble
     * formats; null for Q8_0).
     */
    /** Rows interleaved per group in the {@link PackedQuant} layout this kernel reads (1: plain row-major). */
    default int group() {
        return 1;
    }

    void packed(PackedQuant w, int r0, int r1, float[] x, int n, int K, float[] blockSums, float[] out, int outStride);
}
