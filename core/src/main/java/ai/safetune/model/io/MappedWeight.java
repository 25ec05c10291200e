package ai.safetune.model.io;

import ai.safetune.model.QuantizedWeight;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * A weight whose rows stay in their stored (possibly quantized) form in a mapped file and are expanded to
 * fp32 on demand. An optional row map reorders rows without touching the data (GGUF Q/K un-permutation).
 * Thread-safe: several threads may expand rows of the same weight at once.
 */
public final class MappedWeight implements QuantizedWeight {
    private final String name;
    private final String storageType;
    private final int rows;
    private final int cols;
    private final MappedRows data;
    private final RowDecoder decoder;
    private final int[] rowMap;
    private final BooleanSupplier closed;

    /**
     * @param rowMap  {@code rowMap[r]} = stored row holding logical row {@code r}, or null for identity
     * @param closed  true once the owning file is closed (reads then fail instead of touching stale memory)
     */
    public MappedWeight(String name, String storageType, int rows, int cols, MappedRows data, RowDecoder decoder,
                        int[] rowMap, BooleanSupplier closed) {
        this.name = Objects.requireNonNull(name);
        this.storageType = Objects.requireNonNull(storageType);
        this.rows = rows;
        this.cols = cols;
        this.data = Objects.requireNonNull(data);
        this.decoder = Objects.requireNonNull(decoder);
        this.closed = Objects.requireNonNull(closed);
        if (data.rows() != rows) {
            throw new IllegalArgumentException(name + ": " + data.rows() + " stored rows, expected " + rows);
        }
        if (rowMap != null && rowMap.length != rows) {
            throw new IllegalArgumentException(name + ": row map has " + rowMap.length + " entries, expected " + rows);
        }
        this.rowMap = rowMap == null ? null : rowMap.clone();
    }

    /** The same stored data with rows reordered: {@code rowMap[r]} = stored row of logical row r. */
    public MappedWeight withRowMap(int[] newRowMap) {
        return new MappedWeight(name, storageType, rows, cols, data, decoder, newRowMap, closed);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public String storageType() {
        return storageType;
    }

    /** Bytes this weight occupies in the file. */
    public long storedBytes() {
        return rows * data.rowBytes();
    }

    @Override
    public int rowBytes() {
        return (int) data.rowBytes();
    }

    @Override
    public void copyRawRows(int rowStart, int rowCount, byte[] dst, int dstOffset) {
        checkRows(rowStart, rowCount);
        int rb = (int) data.rowBytes();
        if (dstOffset < 0 || (long) rowCount * rb > dst.length - (long) dstOffset) {
            throw new IndexOutOfBoundsException(name + ": destination of " + dst.length + " bytes at offset "
                    + dstOffset + " cannot hold " + rowCount + " rows of " + rb + " bytes");
        }
        if (rowMap == null && rowCount > 0) {
            // consecutive stored rows lie back to back unless they straddle two mappings (tensors over 2 GiB)
            int first = rowStart;
            int last = rowStart + rowCount - 1;
            if (data.bufferFor(first) == data.bufferFor(last)) {
                data.bufferFor(first).get(data.offsetOf(first), dst, dstOffset, rowCount * rb);
                return;
            }
        }
        for (int i = 0; i < rowCount; i++) {
            int logical = rowStart + i;
            int stored = rowMap == null ? logical : rowMap[logical];
            data.bufferFor(stored).get(data.offsetOf(stored), dst, dstOffset + i * rb, rb);
        }
    }

    private void checkRows(int rowStart, int rowCount) {
        if (closed.getAsBoolean()) {
            throw new IllegalStateException(name + ": the model file was closed");
        }
        if (rowStart < 0 || rowCount < 0 || rowStart > rows - rowCount) {
            throw new IndexOutOfBoundsException(name + ": rows [" + rowStart + ", " + rowStart + "+" + rowCount
                    + ") outside [0, " + rows + ")");
        }
    }

    @Override
    public void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset) {
        checkRows(rowStart, rowCount);
        if (dstOffset < 0 || (long) rowCount * cols > dst.length - (long) dstOffset) {
            throw new IndexOutOfBoundsException(name + ": destination of " + dst.length + " floats at offset "
                    + dstOffset + " cannot hold " + rowCount + " rows of " + cols);
        }
        for (int i = 0; i < rowCount; i++) {
            int logical = rowStart + i;
            int stored = rowMap == null ? logical : rowMap[logical];
            decoder.decode(data.bufferFor(stored), data.offsetOf(stored), dst, dstOffset + i * cols, cols);
        }
    }

    @Override
    public String toString() {
        return name + " [" + rows + ", " + cols + "] " + storageType;
    }
}
