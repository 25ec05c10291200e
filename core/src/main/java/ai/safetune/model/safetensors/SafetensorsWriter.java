package ai.safetune.model.safetensors;

import ai.safetune.model.Weight;
import ai.safetune.model.io.Float16;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a safetensors file (F32, F16, BF16 from fp32 values, I32 from ints), tensors in the order added.
 * The file is written to a temporary sibling and moved into place, so readers never see half a file.
 * <pre>
 * new SafetensorsWriter().metadata("format", "pt")
 *     .add("w", SafetensorsDType.BF16, new long[] {2, 3}, values)
 *     .write(path);
 * </pre>
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Entry(String name, SafetensorsDType dtype, long[] shape, float[] floats, int[] ints) {
    }

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new LinkedHashSet<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
        return this;
    }

    /** Adds fp32 values stored as {@code dtype} (F32, F16 or BF16; narrowing rounds to nearest even). */
    public SafetensorsWriter add(String name, SafetensorsDType dtype, long[] shape, float[] values) {
        if (dtype != SafetensorsDType.F32 && dtype != SafetensorsDType.F16 && dtype != SafetensorsDType.BF16) {
            throw new IllegalArgumentException(name + ": can write float tensors as F32, F16 or BF16, not " + dtype);
        }
        checkShape(name, shape, values.length);
        addEntry(new Entry(name, dtype, shape.clone(), values, null));
        return this;
    }

    /** Adds a weight ({@code [rows, cols]}), expanded to fp32 and stored as {@code dtype}. */
    public SafetensorsWriter add(String name, Weight w, SafetensorsDType dtype) {
        return add(name, dtype, new long[] {w.rows(), w.cols()}, w.toFloatArray());
    }

    /** Adds int32 values. */
    public SafetensorsWriter addInts(String name, long[] shape, int[] values) {
        checkShape(name, shape, values.length);
        addEntry(new Entry(name, SafetensorsDType.I32, shape.clone(), null, values));
        return this;
    }

    private void addEntry(Entry e) {
        if (e.name.equals("__metadata__") || !names.add(e.name)) {
            throw new IllegalArgumentException("tensor name '" + e.name + "' is reserved or already added");
        }
        entries.add(e);
    }

    private static void checkShape(String name, long[] shape, int n) {
        long p = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(name + ": negative dim in " + Arrays.toString(shape));
            }
            p = Math.multiplyExact(p, d);
        }
        if (p != n) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " has " + p
                    + " elements but " + n + " values were given");
        }
    }

    /** Writes the file (replacing any existing one). */
    public void write(Path file) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.dtype.name());
            ArrayNode s = t.putArray("shape");
            for (long d : e.shape) {
                s.add(d);
            }
            long len = (long) (e.floats != null ? e.floats.length : e.ints.length) * e.dtype.bytes();
            t.putArray("data_offsets").add(offset).add(offset + len);
            offset += len;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // keeps the data 8-byte aligned, as the reference writer does
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        try {
            if (abs.getParent() != null) {
                Files.createDirectories(abs.getParent());
            }
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(json);
                for (int i = json.length; i < padded; i++) {
                    out.write(' ');
                }
                for (Entry e : entries) {
                    writeData(out, e);
                }
            }
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException ex) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error matters more
            }
            throw new UncheckedIOException("cannot write safetensors file " + file + ": " + ex, ex);
        }
    }

    private static void writeData(OutputStream out, Entry e) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        int n = e.floats != null ? e.floats.length : e.ints.length;
        for (int i = 0; i < n; i++) {
            if (buf.remaining() < 8) {
                out.write(buf.array(), 0, buf.position());
                buf.clear();
            }
            switch (e.dtype) {
                case F32 -> buf.putFloat(e.floats[i]);
                case F16 -> buf.putShort(Float16.floatToHalf(e.floats[i]));
                case BF16 -> buf.putShort(Float16.floatToBf16(e.floats[i]));
                case I32 -> buf.putInt(e.ints[i]);
                default -> throw new AssertionError(e.dtype);
            }
        }
        out.write(buf.array(), 0, buf.position());
    }
}
