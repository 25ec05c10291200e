package ai.safetune.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One JSON value being mapped to a record, with where it came from (file, line, path inside the line) so
 * that every accessor can fail with a {@link DataFormatException} naming the file, line and field.
 *
 * <p>Accessors are strict about types: a string field holding a number is an error, not a conversion.
 */
public final class JsonRecord implements FieldSource {
    private static final int MAX_SHOWN = 60;

    private final String file;
    private final int line;
    private final String path;
    private final JsonNode node;
    private final LineIndex lines;
    private final int index;

    /** Line numbers of the containers and fields of a whole-document parse (absent for JSONL). */
    static final class LineIndex {
        final Map<JsonNode, Integer> nodeLines = new IdentityHashMap<>();
        final Map<JsonNode, Map<String, Integer>> fieldLines = new IdentityHashMap<>();
        final Map<JsonNode, List<Integer>> elementLines = new IdentityHashMap<>();
    }

    JsonRecord(String file, int line, String path, JsonNode node, LineIndex lines) {
        this(file, line, path, node, lines, -1);
    }

    private JsonRecord(String file, int line, String path, JsonNode node, LineIndex lines, int index) {
        this.index = index;
        this.file = Objects.requireNonNull(file);
        this.line = line;
        this.path = path;
        this.node = Objects.requireNonNull(node);
        this.lines = lines;
    }

    /** A record for a JSON value read outside the readers (tests, callers with their own parsing). */
    public static JsonRecord of(String file, int line, JsonNode node) {
        return new JsonRecord(file, line, "", node, null);
    }

    @Override
    public String file() { return file; }

    /** 1-based line where this value starts. */
    @Override
    public int line() { return line; }

    /** Path of this value inside its line or document ("" for the record itself, "messages[2]"...). */
    public String path() { return path; }

    public JsonNode node() { return node; }

    /** 0-based position in the array this value was taken from by {@link #elements()}, or -1. */
    public int index() { return index; }

    /** {@code index() + 1} for an array element, else the line: a stable 1-based record number for ids. */
    public int position() { return index >= 0 ? index + 1 : line; }

    public boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    /**
     * A scalar field as text, for {@link TaskMapping}: strings as is, numbers and booleans as written;
     * absent or null gives empty; an object or array is an error.
     */
    @Override
    public Optional<String> get(String field) {
        requireObject(field);
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return Optional.empty();
        }
        if (!v.isValueNode()) {
            throw fail(field, "a string, number or boolean", describe(v));
        }
        return Optional.of(v.asText());
    }

    /** A required string field. */
    public String text(String field) {
        JsonNode v = field(field, "a string");
        if (!v.isTextual()) {
            throw fail(field, "a string", describe(v));
        }
        return v.textValue();
    }

    /** An optional string field: absent or null gives empty; any other type is an error. */
    public Optional<String> optText(String field) {
        JsonNode v = node.isObject() ? node.get(field) : null;
        if (v == null || v.isNull()) {
            requireObject(field);
            return Optional.empty();
        }
        if (!v.isTextual()) {
            throw fail(field, "a string or null", describe(v));
        }
        return Optional.of(v.textValue());
    }

    /** A required integer field (a JSON integer, not a string of digits). */
    public int integer(String field) {
        JsonNode v = field(field, "an integer");
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw fail(field, "an integer", describe(v));
        }
        return v.intValue();
    }

    /** A required non-null field of any type, as a record whose errors name {@code path.field}. */
    public JsonRecord value(String field, String expected) {
        return child(field, field(field, expected));
    }

    /** A required object field, as a record whose errors name {@code path.field}. */
    public JsonRecord object(String field) {
        JsonNode v = field(field, "an object");
        if (!v.isObject()) {
            throw fail(field, "an object", describe(v));
        }
        return child(field, v);
    }

    /** A required array field's elements, each as a record named {@code field[i]}. */
    public List<JsonRecord> array(String field) {
        JsonNode v = field(field, "an array");
        if (!v.isArray()) {
            throw fail(field, "an array", describe(v));
        }
        return child(field, v).elements();
    }

    /** This value's elements (it must be an array). */
    public List<JsonRecord> elements() {
        if (!node.isArray()) {
            throw fail(null, "an array", describe(node));
        }
        List<JsonRecord> out = new ArrayList<>(node.size());
        List<Integer> at = lines == null ? null : lines.elementLines.get(node);
        for (int i = 0; i < node.size(); i++) {
            JsonNode e = node.get(i);
            int l = at != null && i < at.size() ? at.get(i) : line;
            out.add(new JsonRecord(file, l, path + "[" + i + "]", e, lines, i));
        }
        return out;
    }

    /** A required array of strings. */
    public List<String> texts(String field) {
        List<String> out = new ArrayList<>();
        for (JsonRecord e : array(field)) {
            out.add(e.asText());
        }
        return out;
    }

    /** This value, which must be a string. */
    public String asText() {
        if (!node.isTextual()) {
            throw fail(null, "a string", describe(node));
        }
        return node.textValue();
    }

    /** This value, which must be an object. */
    public JsonRecord asObject() {
        if (!node.isObject()) {
            throw fail(null, "an object", describe(node));
        }
        return this;
    }

    /**
     * An error about {@code field} of this value (or this value itself when {@code field} is null), on the
     * field's own line when known.
     */
    @Override
    public DataFormatException fail(String field, String expected, String actual) {
        int at = line;
        if (field != null && lines != null) {
            Map<String, Integer> fl = lines.fieldLines.get(node);
            if (fl != null && fl.containsKey(field)) {
                at = fl.get(field);
            }
        }
        String where = field == null ? (path.isEmpty() ? null : path) : (path.isEmpty() ? field : path + "." + field);
        return new DataFormatException(file, at, where, expected, actual);
    }

    /** A short human rendering of a JSON value for "got ..." ("\"bot\"", "number 3", "an array"). */
    public static String describe(JsonNode v) {
        if (v == null || v.isMissingNode()) {
            return "nothing (field is missing)";
        }
        JsonNodeType t = v.getNodeType();
        switch (t) {
            case STRING: return quote(v.textValue());
            case NUMBER: return "number " + v.asText();
            case BOOLEAN: return "boolean " + v.asText();
            case NULL: return "null";
            case ARRAY: return "an array";
            case OBJECT: return "an object";
            default: return t.name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** A value quoted for an error message, shortened when long. */
    public static String quote(String s) {
        String shown = s.length() > MAX_SHOWN ? s.substring(0, MAX_SHOWN) + "..." : s;
        return '"' + shown.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "\\r") + '"';
    }

    private JsonNode field(String field, String expected) {
        requireObject(field);
        JsonNode v = node.get(field);
        if (v == null) {
            throw fail(field, expected, describe(null));
        }
        if (v.isNull()) {
            throw fail(field, expected, "null");
        }
        return v;
    }

    private void requireObject(String field) {
        if (!node.isObject()) {
            throw fail(null, "an object with field \"" + field + "\"", describe(node));
        }
    }

    private JsonRecord child(String field, JsonNode v) {
        int at = line;
        if (lines != null) {
            Integer l = lines.nodeLines.get(v);
            if (l == null) {
                Map<String, Integer> fl = lines.fieldLines.get(node);
                l = fl == null ? null : fl.get(field);
            }
            at = l == null ? line : l;
        }
        return new JsonRecord(file, at, path.isEmpty() ? field : path + "." + field, v, lines);
    }
}
