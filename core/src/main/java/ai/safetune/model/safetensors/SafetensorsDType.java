package ai.safetune.model.safetensors;

import java.util.Arrays;
import java.util.Optional;

/** The safetensors element types this reader understands (names as in the file header). */
public enum SafetensorsDType {
    F64(8, true), F32(4, true), F16(2, true), BF16(2, true),
    I64(8, false), I32(4, false), I16(2, false), I8(1, false), U8(1, false), BOOL(1, false);

    private final int bytes;
    private final boolean floating;

    SafetensorsDType(int bytes, boolean floating) {
        this.bytes = bytes;
        this.floating = floating;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The type named {@code s} in a header ({@code "BF16"}), if known. */
    public static Optional<SafetensorsDType> parse(String s) {
        return Arrays.stream(values()).filter(t -> t.name().equals(s)).findFirst();
    }
}
