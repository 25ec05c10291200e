package ai.safetune.model;

import java.util.Objects;

/**
 * A weight held as fp32 on the heap, {@code rows × cols} row-major. Used for dequantized copies and for
 * weights built in memory (adapters, tests). The array is shared, not copied: treat it as frozen.
 */
public record FloatWeight(String name, int rows, int cols, float[] data) implements Weight {
    public FloatWeight {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(data, "data");
        if (rows < 0 || cols < 0 || (long) rows * cols != data.length) {
            throw new IllegalArgumentException(name + ": " + data.length + " values do not make a [" + rows + ", "
                    + cols + "] matrix");
        }
    }

    /** An fp32 copy of any weight (expands quantized storage once). */
    public static FloatWeight copyOf(Weight w) {
        if (w instanceof FloatWeight f) {
            return f;
        }
        return new FloatWeight(w.name(), w.rows(), w.cols(), w.toFloatArray());
    }

    @Override
    public String storageType() {
        return "F32";
    }

    @Override
    public void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset) {
        if (rowStart < 0 || rowCount < 0 || rowStart > rows - rowCount) {
            throw new IndexOutOfBoundsException(name + ": rows [" + rowStart + ", " + rowStart + "+" + rowCount
                    + ") outside [0, " + rows + ")");
        }
        System.arraycopy(data, rowStart * cols, dst, dstOffset, rowCount * cols);
    }

    @Override
    public float[] toFloatArray() {
        return data.clone();
    }

    @Override
    public String toString() {
        return name + " [" + rows + ", " + cols + "] F32 (heap)";
    }
}
