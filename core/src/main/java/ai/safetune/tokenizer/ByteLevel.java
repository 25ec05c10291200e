package ai.safetune.tokenizer;

/**
 * GPT-2's reversible byte &harr; printable-character mapping: every byte gets a visible code point so
 * that vocabulary entries are plain strings ("Ġ" is the space byte 0x20, "Ċ" the newline 0x0A).
 */
final class ByteLevel {
    /** Code point for each byte value. */
    static final int[] BYTE_TO_CHAR = new int[256];
    /** Byte value for each mapped code point (index &lt; 324), or -1. */
    private static final int[] CHAR_TO_BYTE = new int[324];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            int c = printable ? b : 256 + extra++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The byte a mapped code point stands for, or -1 when the code point is not part of the mapping. */
    static int byteOf(int codePoint) {
        return codePoint >= 0 && codePoint < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[codePoint] : -1;
    }

    /** The mapped string of raw bytes (how byte-level vocabularies spell them). */
    static String encode(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            sb.append((char) BYTE_TO_CHAR[b & 0xFF]);
        }
        return sb.toString();
    }

    /** The raw bytes of a mapped token string, or null when some character is outside the mapping. */
    static byte[] decode(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0) {
                return null;
            }
            out[i] = (byte) b;
        }
        return out;
    }
}
