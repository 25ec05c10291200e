package ai.safetune.tokenizer;

/**
 * Splits text into the pieces that byte-level BPE encodes independently, exactly as the GPT-2 pattern
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+} does under
 * Oniguruma (Hugging Face tokenizers) and llama.cpp, optionally after splitting every digit off on its
 * own (the {@code Digits(individual_digits=true)} pre-tokenizer, llama.cpp's {@code \p{N}} pre-split).
 *
 * <p>Hand-written over code points instead of {@link java.util.regex}: Java's {@code \s} and
 * {@code \p{...}} classes differ from Oniguruma's Unicode ones, and a scanner is several times faster.
 */
final class PreTokenizer {
    private static final byte LETTER = 1, NUMBER = 2, SPACE = 3, OTHER = 4;
    private static final byte[] ASCII = new byte[128];

    static {
        for (int c = 0; c < 128; c++) {
            ASCII[c] = classifySlow(c);
        }
    }

    private final boolean individualDigits;

    PreTokenizer(boolean individualDigits) {
        this.individualDigits = individualDigits;
    }

    boolean individualDigits() {
        return individualDigits;
    }

    /** Receives one piece as UTF-16 index range [start, end) of the scanned text. */
    interface Sink {
        void piece(int start, int end);
    }

    /** Calls {@code sink} for every piece of {@code text[from, to)} in order; the pieces tile the range. */
    void split(String text, int from, int to, Sink sink) {
        int i = from;
        while (i < to) {
            int end = individualDigits ? digitAwareEnd(text, i, to) : to;
            if (end == i) {
                // i is a digit: it is a piece by itself
                int next = i + Character.charCount(text.codePointAt(i));
                sink.piece(i, next);
                i = next;
                continue;
            }
            splitGpt2(text, i, end, sink);
            i = end;
        }
    }

    /** End of the run before the next digit (number category), or {@code i} when text[i] is one. */
    private static int digitAwareEnd(String text, int i, int to) {
        int j = i;
        while (j < to) {
            int cp = text.codePointAt(j);
            if (classify(cp) == NUMBER) {
                return j;
            }
            j += Character.charCount(cp);
        }
        return to;
    }

    private static void splitGpt2(String s, int from, int to, Sink sink) {
        int i = from;
        while (i < to) {
            int end = matchAt(s, i, to);
            sink.piece(i, end);
            i = end;
        }
    }

    /** End of the leftmost-alternative match starting at i (always &gt; i). */
    private static int matchAt(String s, int i, int to) {
        char c = s.charAt(i);
        // 's|'t|'re|'ve|'m|'ll|'d
        if (c == '\'' && i + 1 < to) {
            char d = s.charAt(i + 1);
            if (d == 's' || d == 't' || d == 'm' || d == 'd') {
                return i + 2;
            }
            if (i + 2 < to) {
                char e = s.charAt(i + 2);
                if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
                    return i + 3;
                }
            }
        }
        byte cls = c < 128 ? ASCII[c] : classify(s.codePointAt(i));
        int start = i;
        if (c == ' ' && i + 1 < to) {
            // " ?X+" for X in letter, number, other: the optional space joins a following run
            char n1 = s.charAt(i + 1);
            byte nc = n1 < 128 ? ASCII[n1] : classify(s.codePointAt(i + 1));
            if (nc != SPACE) {
                return runEnd(s, i + 1, to, nc);
            }
        }
        if (cls != SPACE) {
            return runEnd(s, start, to, cls);
        }
        // \s+(?!\S) then \s+
        int j = runEnd(s, i, to, SPACE);
        if (j == to) {
            return j;
        }
        // the run is followed by a non-space: give its last whitespace char back to the next piece
        int last = s.offsetByCodePoints(j, -1);
        return last > i ? last : j;
    }

    private static int runEnd(String s, int i, int to, byte cls) {
        while (i < to) {
            char c = s.charAt(i);
            if (c < 128) {
                if (ASCII[c] != cls) {
                    break;
                }
                i++;
                continue;
            }
            int cp = s.codePointAt(i);
            if (classify(cp) != cls) {
                break;
            }
            i += Character.charCount(cp);
        }
        return i;
    }

    private static byte classify(int cp) {
        return cp < 128 ? ASCII[cp] : classifySlow(cp);
    }

    private static byte classifySlow(int cp) {
        if (isWhiteSpace(cp)) {
            return SPACE;
        }
        switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER: case Character.LOWERCASE_LETTER: case Character.TITLECASE_LETTER:
            case Character.MODIFIER_LETTER: case Character.OTHER_LETTER:
                return LETTER;
            case Character.DECIMAL_DIGIT_NUMBER: case Character.LETTER_NUMBER: case Character.OTHER_NUMBER:
                return NUMBER;
            default:
                return OTHER;
        }
    }

    /**
     * Unicode White_Space, which is what Oniguruma's {@code \s} means for Unicode text (Java's
     * {@link Character#isWhitespace} differs: it excludes no-break spaces and includes U+001C..U+001F).
     */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }
}
