package ai.safetune.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Reads JSON Lines: one JSON object per line, streamed (memory does not grow with the file).
 *
 * <p>Blank lines: only trailing blank lines (an editor's final newlines) are accepted. A blank line
 * followed by more records is an error, because it usually means a file was cut or concatenated badly and
 * the line count no longer matches the records. A file with no record at all is an error ("empty file").
 * Every other problem (malformed JSON, a non-object line, a field the mapper rejects, bad bytes, an
 * over-long line) is a {@link DataFormatException} naming the file and line; see {@link ReadOptions} for
 * strict versus lenient reads.
 */
public final class JsonlReader {
    private JsonlReader() {
    }

    /** Reads every record of {@code file}. Strict reads throw the first error; lenient ones return all. */
    public static <T> ReadResult<T> read(Path file, ReadOptions options, RecordMapper<T> mapper) {
        List<T> out = new ArrayList<>();
        List<DataFormatException> errors = forEach(file, options, mapper, out::add);
        return new ReadResult<>(out, errors);
    }

    /** Strict read of every record. */
    public static <T> List<T> read(Path file, RecordMapper<T> mapper) {
        return read(file, ReadOptions.defaults(), mapper).records();
    }

    /**
     * Streams the records of {@code file} to {@code sink} in order.
     *
     * @return the errors of a lenient read (empty for a strict read, which throws instead)
     */
    public static <T> List<DataFormatException> forEach(Path file, ReadOptions options, RecordMapper<T> mapper,
                                                        Consumer<? super T> sink) {
        return forEach(Json.open(file), file.toString(), options, mapper, sink);
    }

    /** As {@link #forEach(Path, ReadOptions, RecordMapper, Consumer)} for a stream named {@code name}; closes it. */
    public static <T> List<DataFormatException> forEach(InputStream in, String name, ReadOptions options,
                                                        RecordMapper<T> mapper, Consumer<? super T> sink) {
        Objects.requireNonNull(mapper, "mapper");
        Objects.requireNonNull(sink, "sink");
        ErrorSink errors = new ErrorSink(options.strict());
        List<Integer> pendingBlank = new ArrayList<>();
        boolean any = false;
        try (LineReader lines = new LineReader(in, name, options)) {
            while (true) {
                LineReader.Line line;
                try {
                    line = lines.next();
                } catch (DataFormatException e) {
                    if (lines.lineNumber() == 0) {
                        errors.report(e); // byte order mark of another encoding: nothing else can be read
                        return errors.errors();
                    }
                    flushBlank(name, pendingBlank, errors);
                    errors.report(e);
                    any = true;
                    continue;
                }
                if (line == null) {
                    break;
                }
                if (line.isBlank()) {
                    pendingBlank.add(line.number());
                    continue;
                }
                flushBlank(name, pendingBlank, errors);
                any = true;
                try {
                    JsonNode node = Json.parseLine(name, line.number(), line.text());
                    if (!node.isObject()) {
                        throw new DataFormatException(name, line.number(), null, "a JSON object",
                                JsonRecord.describe(node));
                    }
                    T value = mapper.map(new JsonRecord(name, line.number(), "", node, null));
                    if (value == null) {
                        throw new IllegalStateException("record mapper returned null for " + name + ":" + line.number());
                    }
                    sink.accept(value);
                } catch (DataFormatException e) {
                    errors.report(e);
                } catch (IllegalArgumentException e) {
                    errors.report(Json.invalidRecord(name, line.number(), e));
                }
            }
        }
        if (!any) {
            errors.report(new DataFormatException(name, 1, null, "at least one JSON line", "an empty file"));
        }
        return errors.errors();
    }

    private static void flushBlank(String name, List<Integer> pendingBlank, ErrorSink errors) {
        for (int n : pendingBlank) {
            errors.report(new DataFormatException(name, n, null,
                    "a JSON object (blank lines are allowed only at the end of the file)", "a blank line"));
        }
        pendingBlank.clear();
    }
}
