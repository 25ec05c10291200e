package ai.safetune.data;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * How the data readers treat bad input.
 *
 * <p>{@code strict} (the default) throws the first {@link DataFormatException}. Lenient reads keep going,
 * return every well-formed record and report every bad one in {@link ReadResult#errors()}; nothing is
 * skipped without an error; a lenient read never throws {@link DataFormatException}. A few problems end
 * even a lenient read because nothing after them can be trusted (a UTF-16/UTF-32 byte order mark, a JSON
 * syntax error, bad bytes or an over-long line inside a whole-document JSON file, a CSV quoting error): the
 * result then holds the records read before them and the errors.
 *
 * <p>Text must be valid in {@code charset} (UTF-8 by default; malformed bytes are an error naming the line,
 * never replaced). A UTF-8 byte order mark is accepted and stripped; CRLF line endings are accepted.
 * A physical line longer than {@code maxLineBytes} (default 1 MiB) is an error: it protects a reader from a
 * file that is not line-oriented (a minified JSON blob, a binary file) without buffering it whole.
 *
 * @param strict       throw on the first error (true) or collect all of them (false)
 * @param maxLineBytes longest accepted physical line, in bytes, excluding the line terminator
 * @param charset      the file's encoding
 */
public record ReadOptions(boolean strict, int maxLineBytes, Charset charset) {
    public static final int DEFAULT_MAX_LINE_BYTES = 1 << 20;

    private static final ReadOptions DEFAULTS = new ReadOptions(true, DEFAULT_MAX_LINE_BYTES, StandardCharsets.UTF_8);

    public ReadOptions {
        Objects.requireNonNull(charset, "charset");
        if (maxLineBytes < 1) {
            throw new IllegalArgumentException("maxLineBytes must be at least 1, got " + maxLineBytes);
        }
    }

    /** Strict, 1 MiB lines, UTF-8. */
    public static ReadOptions defaults() {
        return DEFAULTS;
    }

    /** Lenient, otherwise the defaults. */
    public static ReadOptions lenient() {
        return builder().lenient().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().strict(strict).maxLineBytes(maxLineBytes).charset(charset);
    }

    public static final class Builder {
        private boolean strict = true;
        private int maxLineBytes = DEFAULT_MAX_LINE_BYTES;
        private Charset charset = StandardCharsets.UTF_8;

        private Builder() {
        }

        public Builder strict(boolean strict) {
            this.strict = strict;
            return this;
        }

        /** Collect every error instead of throwing the first. */
        public Builder lenient() {
            return strict(false);
        }

        public Builder maxLineBytes(int maxLineBytes) {
            this.maxLineBytes = maxLineBytes;
            return this;
        }

        public Builder charset(Charset charset) {
            this.charset = charset;
            return this;
        }

        public ReadOptions build() {
            return new ReadOptions(strict, maxLineBytes, charset);
        }
    }
}
