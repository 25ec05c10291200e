package ai.safetune.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvParser;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads CSV or TSV files with a header row (RFC 4180 quoting with {@code "}, no backslash escapes).
 *
 * <p>Checks, each a {@link DataFormatException} naming file and line: encoding, byte order mark and line
 * size as in {@link ReadOptions}; an empty file or a header with no data rows; duplicate or blank header
 * names; a row whose number of values differs from the header's; a quoting error (text after a closing
 * quote, a quote never closed — reported at the row where it opened); a blank line that is not at the end
 * of the file. Quoting errors, bad bytes and over-long lines end even a lenient read (the parser cannot find
 * the next row reliably); the lenient result then holds the rows before them and the errors. Row-level
 * errors are collected. The file is decoded whole before parsing (the shared tables are small); line
 * endings are normalised, so a quoted value spanning CRLF lines holds "\n".
 */
public final class TableReader {
    private static final CsvMapper CSV = new CsvMapper();

    private final char separator;

    private TableReader(char separator) {
        this.separator = separator;
    }

    /** Comma-separated. */
    public static TableReader csv() {
        return new TableReader(',');
    }

    /** Tab-separated. */
    public static TableReader tsv() {
        return new TableReader('\t');
    }

    /** A reader for another single-character separator (';', '|'). */
    public static TableReader withSeparator(char separator) {
        if (separator == '"' || separator == '\n' || separator == '\r') {
            throw new IllegalArgumentException("separator cannot be a quote or a line break");
        }
        return new TableReader(separator);
    }

    /** Reads the rows of {@code file} as task examples through {@code mapping}. */
    public ReadResult<TaskExample> readTasks(Path file, TaskMapping mapping, ReadOptions options) {
        return read(file, options, mapping::map);
    }

    /** Strict read as task examples. */
    public List<TaskExample> readTasks(Path file, TaskMapping mapping) {
        return readTasks(file, mapping, ReadOptions.defaults()).records();
    }

    /** Reads every data row of {@code file} through {@code mapper}. */
    public <T> ReadResult<T> read(Path file, ReadOptions options, RowMapper<T> mapper) {
        String name = file.toString();
        String text;
        try (LineReader lines = new LineReader(Json.open(file), name, options)) {
            text = readText(lines, name, options);
        } catch (DataFormatException e) {
            if (options.strict()) {
                throw e;
            }
            return new ReadResult<>(List.of(), e.errors());
        }
        ErrorSink errors = new ErrorSink(options.strict());
        List<T> out = new ArrayList<>();
        CsvSchema schema = CsvSchema.emptySchema().withColumnSeparator(separator).withQuoteChar('"');
        List<String> header = null;
        Map<String, Integer> index = new HashMap<>();
        List<Integer> pendingBlank = new ArrayList<>();
        int line = 1;
        int number = 0;
        try (CsvParser p = CSV.getFactory().createParser(text)) {
            p.setSchema(schema);
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t != JsonToken.START_ARRAY) {
                    throw new IllegalStateException("unexpected CSV token " + t);
                }
                int rowLine = line;
                List<String> values = new ArrayList<>();
                try {
                    while (p.nextToken() == JsonToken.VALUE_STRING) {
                        values.add(p.getText());
                    }
                } catch (JsonProcessingException e) {
                    errors.report(quotingError(name, rowLine, e));
                    break;
                }
                int newlines = 0;
                for (String v : values) {
                    newlines += countNewlines(v);
                }
                line = rowLine + 1 + newlines;
                if (header == null) {
                    header = header(name, rowLine, values, index);
                    continue;
                }
                if (values.size() == 1 && values.get(0).isBlank() && newlines == 0) {
                    pendingBlank.add(rowLine);
                    continue;
                }
                for (int b : pendingBlank) {
                    errors.report(new DataFormatException(name, b, null,
                            "a row (blank lines are allowed only at the end of the file)", "a blank line"));
                }
                pendingBlank.clear();
                number++;
                if (values.size() != header.size()) {
                    errors.report(new DataFormatException(name, rowLine, null,
                            header.size() + " values (" + String.join(", ", header) + ")",
                            values.size() + " value" + (values.size() == 1 ? "" : "s")));
                    continue;
                }
                try {
                    T value = mapper.map(new CsvRow(name, rowLine, number, header, values, index));
                    if (value == null) {
                        throw new IllegalStateException("row mapper returned null for " + name + ":" + rowLine);
                    }
                    out.add(value);
                } catch (DataFormatException e) {
                    errors.report(e);
                } catch (IllegalArgumentException e) {
                    errors.report(Json.invalidRecord(name, rowLine, e));
                }
            }
        } catch (JsonProcessingException e) {
            errors.report(quotingError(name, line, e));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (header == null && errors.errors().isEmpty()) {
            errors.report(new DataFormatException(name, 1, null, "a header row and at least one data row", "an empty file"));
        }
        if (number == 0 && errors.errors().isEmpty()) {
            errors.report(new DataFormatException(name, 1, null, "at least one data row after the header", "only the header"));
        }
        return new ReadResult<>(out, errors.errors());
    }

    private static String readText(LineReader lines, String name, ReadOptions options) {
        ErrorSink sink = new ErrorSink(options.strict());
        List<String> all = new ArrayList<>();
        int lastNonBlank = -1;
        while (true) {
            LineReader.Line l;
            try {
                l = lines.next();
            } catch (DataFormatException e) {
                if (lines.lineNumber() == 0) {
                    throw e;
                }
                sink.report(e);
                all.add("");
                continue;
            }
            if (l == null) {
                break;
            }
            all.add(l.text());
            if (!l.isBlank()) {
                lastNonBlank = all.size() - 1;
            }
        }
        if (!sink.errors().isEmpty()) {
            throw DataFormatException.of(sink.errors());
        }
        if (lastNonBlank < 0) {
            throw new DataFormatException(name, 1, null, "a header row and at least one data row", "an empty file");
        }
        // trailing blank lines are allowed: leave them out so the parser does not see empty rows
        StringBuilder text = new StringBuilder();
        for (int i = 0; i <= lastNonBlank; i++) {
            text.append(all.get(i)).append('\n');
        }
        return text.toString();
    }

    private static List<String> header(String name, int line, List<String> values, Map<String, Integer> index) {
        for (int i = 0; i < values.size(); i++) {
            String col = values.get(i).trim();
            if (col.isEmpty()) {
                throw new DataFormatException(name, line, null, "a header row of non-blank column names",
                        "a blank name for column " + (i + 1));
            }
            if (index.putIfAbsent(col, i) != null) {
                throw new DataFormatException(name, line, null, "a header row of distinct column names",
                        "\"" + col + "\" twice");
            }
        }
        return values.stream().map(String::trim).toList();
    }

    private static DataFormatException quotingError(String name, int rowLine, JsonProcessingException e) {
        String why = e.getOriginalMessage();
        if (why.contains("Missing closing quote")) {
            return new DataFormatException(name, rowLine, null,
                    "a closing quote for the value opened in the row starting on this line", "the end of the file");
        }
        int at = e.getLocation() != null && e.getLocation().getLineNr() > 0 ? e.getLocation().getLineNr() : rowLine;
        int cut = why.indexOf('\n');
        return new DataFormatException(name, at, null, "well-formed CSV quoting",
                "a quoting error: " + (cut >= 0 ? why.substring(0, cut) : why));
    }

    private static int countNewlines(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\n') {
                n++;
            }
        }
        return n;
    }
}
