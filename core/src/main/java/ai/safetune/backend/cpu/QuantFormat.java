package ai.safetune.backend.cpu;

/**
 * The ggml block formats the fused quantized products understand: 32 values per block, an fp16 scale {@code d}
 * first. Q4_0: 16 bytes of nibbles, value = (q−8)·d. Q4_1: an fp16 min {@code m}, then 16 bytes of nibbles,
 * value = q·d + m. Q8_0: 32 int8, value = q·d. In nibble blocks byte j holds element j (low 4 bits) and element
 * j+16 (high 4 bits).
 */
enum QuantFormat {
    Q4_0(18, 2, true),
    Q4_1(20, 4, true),
    Q8_0(34, 2, false);

    static final int BLOCK = 32;

    /** Bytes per block. */
    final int blockBytes;
    /** Offset of the quants inside a block. */
    final int quantOffset;
    /** Nibbles (Q4_x) or int8 (Q8_0). */
    final boolean nibbles;

    QuantFormat(int blockBytes, int quantOffset, boolean nibbles) {
        this.blockBytes = blockBytes;
        this.quantOffset = quantOffset;
        this.nibbles = nibbles;
    }

    /** The format of a {@code storageType} name, or null when it has no fused product. */
    static QuantFormat of(String storageType) {
        return switch (storageType) {
            case "Q4_0" -> Q4_0;
            case "Q4_1" -> Q4_1;
            case "Q8_0" -> Q8_0;
            default -> null;
        };
    }
}
