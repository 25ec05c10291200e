package ai.safetune.data;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One data row of a CSV/TSV file with its header, for mapping to a record.
 *
 * @param file   the file as the caller named it
 * @param line   1-based line where the row starts (a quoted value may span several lines)
 * @param number 1-based position among the data rows (the header is not counted)
 * @param header the column names, in order
 * @param values the row's values, one per column
 */
public record CsvRow(String file, int line, int number, List<String> header, List<String> values,
                     Map<String, Integer> index) implements FieldSource {
    public CsvRow {
        header = List.copyOf(header);
        values = List.copyOf(values);
        index = Map.copyOf(index);
    }

    /** The value of {@code column}; empty only when the header has no such column. */
    @Override
    public Optional<String> get(String column) {
        Integer i = index.get(column);
        return i == null ? Optional.empty() : Optional.of(values.get(i));
    }

    /** The value of a column the header must have. */
    public String require(String column) {
        return get(column).orElseThrow(() -> fail(column, "a column named \"" + column + "\"",
                "columns " + String.join(", ", header)));
    }

    @Override
    public DataFormatException fail(String column, String expected, String actual) {
        return new DataFormatException(file, line, column, expected, actual);
    }
}
