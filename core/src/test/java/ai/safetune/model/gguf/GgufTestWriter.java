package ai.safetune.model.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes small GGUF files for tests, byte by byte from the format description (independent of the reader). */
final class GgufTestWriter {
    private final ByteArrayOutputStream kv = new ByteArrayOutputStream();
    private int kvCount;
    private final List<Object[]> tensors = new ArrayList<>(); // name, long[] dims, typeId, byte[] data
    private int version = 3;
    private int alignment = 32;
    private final java.util.Map<Integer, Long> forcedOffsets = new java.util.HashMap<>();

    GgufTestWriter version(int v) {
        version = v;
        return this;
    }

    GgufTestWriter alignment(int a) {
        alignment = a;
        return this;
    }

    /** A raw key/value: the value bytes as already encoded (after the type id). */
    GgufTestWriter raw(String key, int typeId, byte[] valueBytes) {
        str(kv, key);
        kv.writeBytes(le(4).putInt(typeId).array());
        kv.writeBytes(valueBytes);
        kvCount++;
        return this;
    }

    GgufTestWriter u32(String key, int v) {
        return raw(key, 4, le(4).putInt(v).array());
    }

    GgufTestWriter f32(String key, float v) {
        return raw(key, 6, le(4).putFloat(v).array());
    }

    GgufTestWriter string(String key, String v) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        str(b, v);
        return raw(key, 8, b.toByteArray());
    }

    GgufTestWriter bool(String key, boolean v) {
        return raw(key, 7, new byte[] {(byte) (v ? 1 : 0)});
    }

    GgufTestWriter tensor(String name, long[] dims, int typeId, byte[] data) {
        tensors.add(new Object[] {name, dims, typeId, data});
        return this;
    }

    /** Writes {@code offset} as the data offset of the {@code index}-th tensor (to build overlapping or misplaced tensors). */
    GgufTestWriter forceOffset(int index, long offset) {
        forcedOffsets.put(index, offset);
        return this;
    }

    byte[] bytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(le(4).putInt(version).array());
        out.writeBytes(le(8).putLong(tensors.size()).array());
        out.writeBytes(le(8).putLong(kvCount).array());
        out.writeBytes(kv.toByteArray());
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Object[] t : tensors) {
            str(out, (String) t[0]);
            long[] dims = (long[]) t[1];
            out.writeBytes(le(4).putInt(dims.length).array());
            for (long d : dims) {
                out.writeBytes(le(8).putLong(d).array());
            }
            out.writeBytes(le(4).putInt((Integer) t[2]).array());
            out.writeBytes(le(8).putLong(forcedOffsets.getOrDefault(offsets.size(), offset)).array());
            offsets.add(offset);
            offset += pad(((byte[]) t[3]).length);
        }
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        for (Object[] t : tensors) {
            byte[] d = (byte[]) t[3];
            out.writeBytes(d);
            for (long i = d.length; i < pad(d.length); i++) {
                out.write(0);
            }
        }
        return out.toByteArray();
    }

    Path write(Path file) throws IOException {
        return Files.write(file, bytes());
    }

    private long pad(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static void str(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeBytes(le(8).putLong(b.length).array());
        out.writeBytes(b);
    }

    static byte[] f32s(float... v) {
        ByteBuffer b = le(4 * v.length);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }
}
