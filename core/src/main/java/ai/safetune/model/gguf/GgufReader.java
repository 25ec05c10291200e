package ai.safetune.model.gguf;

import ai.safetune.model.ModelFileException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Sequential little-endian reads of a GGUF header through a buffer. Every read checks the file length first,
 * so a truncated or lying file gives a {@link ModelFileException} naming the offset and what was being read,
 * never an allocation larger than the file.
 */
final class GgufReader {
    private static final int BUFFER = 1 << 20;

    private final Path file;
    private final FileChannel channel;
    private final long size;
    private final ByteBuffer buf = ByteBuffer.allocate(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
    private long bufStart;
    /** What is being read, for error messages ("metadata key 'x'", "tensor info #3"). */
    String context = "header";

    GgufReader(Path file, FileChannel channel, long size) {
        this.file = file;
        this.channel = channel;
        this.size = size;
        buf.limit(0);
    }

    long position() {
        return bufStart + buf.position();
    }

    long remainingInFile() {
        return size - position();
    }

    long size() {
        return size;
    }

    Path file() {
        return file;
    }

    ModelFileException error(String message) {
        return new ModelFileException(file, context + ": " + message);
    }

    private void need(int n) {
        if (buf.remaining() >= n) {
            return;
        }
        if (n > remainingInFile()) {
            throw error("file truncated: need " + n + " bytes at offset " + position() + " but the file has "
                    + size + " bytes");
        }
        long pos = position();
        buf.compact();
        bufStart = pos; // compact moved the unread bytes to index 0
        try {
            while (buf.position() < n) {
                int r = channel.read(buf, bufStart + buf.position());
                if (r < 0) {
                    throw error("file shrank while reading at offset " + (bufStart + buf.position()));
                }
            }
        } catch (IOException e) {
            throw new ModelFileException(file, context + ": read failed at offset " + pos + ": " + e, e);
        }
        buf.flip();
    }

    int u8() {
        need(1);
        return buf.get() & 0xFF;
    }

    byte i8() {
        need(1);
        return buf.get();
    }

    short i16() {
        need(2);
        return buf.getShort();
    }

    int i32() {
        need(4);
        return buf.getInt();
    }

    long u32() {
        return i32() & 0xFFFFFFFFL;
    }

    long i64() {
        need(8);
        return buf.getLong();
    }

    float f32() {
        need(4);
        return buf.getFloat();
    }

    double f64() {
        need(8);
        return buf.getDouble();
    }

    /** A count (u64) that must be ≤ what the rest of the file could hold at {@code minBytesEach} per item. */
    long count(String what, int minBytesEach) {
        long pos = position();
        long n = i64();
        long max = remainingInFile() / Math.max(1, minBytesEach);
        if (n < 0 || n > max) {
            throw error(what + " " + Long.toUnsignedString(n) + " at offset " + pos + " is impossible: the "
                    + remainingInFile() + " bytes left in the file hold at most " + max);
        }
        return n;
    }

    /** A GGUF string: u64 byte length then UTF-8 bytes; the length is checked against {@code maxBytes} and the file. */
    String string(String what, long maxBytes) {
        return string(what, -1, maxBytes);
    }

    /** Element {@code index} of a string array ({@code index} only goes into error messages). */
    String string(String what, int index, long maxBytes) {
        long pos = position();
        long len = i64();
        if (len < 0 || len > maxBytes || len > remainingInFile()) {
            throw error(what + (index >= 0 ? " " + index : "") + " length " + Long.toUnsignedString(len) + " at offset " + pos + " exceeds "
                    + (len >= 0 && len <= maxBytes ? "the " + remainingInFile() + " bytes left in the file"
                    : "the limit of " + maxBytes + " bytes"));
        }
        int n = (int) len;
        if (n <= BUFFER) {
            need(n);
            String s = new String(buf.array(), buf.arrayOffset() + buf.position(), n, StandardCharsets.UTF_8);
            buf.position(buf.position() + n);
            return s;
        }
        byte[] bytes = new byte[n];
        int have = buf.remaining();
        buf.get(bytes, 0, have);
        ByteBuffer rest = ByteBuffer.wrap(bytes, have, n - have);
        long at = position();
        try {
            while (rest.hasRemaining()) {
                if (channel.read(rest, at + rest.position() - have) < 0) {
                    throw error("file shrank while reading at offset " + at);
                }
            }
        } catch (IOException e) {
            throw new ModelFileException(file, context + ": read failed at offset " + at + ": " + e, e);
        }
        bufStart = at + (n - have);
        buf.clear().limit(0);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
