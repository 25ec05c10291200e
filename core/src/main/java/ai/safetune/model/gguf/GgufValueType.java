package ai.safetune.model.gguf;

/**
 * GGUF metadata value types, with the Java type each becomes in {@link GgufFile#metadata()}:
 * UINT8/INT8/UINT16/INT16/INT32 → {@link Integer} (unsigned values widened), UINT32/INT64/UINT64 → {@link Long}
 * (UINT64 above 2^63 keeps its bit pattern), FLOAT32 → {@link Float}, FLOAT64 → {@link Double},
 * BOOL → {@link Boolean}, STRING → {@link String}. Arrays become primitive arrays: int[] (the int-like types),
 * long[] (UINT32/INT64/UINT64), float[], double[], boolean[], {@code List<String>}, and nested arrays
 * {@code List<Object>}.
 */
public enum GgufValueType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(8), ARRAY(12),
    UINT64(8), INT64(8), FLOAT64(8);

    /** Fewest bytes one value of this type can take in a file (a string: its 8-byte length; an array: type + count). */
    final int minBytes;

    GgufValueType(int minBytes) {
        this.minBytes = minBytes;
    }

    /** The type with file id {@code id}, or null if unknown. */
    static GgufValueType byId(int id) {
        GgufValueType[] v = values();
        return id >= 0 && id < v.length ? v[id] : null;
    }
}
