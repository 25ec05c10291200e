package ai.safetune.model;

/**
 * One frozen 2-D weight matrix, {@code rows × cols} row-major, possibly stored quantized.
 * Quantized weights stay quantized in memory; callers expand the rows they need into float tiles.
 * Vectors (norm weights) are {@code 1 × n}.
 */
public interface Weight {
    /** The Hugging Face name, e.g. {@code model.layers.0.self_attn.q_proj.weight}. */
    String name();

    int rows();

    int cols();

    /** Storage type ("F32", "F16", "BF16", "Q8_0", "Q4_1", ...). */
    String storageType();

    /**
     * Expands rows {@code [rowStart, rowStart+rowCount)} to fp32 into {@code dst} at {@code dstOffset}
     * (row-major, {@code cols} floats per row). Exact for every supported type.
     */
    void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset);

    /** All values as a new fp32 array ({@code rows*cols}). */
    default float[] toFloatArray() {
        long n = (long) rows() * cols();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(name() + " has " + n + " elements, too many for one float[]");
        }
        float[] out = new float[(int) n];
        dequantizeRows(0, rows(), out, 0);
        return out;
    }
}
