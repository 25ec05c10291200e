package ai.safetune.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.UnmappableCharacterException;

/**
 * Splits a byte stream into numbered text lines, checking what {@link java.io.BufferedReader} would hide:
 * malformed bytes (reported, not replaced), over-long lines (reported without buffering them), byte order
 * marks (UTF-8 stripped, UTF-16/32 refused). Accepts LF and CRLF endings.
 *
 * <p>A bad line throws a {@link DataFormatException} for that line only; the reader is then positioned at the
 * next line, so a lenient caller can record the error and go on.
 */
final class LineReader implements Closeable {
    /** One decoded line: 1-based number, text without its terminator. */
    record Line(int number, String text) {
        boolean isBlank() {
            return text.isBlank();
        }
    }

    private final InputStream in;
    private final String file;
    private final int maxLineBytes;
    private final CharsetDecoder decoder;
    private final boolean utf8;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int lim;
    private byte[] line = new byte[256];
    private int lineLen;
    private int lineNumber;
    private boolean started;
    private boolean eof;

    LineReader(InputStream in, String file, ReadOptions options) {
        this.in = in;
        this.file = file;
        this.maxLineBytes = options.maxLineBytes();
        this.decoder = options.charset().newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        this.utf8 = options.charset().equals(StandardCharsets.UTF_8);
    }

    /** Number of the last line returned (or failed), 0 before the first. */
    int lineNumber() {
        return lineNumber;
    }

    /**
     * The next line, or null at the end of the input.
     *
     * @throws DataFormatException for a malformed or over-long line (the reader moves past it) or a
     *                             UTF-16/32 byte order mark (fatal)
     */
    Line next() {
        if (!started) {
            started = true;
            checkByteOrderMark();
        }
        if (eof && pos >= lim) {
            return null;
        }
        lineLen = 0;
        long total = 0;
        boolean sawAny = false;
        boolean terminated = false;
        while (!terminated) {
            if (pos >= lim && !fill()) {
                break;
            }
            sawAny = true;
            int start = pos;
            int nl = -1;
            for (int i = pos; i < lim; i++) {
                if (buf[i] == '\n') {
                    nl = i;
                    break;
                }
            }
            int end = nl >= 0 ? nl : lim;
            append(start, end - start);
            total += end - start;
            pos = nl >= 0 ? nl + 1 : lim;
            terminated = nl >= 0;
        }
        if (!sawAny) {
            return null;
        }
        lineNumber++;
        int len = lineLen;
        if (total == maxLineBytes + 1L && line[len - 1] == '\r') {
            total--; // the CR of a CRLF ending is not content
        }
        if (total > maxLineBytes) {
            throw new DataFormatException(file, lineNumber, null,
                    "a line of at most " + maxLineBytes + " bytes (ReadOptions.maxLineBytes)",
                    "a line of " + total + " bytes");
        }
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        return new Line(lineNumber, decode(len));
    }

    private void append(int start, int n) {
        // past the limit we only count bytes: the line is an error anyway and may be huge
        int room = maxLineBytes + 1 - lineLen;
        int take = Math.min(n, Math.max(room, 0));
        if (take <= 0) {
            return;
        }
        if (lineLen + take > line.length) {
            int cap = line.length;
            while (cap < lineLen + take) {
                cap *= 2;
            }
            line = java.util.Arrays.copyOf(line, cap);
        }
        System.arraycopy(buf, start, line, lineLen, take);
        lineLen += take;
    }

    private String decode(int len) {
        if (utf8 && isAscii(len)) {
            return new String(line, 0, len, StandardCharsets.ISO_8859_1);
        }
        try {
            decoder.reset();
            CharBuffer chars = decoder.decode(ByteBuffer.wrap(line, 0, len));
            return chars.toString();
        } catch (MalformedInputException | UnmappableCharacterException e) {
            int offset = firstBadOffset(len);
            String bytes = offset >= 0 ? String.format("byte 0x%02X at byte %d of the line", line[offset] & 0xFF, offset + 1)
                    : "a malformed byte sequence";
            throw new DataFormatException(file, lineNumber, null, "valid " + decoder.charset().name() + " text",
                    "invalid " + bytes);
        } catch (CharacterCodingException e) {
            throw new DataFormatException(file, lineNumber, null, "valid " + decoder.charset().name() + " text",
                    e.toString());
        }
    }

    private boolean isAscii(int len) {
        for (int i = 0; i < len; i++) {
            if (line[i] < 0) {
                return false;
            }
        }
        return true;
    }

    /** Offset of the first byte the decoder rejects, for the error message (only runs on a bad line). */
    private int firstBadOffset(int len) {
        CharsetDecoder d = decoder.charset().newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(line, 0, len);
        CharBuffer out = CharBuffer.allocate(len + 1);
        java.nio.charset.CoderResult r = d.decode(in, out, true);
        return r.isError() ? in.position() : -1;
    }

    private boolean fill() {
        if (eof) {
            return false;
        }
        try {
            int n;
            do {
                n = in.read(buf, 0, buf.length);
            } while (n == 0);
            if (n < 0) {
                eof = true;
                pos = lim = 0;
                return false;
            }
            pos = 0;
            lim = n;
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private void checkByteOrderMark() {
        // fill up to 4 bytes so the marks can be recognised even from a trickling stream
        while (lim - pos < 4 && !eof) {
            try {
                int n = in.read(buf, lim, buf.length - lim);
                if (n < 0) {
                    eof = true;
                } else {
                    lim += n;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        int n = lim - pos;
        int b0 = n > 0 ? buf[pos] & 0xFF : -1;
        int b1 = n > 1 ? buf[pos + 1] & 0xFF : -1;
        int b2 = n > 2 ? buf[pos + 2] & 0xFF : -1;
        int b3 = n > 3 ? buf[pos + 3] & 0xFF : -1;
        if (b0 == 0xEF && b1 == 0xBB && b2 == 0xBF) {
            pos += 3;
            return;
        }
        String found = null;
        if (b0 == 0x00 && b1 == 0x00 && b2 == 0xFE && b3 == 0xFF) {
            found = "UTF-32BE";
        } else if (b0 == 0xFF && b1 == 0xFE && b2 == 0x00 && b3 == 0x00) {
            found = "UTF-32LE";
        } else if (b0 == 0xFE && b1 == 0xFF) {
            found = "UTF-16BE";
        } else if (b0 == 0xFF && b1 == 0xFE) {
            found = "UTF-16LE";
        }
        if (found != null && utf8) {
            eof = true;
            pos = lim;
            throw new DataFormatException(file, 1, null, "UTF-8 text",
                    "a " + found + " byte order mark (re-save the file as UTF-8)");
        }
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + file + ": " + e.getMessage(), e);
        }
    }
}
