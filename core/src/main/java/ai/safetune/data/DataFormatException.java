package ai.safetune.data;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Bad input in a data file: names the file, the 1-based line, the field (when one is to blame), what was
 * expected and what was found, e.g. {@code data.jsonl:17: field "messages[2].role": expected one of system,
 * user, assistant, got "bot"}.
 *
 * <p>A lenient read that found several problems reports them together as one exception whose
 * {@link #errors()} lists each of them (file and line of the first one); a single problem lists itself.
 * Whole-file problems (an empty file, a UTF-16 byte order mark) are reported on line 1.
 */
public class DataFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final String field;
    private final String expected;
    private final String actual;
    private final transient List<DataFormatException> errors;

    /**
     * @param file     the file as the caller named it
     * @param line     1-based line number
     * @param field    the field/column path to blame, or null when the whole line is wrong
     * @param expected what a valid line would have there ("a string", "one of A, B, C")
     * @param actual   what was found, already rendered for humans (quoted values), or null
     */
    public DataFormatException(String file, int line, String field, String expected, String actual) {
        super(render(file, line, field, expected, actual));
        this.file = Objects.requireNonNull(file, "file");
        if (line < 1) {
            throw new IllegalArgumentException("line numbers are 1-based, got " + line);
        }
        this.line = line;
        this.field = field;
        this.expected = Objects.requireNonNull(expected, "expected");
        this.actual = actual;
        this.errors = List.of(this);
    }

    private DataFormatException(List<DataFormatException> all) {
        super(renderAll(all));
        DataFormatException first = all.get(0);
        this.file = first.file;
        this.line = first.line;
        this.field = first.field;
        this.expected = first.expected;
        this.actual = first.actual;
        this.errors = List.copyOf(all);
    }

    /** One exception reporting every error in {@code all} (which must not be empty); a single error is returned as is. */
    public static DataFormatException of(List<DataFormatException> all) {
        if (all.isEmpty()) {
            throw new IllegalArgumentException("no errors to report");
        }
        if (all.size() == 1) {
            return all.get(0);
        }
        java.util.ArrayList<DataFormatException> flat = new java.util.ArrayList<>();
        for (DataFormatException e : all) {
            flat.addAll(e.errors());
        }
        return new DataFormatException(flat);
    }

    public String file() { return file; }

    /** 1-based line of the (first) problem. */
    public int line() { return line; }

    public Optional<String> field() { return Optional.ofNullable(field); }

    public String expected() { return expected; }

    public Optional<String> actual() { return Optional.ofNullable(actual); }

    /** Every problem this exception reports, in file order; just {@code this} for a single problem. */
    public List<DataFormatException> errors() { return errors; }

    private static String render(String file, int line, String field, String expected, String actual) {
        StringBuilder sb = new StringBuilder().append(file).append(':').append(line).append(": ");
        if (field != null) {
            sb.append("field \"").append(field).append("\": ");
        }
        sb.append("expected ").append(expected);
        if (actual != null) {
            sb.append(", got ").append(actual);
        }
        return sb.toString();
    }

    private static String renderAll(List<DataFormatException> all) {
        StringBuilder sb = new StringBuilder().append(all.size()).append(" errors in ").append(all.get(0).file);
        for (DataFormatException e : all) {
            sb.append(System.lineSeparator()).append("  ").append(e.getMessage());
        }
        return sb.toString();
    }
}
