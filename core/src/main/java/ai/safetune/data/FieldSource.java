package ai.safetune.data;

import java.util.Optional;

/** A flat record (a CSV row, a JSON object) that a {@link TaskMapping} reads text fields from. */
public interface FieldSource {
    /** The field's text; empty when the field is absent (or JSON null). */
    Optional<String> get(String field);

    /** An error about {@code field} (null: the whole record) naming this record's file and line. */
    DataFormatException fail(String field, String expected, String actual);

    String file();

    int line();
}
