package ai.safetune.model;

/**
 * A {@link Weight} whose stored blocks can be read as they are (e.g. ggml {@code Q4_1}: per 32 values an fp16
 * scale, an fp16 min and 16 bytes of nibbles), so a backend can multiply by the quantized rows directly instead
 * of expanding them to fp32 first. The block layout is the one named by {@link #storageType()}.
 */
public interface QuantizedWeight extends Weight {
    /** Bytes of one stored row: {@code cols / blockSize × bytesPerBlock}. */
    int rowBytes();

    /**
     * Copies the stored bytes of logical rows {@code [rowStart, rowStart+rowCount)} into {@code dst} at
     * {@code dstOffset}, {@link #rowBytes()} per row (any row reordering of the weight applied). Thread-safe.
     */
    void copyRawRows(int rowStart, int rowCount, byte[] dst, int dstOffset);
}
