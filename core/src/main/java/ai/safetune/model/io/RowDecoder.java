package ai.safetune.model.io;

import java.nio.ByteBuffer;

/** Expands one stored row of {@code n} elements to fp32. The buffer must be little-endian. */
@FunctionalInterface
public interface RowDecoder {
    /**
     * @param src       little-endian buffer holding the row; only absolute reads are used (thread-safe)
     * @param srcOffset byte offset of the row's first block in {@code src}
     * @param n         elements in the row (a multiple of the type's block size)
     */
    void decode(ByteBuffer src, int srcOffset, float[] dst, int dstOffset, int n);
}
