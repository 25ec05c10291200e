package ai.safetune.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a JSON file holding one array of records (or any whole JSON document, via {@link #readDocument}).
 *
 * <p>The whole file is parsed at once (it is one document), with the same encoding, byte-order-mark and
 * line-size checks as {@link JsonlReader}. Errors name the line where the offending element or field
 * starts. A syntax error, bad bytes or an over-long line end even a lenient read (the rest of the document
 * cannot be trusted): the lenient result then has no records and those errors. Errors inside well-formed
 * elements are collected in lenient mode. An empty file or an empty array is an error.
 */
public final class JsonArrayReader {
    private JsonArrayReader() {
    }

    public static <T> ReadResult<T> read(Path file, ReadOptions options, RecordMapper<T> mapper) {
        JsonRecord root;
        try {
            root = Json.readDocument(file, options);
            if (!root.node().isArray()) {
                throw root.fail(null, "a JSON array of records", JsonRecord.describe(root.node()));
            }
            if (root.node().isEmpty()) {
                throw root.fail(null, "at least one record", "an empty array");
            }
        } catch (DataFormatException e) {
            if (options.strict()) {
                throw e;
            }
            return new ReadResult<>(List.of(), e.errors());
        }
        return mapElements(root, options, mapper);
    }

    /** Strict read of every element. */
    public static <T> List<T> read(Path file, RecordMapper<T> mapper) {
        return read(file, ReadOptions.defaults(), mapper).records();
    }

    /** The whole document as a record, for files shaped as an object ({@code {"instructions":[...]}}). */
    public static JsonRecord readDocument(Path file, ReadOptions options) {
        return Json.readDocument(file, options);
    }

    /** Maps each element of an array record; the array must not be empty. */
    public static <T> ReadResult<T> mapElements(JsonRecord array, ReadOptions options, RecordMapper<T> mapper) {
        if (!array.node().isArray()) {
            throw array.fail(null, "a JSON array of records", JsonRecord.describe(array.node()));
        }
        if (array.node().isEmpty()) {
            throw array.fail(null, "at least one record", "an empty array");
        }
        ErrorSink errors = new ErrorSink(options.strict());
        List<T> out = new ArrayList<>();
        for (JsonRecord element : array.elements()) {
            try {
                T value = mapper.map(element);
                if (value == null) {
                    throw new IllegalStateException("record mapper returned null for " + element.file() + ":" + element.line());
                }
                out.add(value);
            } catch (DataFormatException e) {
                errors.report(e);
            } catch (IllegalArgumentException e) {
                errors.report(Json.invalidRecord(element.file(), element.line(), e));
            }
        }
        return new ReadResult<>(out, errors.errors());
    }
}
