package ai.safetune.model.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * A memory-mapped region of {@code rows × rowBytes} bytes. One {@link ByteBuffer} can map at most 2 GiB,
 * so larger tensors are mapped as several buffers, each holding whole rows; a row never straddles two.
 * Mapping does not read the file: pages come in when rows are expanded.
 */
public final class MappedRows {
    /** Largest single mapping; whole rows per chunk keep every row inside one buffer. */
    static final long MAX_CHUNK_BYTES = Integer.MAX_VALUE - 8;

    private final ByteBuffer[] chunks;
    private final int rowsPerChunk;
    private final long rowBytes;
    private final int rows;

    private MappedRows(ByteBuffer[] chunks, int rowsPerChunk, long rowBytes, int rows) {
        this.chunks = chunks;
        this.rowsPerChunk = rowsPerChunk;
        this.rowBytes = rowBytes;
        this.rows = rows;
    }

    /**
     * Maps {@code rows} rows of {@code rowBytes} starting at {@code offset}. The caller has checked that
     * the region lies inside the file.
     */
    public static MappedRows map(FileChannel channel, Path file, long offset, int rows, long rowBytes) {
        return map(channel, file, offset, rows, rowBytes, MAX_CHUNK_BYTES);
    }

    static MappedRows map(FileChannel channel, Path file, long offset, int rows, long rowBytes, long maxChunkBytes) {
        if (rowBytes > maxChunkBytes) {
            throw new IllegalArgumentException(file + ": one row of " + rowBytes + " bytes exceeds the "
                    + maxChunkBytes + "-byte mapping limit");
        }
        if (rows == 0 || rowBytes == 0) {
            return new MappedRows(new ByteBuffer[0], 1, rowBytes, rows);
        }
        int perChunk = (int) Math.min(rows, maxChunkBytes / rowBytes);
        int n = (rows + perChunk - 1) / perChunk;
        ByteBuffer[] chunks = new ByteBuffer[n];
        try {
            for (int c = 0; c < n; c++) {
                int r0 = c * perChunk;
                int r = Math.min(perChunk, rows - r0);
                chunks[c] = channel.map(FileChannel.MapMode.READ_ONLY, offset + r0 * rowBytes, r * rowBytes)
                        .order(ByteOrder.LITTLE_ENDIAN);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot map " + rows + " rows at offset " + offset, e);
        }
        return new MappedRows(chunks, perChunk, rowBytes, rows);
    }

    /** Wraps an in-memory little-endian buffer (tests, small files). */
    public static MappedRows wrap(ByteBuffer buffer, int rows, long rowBytes) {
        if ((long) rows * rowBytes > buffer.remaining()) {
            throw new IllegalArgumentException("buffer holds " + buffer.remaining() + " bytes, need " + rows * rowBytes);
        }
        ByteBuffer b = buffer.slice().order(ByteOrder.LITTLE_ENDIAN);
        return new MappedRows(new ByteBuffer[] {b}, Math.max(rows, 1), rowBytes, rows);
    }

    public int rows() {
        return rows;
    }

    public long rowBytes() {
        return rowBytes;
    }

    /** Number of mapped buffers (more than one only for regions over 2 GiB). */
    public int chunkCount() {
        return chunks.length;
    }

    /** The buffer holding {@code row}. */
    public ByteBuffer bufferFor(int row) {
        return chunks[row / rowsPerChunk];
    }

    /** Byte offset of {@code row} inside {@link #bufferFor(int)}. */
    public int offsetOf(int row) {
        return (int) ((row % rowsPerChunk) * rowBytes);
    }
}
