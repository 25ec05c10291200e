package ai.safetune.model.safetensors;

import ai.safetune.model.MapWeights;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import ai.safetune.model.gguf.Dequant;
import ai.safetune.model.io.Float16;
import ai.safetune.model.io.MappedRows;
import ai.safetune.model.io.MappedWeight;
import ai.safetune.model.io.RowDecoder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header
 * ({@code name → {dtype, shape, data_offsets}} plus optional {@code __metadata__}), then the data.
 * Every header field is checked against the file before anything is allocated or mapped.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The format's own limit on the header (the reference implementation rejects larger ones). */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, SafetensorsTensor> tensors;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, SafetensorsTensor> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates {@code file}; the data is mapped lazily, per tensor. */
    public static SafetensorsFile open(Path file) {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new ModelFileException(file, "cannot open safetensors file: " + e, e);
        }
        try {
            return parse(file, ch);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static SafetensorsFile parse(Path file, FileChannel ch) {
        long size;
        try {
            size = ch.size();
        } catch (IOException e) {
            throw new ModelFileException(file, "cannot read size: " + e, e);
        }
        if (size < 8) {
            throw new ModelFileException(file, "truncated safetensors file: " + size + " bytes, need at least 8 for the header length");
        }
        ByteBuffer lenBuf = readFully(file, ch, 0, 8);
        long headerLen = lenBuf.order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > size - 8) {
            throw new ModelFileException(file, "bad safetensors header length " + Long.toUnsignedString(headerLen)
                    + ": expected 2.." + Math.min(MAX_HEADER_BYTES, size - 8) + " (file has " + size + " bytes)");
        }
        ByteBuffer hb = readFully(file, ch, 8, (int) headerLen);
        byte[] bytes = new byte[(int) headerLen];
        hb.get(bytes);
        JsonNode root;
        try {
            root = JSON.readTree(new String(bytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new ModelFileException(file, "safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFileException(file, "safetensors header must be a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        Map<String, SafetensorsTensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw new ModelFileException(file, "__metadata__ must be an object of strings");
                }
                v.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new ModelFileException(file, "__metadata__." + m.getKey() + " must be a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            tensors.put(name, parseTensor(file, name, v, dataLen));
        }
        List<SafetensorsTensor> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(SafetensorsTensor::begin));
        long end = 0;
        for (SafetensorsTensor t : sorted) {
            if (t.begin() < end && t.byteSize() > 0) {
                throw new ModelFileException(file, "tensor '" + t.name() + "' at data_offsets [" + t.begin() + ", " + t.end()
                        + "] overlaps the tensor before it (which ends at " + end + ")");
            }
            end = Math.max(end, t.end());
        }
        return new SafetensorsFile(file, ch, dataStart, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static SafetensorsTensor parseTensor(Path file, String name, JsonNode v, long dataLen) {
        String where = "tensor '" + name + "'";
        if (!v.isObject()) {
            throw new ModelFileException(file, where + ": expected an object with dtype, shape, data_offsets");
        }
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw new ModelFileException(file, where + ": missing string field 'dtype'");
        }
        SafetensorsDType dtype = SafetensorsDType.parse(dt.asText()).orElseThrow(() -> new ModelFileException(file,
                where + ": unsupported dtype '" + dt.asText() + "' (supported: " + java.util.Arrays.toString(SafetensorsDType.values()) + ")"));
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray() || sh.size() > 8) {
            throw new ModelFileException(file, where + ": 'shape' must be an array of at most 8 dims");
        }
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new ModelFileException(file, where + ": shape[" + i + "] = " + d + " is not a non-negative integer");
            }
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw new ModelFileException(file, where + ": shape " + sh + " overflows");
            }
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
            throw new ModelFileException(file, where + ": 'data_offsets' must be [begin, end]");
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLen) {
            throw new ModelFileException(file, where + ": data_offsets [" + begin + ", " + end
                    + "] outside the data section of " + dataLen + " bytes");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new ModelFileException(file, where + ": shape " + sh + " overflows");
        }
        if (end - begin != expected) {
            throw new ModelFileException(file, where + ": " + dtype + " " + sh + " needs " + expected
                    + " bytes but data_offsets span " + (end - begin));
        }
        return new SafetensorsTensor(name, dtype, shape, begin, end);
    }

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} strings (empty if none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Header entries in file order. */
    public Map<String, SafetensorsTensor> tensors() {
        return tensors;
    }

    public Set<String> names() {
        return tensors.keySet();
    }

    /** @throws IllegalArgumentException naming the file and the missing tensor */
    public SafetensorsTensor tensor(String name) {
        SafetensorsTensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException(path + ": no tensor '" + name + "' (has " + tensors.size() + ")");
        }
        return t;
    }

    /**
     * A float tensor as a memory-mapped {@link Weight}: 2-D as is, 1-D as {@code 1 × n}, more dims as
     * {@code (product of leading dims) × last}. Values are widened to fp32 on demand.
     */
    public Weight weight(String name) {
        return weight(name, name);
    }

    /** Like {@link #weight(String)} but reported under {@code weightName}. */
    public Weight weight(String name, String weightName) {
        ensureOpen();
        SafetensorsTensor t = tensor(name);
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has dtype " + t.dtype() + ", not a float type");
        }
        long[] s = t.shape();
        long cols = s.length == 0 ? 1 : s[s.length - 1];
        long rows = 1;
        for (int i = 0; i < s.length - 1; i++) {
            rows *= s[i]; // cannot overflow: the header check bounded the product
        }
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' " + java.util.Arrays.toString(s)
                    + " has more than 2^31 rows or columns");
        }
        long rowBytes = cols * t.dtype().bytes();
        MappedRows rowsData = MappedRows.map(channel, path, dataStart + t.begin(), (int) rows, rowBytes);
        return new MappedWeight(weightName, t.dtype().name(), (int) rows, (int) cols, rowsData, decoder(t.dtype()),
                null, () -> closed);
    }

    /** Every float tensor as a weight under its own name; closing the result closes this file. */
    public ModelWeights weights() {
        Map<String, Weight> m = new LinkedHashMap<>();
        for (SafetensorsTensor t : tensors.values()) {
            if (t.dtype().isFloating()) {
                m.put(t.name(), weight(t.name()));
            }
        }
        return new MapWeights(path.toString(), m, this::close);
    }

    /** A float tensor's values widened to fp32 (row-major). */
    public float[] readFloats(String name) {
        SafetensorsTensor t = tensor(name);
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has dtype " + t.dtype() + ", not a float type");
        }
        ByteBuffer b = readTensorBytes(t);
        int n = (int) t.numel();
        float[] out = new float[n];
        switch (t.dtype()) {
            case F32 -> b.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) b.getDouble(i * 8);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float16.halfToFloat(b.getShort(i * 2));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float16.bf16ToFloat(b.getShort(i * 2));
                }
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    /** An integer or bool tensor's values as int (I64 values must fit in an int). */
    public int[] readInts(String name) {
        SafetensorsTensor t = tensor(name);
        if (t.dtype().isFloating()) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has dtype " + t.dtype() + ", not an integer type");
        }
        ByteBuffer b = readTensorBytes(t);
        int n = (int) t.numel();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = switch (t.dtype()) {
                case I32 -> b.getInt(i * 4);
                case I16 -> b.getShort(i * 2);
                case I8 -> b.get(i);
                case U8, BOOL -> b.get(i) & 0xFF;
                case I64 -> {
                    long v = b.getLong(i * 8);
                    if (v != (int) v) {
                        throw new IllegalArgumentException(path + ": tensor '" + name + "' element " + i + " = " + v
                                + " does not fit in an int");
                    }
                    yield (int) v;
                }
                default -> throw new AssertionError(t.dtype());
            };
        }
        return out;
    }

    private ByteBuffer readTensorBytes(SafetensorsTensor t) {
        ensureOpen();
        if (t.byteSize() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(path + ": tensor '" + t.name() + "' has " + t.byteSize()
                    + " bytes, too many to read into one array; use weight(name)");
        }
        return readFully(path, channel, dataStart + t.begin(), (int) t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    }

    static RowDecoder decoder(SafetensorsDType dtype) {
        return switch (dtype) {
            case F32 -> Dequant::f32;
            case F16 -> Dequant::f16;
            case BF16 -> Dequant::bf16;
            case F64 -> (src, off, dst, d, n) -> {
                for (int i = 0; i < n; i++) {
                    dst[d + i] = (float) src.getDouble(off + 8 * i);
                }
            };
            default -> throw new IllegalArgumentException(dtype + " is not a float type");
        };
    }

    private static ByteBuffer readFully(Path file, FileChannel ch, long pos, int len) {
        ByteBuffer b = ByteBuffer.allocate(len);
        try {
            while (b.hasRemaining()) {
                if (ch.read(b, pos + b.position()) < 0) {
                    throw new ModelFileException(file, "truncated: expected " + len + " bytes at offset " + pos);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": read failed at offset " + pos, e);
        }
        return b.flip();
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    /** Closes the file; weights obtained from it fail afterwards. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful to do: the mapping stays valid until collected
        }
    }
}
