package ai.safetune.model.gguf;

import ai.safetune.model.ModelFileException;
import ai.safetune.model.io.MappedRows;
import ai.safetune.model.io.MappedWeight;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A GGUF file (versions 2 and 3): metadata, tensor infos, and memory-mapped tensor data.
 * The whole header is validated on open — counts and string lengths against the bytes left in the file
 * before anything is allocated, tensor types, shapes and offsets against the file length — so a truncated
 * or corrupted file fails here with a {@link ModelFileException} naming the key or tensor.
 * Tensor data is not read on open: {@link #weight} maps it (several mappings for tensors over 2 GiB).
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" read little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_KEY_BYTES = 65535;
    static final int MAX_TENSOR_NAME_BYTES = 65535;
    static final int MAX_DIMS = 4;
    static final int MAX_ARRAY_NESTING = 4;

    private final Path path;
    private final FileChannel channel;
    private final int version;
    private final long fileSize;
    private final int alignment;
    private final long dataOffset;
    private final Map<String, Object> metadata;
    private final Map<String, GgufValueType> types;
    private final Map<String, GgufTensorInfo> tensors;
    /** Data-section ranges mapped as one buffer each (lazily), covering every tensor that fits in one mapping. */
    private final long[] segmentStart;
    private final long[] segmentEnd;
    private final ByteBuffer[] segments;
    private final Map<String, Integer> segmentOf;
    private volatile boolean closed;

    private GgufFile(Path path, FileChannel channel, int version, long fileSize, int alignment, long dataOffset,
                     Map<String, Object> metadata, Map<String, GgufValueType> types, Map<String, GgufTensorInfo> tensors) {
        this.path = path;
        this.channel = channel;
        this.version = version;
        this.fileSize = fileSize;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
        this.metadata = metadata;
        this.types = types;
        this.tensors = tensors;
        // Group tensors, in file order, into ranges of at most one mapping each: a few mmaps instead of one per tensor.
        List<GgufTensorInfo> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(GgufTensorInfo::offset));
        List<long[]> ranges = new ArrayList<>();
        Map<String, Integer> of = new java.util.HashMap<>();
        for (GgufTensorInfo t : sorted) {
            if (t.byteSize() > MAX_SEGMENT_BYTES) {
                continue; // mapped on its own, in several row-aligned buffers
            }
            long[] last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
            if (last == null || t.offset() + t.byteSize() - last[0] > MAX_SEGMENT_BYTES) {
                last = new long[] {t.offset(), t.offset()};
                ranges.add(last);
            }
            last[1] = t.offset() + t.byteSize();
            of.put(t.name(), ranges.size() - 1);
        }
        this.segmentStart = ranges.stream().mapToLong(r -> r[0]).toArray();
        this.segmentEnd = ranges.stream().mapToLong(r -> r[1]).toArray();
        this.segments = new ByteBuffer[ranges.size()];
        this.segmentOf = of;
    }

    /** Largest single mapping (one {@link ByteBuffer} addresses at most 2 GiB). */
    static final long MAX_SEGMENT_BYTES = Integer.MAX_VALUE - 8;

    private synchronized ByteBuffer segment(int i) {
        if (segments[i] == null) {
            try {
                segments[i] = channel.map(FileChannel.MapMode.READ_ONLY, dataOffset + segmentStart[i],
                        segmentEnd[i] - segmentStart[i]);
            } catch (IOException e) {
                throw new ModelFileException(path, "cannot map tensor data [" + segmentStart[i] + ", " + segmentEnd[i]
                        + ") of the data section: " + e, e);
            }
        }
        return segments[i];
    }

    /** Number of tensor-data mappings made so far (for tests and diagnostics). */
    synchronized int mappedSegments() {
        return (int) java.util.Arrays.stream(segments).filter(java.util.Objects::nonNull).count();
    }

    public static GgufFile open(Path file) {
        FileChannel ch;
        long size;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            size = ch.size();
        } catch (IOException e) {
            throw new ModelFileException(file, "cannot open GGUF file: " + e, e);
        }
        try {
            return parse(file, ch, size);
        } catch (RuntimeException e) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the parse error is the one to report
            }
            throw e;
        }
    }

    private static GgufFile parse(Path file, FileChannel ch, long size) {
        GgufReader r = new GgufReader(file, ch, size);
        if (size < 24) {
            throw new ModelFileException(file, "not a GGUF file: " + size + " bytes, the header alone needs 24");
        }
        int magic = r.i32();
        if (magic != MAGIC) {
            throw new ModelFileException(file, String.format("not a GGUF file: magic 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
        }
        int version = r.i32();
        if (version == 1) {
            throw new ModelFileException(file, "GGUF version 1 is not supported (only 2 and 3)");
        }
        if (version != 2 && version != 3) {
            throw new ModelFileException(file, "unsupported GGUF version " + Integer.toUnsignedString(version)
                    + (Integer.reverseBytes(version) <= 3 ? " (a big-endian file?)" : "") + "; supported: 2, 3");
        }
        long tensorCount = r.count("tensor count", 4 + 8 + 4 + 8 + 8 + 1);
        long kvCount = r.count("metadata key/value count", 8 + 1 + 4 + 1);

        Map<String, Object> metadata = new LinkedHashMap<>();
        Map<String, GgufValueType> types = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            r.context = "metadata entry #" + i;
            String key = r.string("key", MAX_KEY_BYTES);
            r.context = "metadata key '" + key + "'";
            if (metadata.containsKey(key)) {
                throw r.error("duplicate key");
            }
            GgufValueType type = valueType(r);
            metadata.put(key, readValue(r, type, 0));
            types.put(key, type);
        }

        int alignment = DEFAULT_ALIGNMENT;
        if (metadata.containsKey("general.alignment")) {
            Object a = metadata.get("general.alignment");
            if (types.get("general.alignment") != GgufValueType.UINT32 || !(a instanceof Long l) || l <= 0
                    || l > (1 << 30) || Long.bitCount(l) != 1) {
                throw new ModelFileException(file, "general.alignment must be a UINT32 power of two, got "
                        + types.get("general.alignment") + " " + a);
            }
            alignment = (int) (long) (Long) a;
        }

        List<GgufTensorInfo> infos = new ArrayList<>();
        Map<String, GgufTensorInfo> byName = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            r.context = "tensor info #" + i;
            String name = r.string("tensor name", MAX_TENSOR_NAME_BYTES);
            r.context = "tensor '" + name + "'";
            if (byName.containsKey(name)) {
                throw r.error("duplicate tensor name");
            }
            long nDims = r.u32();
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw r.error("n_dims " + nDims + ", expected 1.." + MAX_DIMS);
            }
            long[] dims = new long[(int) nDims];
            long numel = 1;
            for (int d = 0; d < nDims; d++) {
                dims[d] = r.i64();
                if (dims[d] <= 0) {
                    throw r.error("dim " + d + " = " + Long.toUnsignedString(dims[d]) + ", expected 1..2^63-1");
                }
                try {
                    numel = Math.multiplyExact(numel, dims[d]);
                } catch (ArithmeticException e) {
                    throw r.error("dims " + Arrays.toString(Arrays.copyOf(dims, d + 1)) + " overflow a 64-bit element count");
                }
            }
            int typeId = r.i32();
            GgmlType type = GgmlType.byId(typeId).orElseThrow(() -> r.error("unknown ggml type id "
                    + Integer.toUnsignedString(typeId)));
            if (dims[0] % type.blockSize() != 0) {
                throw r.error("first dim " + dims[0] + " is not a multiple of the " + type + " block size " + type.blockSize());
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(numel / type.blockSize(), type.typeSize());
            } catch (ArithmeticException e) {
                throw r.error("dims " + Arrays.toString(dims) + " of " + type + " overflow a 64-bit byte size");
            }
            long offset = r.i64();
            if (offset < 0 || offset % alignment != 0) {
                throw r.error("data offset " + Long.toUnsignedString(offset) + " is not a non-negative multiple of the alignment " + alignment);
            }
            GgufTensorInfo info = new GgufTensorInfo(name, dims, type, offset, bytes);
            infos.add(info);
            byName.put(name, info);
        }
        r.context = "tensor data";
        long dataOffset = (r.position() + alignment - 1) / alignment * alignment;
        long dataLen = size - dataOffset;
        List<GgufTensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(GgufTensorInfo::offset));
        long end = 0;
        for (GgufTensorInfo t : sorted) {
            if (t.offset() < end) {
                throw new ModelFileException(file, "tensor '" + t.name() + "' at data offset " + t.offset()
                        + " overlaps the tensor before it (which ends at " + end + ")");
            }
            if (t.offset() > dataLen || t.byteSize() > dataLen - t.offset()) {
                throw new ModelFileException(file, "tensor '" + t.name() + "' (" + t.type() + " " + Arrays.toString(t.dims())
                        + ", " + t.byteSize() + " bytes at data offset " + t.offset() + ") extends past the end of the file: "
                        + "data section starts at " + dataOffset + ", file has " + size + " bytes");
            }
            end = t.offset() + t.byteSize();
        }
        return new GgufFile(file, ch, version, size, alignment, dataOffset, Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(types), Collections.unmodifiableMap(byName));
    }

    private static GgufValueType valueType(GgufReader r) {
        int id = r.i32();
        GgufValueType t = GgufValueType.byId(id);
        if (t == null) {
            throw r.error("unknown value type id " + Integer.toUnsignedString(id) + ", expected 0..12");
        }
        return t;
    }

    private static Object readValue(GgufReader r, GgufValueType type, int depth) {
        switch (type) {
            case UINT8: return r.u8();
            case INT8: return (int) r.i8();
            case UINT16: return r.i16() & 0xFFFF;
            case INT16: return (int) r.i16();
            case UINT32: return r.u32();
            case INT32: return r.i32();
            case FLOAT32: return r.f32();
            case BOOL: return bool(r);
            case STRING: return r.string("string value", Integer.MAX_VALUE - 8);
            case UINT64:
            case INT64: return r.i64();
            case FLOAT64: return r.f64();
            case ARRAY: return readArray(r, depth);
            default: throw new AssertionError(type);
        }
    }

    private static boolean bool(GgufReader r) {
        int b = r.u8();
        if (b > 1) {
            throw r.error("bool value " + b + ", expected 0 or 1");
        }
        return b == 1;
    }

    private static Object readArray(GgufReader r, int depth) {
        if (depth >= MAX_ARRAY_NESTING) {
            throw r.error("arrays nested deeper than " + MAX_ARRAY_NESTING);
        }
        GgufValueType et = valueType(r);
        long n = r.count("array length", et.minBytes);
        if (n > Integer.MAX_VALUE - 8) {
            throw r.error("array length " + n + " exceeds the supported maximum");
        }
        int len = (int) n;
        switch (et) {
            case UINT8, INT8, UINT16, INT16, INT32 -> {
                int[] a = new int[len];
                for (int i = 0; i < len; i++) {
                    a[i] = switch (et) {
                        case UINT8 -> r.u8();
                        case INT8 -> r.i8();
                        case UINT16 -> r.i16() & 0xFFFF;
                        case INT16 -> r.i16();
                        default -> r.i32();
                    };
                }
                return a;
            }
            case UINT32, INT64, UINT64 -> {
                long[] a = new long[len];
                for (int i = 0; i < len; i++) {
                    a[i] = et == GgufValueType.UINT32 ? r.u32() : r.i64();
                }
                return a;
            }
            case FLOAT32 -> {
                float[] a = new float[len];
                for (int i = 0; i < len; i++) {
                    a[i] = r.f32();
                }
                return a;
            }
            case FLOAT64 -> {
                double[] a = new double[len];
                for (int i = 0; i < len; i++) {
                    a[i] = r.f64();
                }
                return a;
            }
            case BOOL -> {
                boolean[] a = new boolean[len];
                for (int i = 0; i < len; i++) {
                    a[i] = bool(r);
                }
                return a;
            }
            case STRING -> {
                List<String> a = new ArrayList<>(len);
                for (int i = 0; i < len; i++) {
                    a.add(r.string("string element", i, Integer.MAX_VALUE - 8));
                }
                return Collections.unmodifiableList(a);
            }
            case ARRAY -> {
                List<Object> a = new ArrayList<>(len);
                for (int i = 0; i < len; i++) {
                    a.add(readArray(r, depth + 1));
                }
                return Collections.unmodifiableList(a);
            }
            default -> throw new AssertionError(et);
        }
    }

    // ---- accessors ----

    public Path path() {
        return path;
    }

    /** 2 or 3. */
    public int version() {
        return version;
    }

    public long fileSize() {
        return fileSize;
    }

    /** {@code general.alignment}, or 32. */
    public int alignment() {
        return alignment;
    }

    /** Absolute file offset of the tensor data section. */
    public long dataOffset() {
        return dataOffset;
    }

    /**
     * Every metadata entry in file order, values as described in {@link GgufValueType}. Array values are
     * shared: do not modify them.
     */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** The stored type of a key (for arrays: {@link GgufValueType#ARRAY}). */
    public Optional<GgufValueType> valueType(String key) {
        return Optional.ofNullable(types.get(key));
    }

    public boolean contains(String key) {
        return metadata.containsKey(key);
    }

    public Optional<Object> find(String key) {
        return Optional.ofNullable(metadata.get(key));
    }

    private Object require(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            throw new ModelFileException(path, "missing metadata key '" + key + "'");
        }
        return v;
    }

    private ModelFileException wrongType(String key, String expected) {
        return new ModelFileException(path, "metadata key '" + key + "' is " + types.get(key)
                + (metadata.get(key) instanceof List || metadata.get(key).getClass().isArray() ? " array" : "")
                + ", expected " + expected);
    }

    public String getString(String key) {
        if (require(key) instanceof String s) {
            return s;
        }
        throw wrongType(key, "a string");
    }

    public Optional<String> findString(String key) {
        return contains(key) ? Optional.of(getString(key)) : Optional.empty();
    }

    /** Any integer type whose value fits in an int. */
    public int getInt(String key) {
        long v = getLong(key);
        if (v != (int) v) {
            throw new ModelFileException(path, "metadata key '" + key + "' = " + v + " does not fit in an int");
        }
        return (int) v;
    }

    public OptionalInt findInt(String key) {
        return contains(key) ? OptionalInt.of(getInt(key)) : OptionalInt.empty();
    }

    /** Any integer type. */
    public long getLong(String key) {
        Object v = require(key);
        if (v instanceof Integer i) {
            return i;
        }
        if (v instanceof Long l) {
            return l;
        }
        throw wrongType(key, "an integer");
    }

    /** FLOAT32 or FLOAT64 (integers are accepted too). */
    public double getDouble(String key) {
        Object v = require(key);
        if (v instanceof Float || v instanceof Double || v instanceof Integer || v instanceof Long) {
            return ((Number) v).doubleValue();
        }
        throw wrongType(key, "a number");
    }

    public float getFloat(String key) {
        Object v = require(key);
        if (v instanceof Float f) {
            return f;
        }
        return (float) getDouble(key);
    }

    public Optional<Double> findDouble(String key) {
        return contains(key) ? Optional.of(getDouble(key)) : Optional.empty();
    }

    public boolean getBoolean(String key) {
        if (require(key) instanceof Boolean b) {
            return b;
        }
        throw wrongType(key, "a bool");
    }

    public Optional<Boolean> findBoolean(String key) {
        return contains(key) ? Optional.of(getBoolean(key)) : Optional.empty();
    }

    /** A string array (e.g. {@code tokenizer.ggml.tokens}, {@code tokenizer.ggml.merges}). */
    @SuppressWarnings("unchecked")
    public List<String> getStringList(String key) {
        Object v = require(key);
        if (v instanceof List<?> l && types.get(key) == GgufValueType.ARRAY && (l.isEmpty() || l.get(0) instanceof String)) {
            return (List<String>) l;
        }
        throw wrongType(key, "an array of strings");
    }

    /** An array of any integer type whose values fit in an int (e.g. {@code tokenizer.ggml.token_type}); a copy. */
    public int[] getIntArray(String key) {
        Object v = require(key);
        if (v instanceof int[] a) {
            return a.clone();
        }
        if (v instanceof long[] a) {
            int[] out = new int[a.length];
            for (int i = 0; i < a.length; i++) {
                if (a[i] != (int) a[i]) {
                    throw new ModelFileException(path, "metadata key '" + key + "' element " + i + " = " + a[i]
                            + " does not fit in an int");
                }
                out[i] = (int) a[i];
            }
            return out;
        }
        throw wrongType(key, "an array of integers");
    }

    /** A FLOAT32 array (e.g. {@code tokenizer.ggml.scores}); a copy. */
    public float[] getFloatArray(String key) {
        if (require(key) instanceof float[] a) {
            return a.clone();
        }
        throw wrongType(key, "an array of FLOAT32");
    }

    /** Tensor infos in file order. */
    public Map<String, GgufTensorInfo> tensors() {
        return tensors;
    }

    public Optional<GgufTensorInfo> findTensor(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** @throws ModelFileException naming the file and the missing tensor */
    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo t = tensors.get(name);
        if (t == null) {
            throw new ModelFileException(path, "no tensor '" + name + "'");
        }
        return t;
    }

    /** A tensor as a memory-mapped 2-D weight ({@code rows × cols}, see {@link GgufTensorInfo}), in stored order. */
    public MappedWeight weight(String tensorName) {
        return weight(tensorName, tensorName);
    }

    /** Like {@link #weight(String)}, reported under {@code weightName}. */
    public MappedWeight weight(String tensorName, String weightName) {
        if (closed) {
            throw new IllegalStateException(path + " is closed");
        }
        GgufTensorInfo t = tensor(tensorName);
        if (!t.type().isSupported()) {
            throw new ModelFileException(path, "tensor '" + tensorName + "' has type " + t.type() + ": "
                    + "cannot be dequantized yet");
        }
        if (t.rows() > Integer.MAX_VALUE || t.cols() > Integer.MAX_VALUE) {
            throw new ModelFileException(path, "tensor '" + tensorName + "' " + Arrays.toString(t.dims())
                    + " has more than 2^31 rows or columns");
        }
        long rowBytes = t.type().rowBytes(t.cols());
        Integer seg = segmentOf.get(tensorName);
        MappedRows rows;
        if (seg != null) {
            ByteBuffer b = segment(seg).slice((int) (t.offset() - segmentStart[seg]), (int) t.byteSize());
            rows = MappedRows.wrap(b, (int) t.rows(), rowBytes);
        } else {
            rows = MappedRows.map(channel, path, dataOffset + t.offset(), (int) t.rows(), rowBytes);
        }
        return new MappedWeight(weightName, t.type().name(), (int) t.rows(), (int) t.cols(), rows, t.type().decoder(),
                null, () -> closed);
    }

    /** Closes the file; weights obtained from it fail afterwards. */
    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // mappings stay valid until collected; nothing else to release
        }
    }

    @Override
    public String toString() {
        return path + " (GGUF v" + version + ", " + metadata.size() + " metadata keys, " + tensors.size() + " tensors)";
    }
}
