package ai.safetune.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Shared Jackson configuration and the whole-document parse that remembers line numbers. */
final class Json {
    /** Duplicate keys are ambiguous and trailing garbage means a broken line: both are errors. */
    static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Json() {
    }

    static InputStream open(Path file) {
        try {
            return Files.newInputStream(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    /** Parses one JSONL line; a syntax error becomes a {@link DataFormatException} for that line. */
    static JsonNode parseLine(String file, int line, String text) {
        try {
            return MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw syntaxError(file, line, e);
        }
    }

    /**
     * A record mapper's argument check (a value type's constructor refusing a value) as an error on the
     * record's line, so that it names the file like every other data error.
     */
    static DataFormatException invalidRecord(String file, int line, IllegalArgumentException e) {
        return new DataFormatException(file, line, null, "a valid record", "one that is not: " + e.getMessage());
    }

    static DataFormatException syntaxError(String file, int line, JsonProcessingException e) {
        int at = line;
        String col = "";
        if (e.getLocation() != null) {
            if (e.getLocation().getLineNr() > 1) {
                at = line + e.getLocation().getLineNr() - 1;
            }
            if (e.getLocation().getColumnNr() > 0) {
                col = " at column " + e.getLocation().getColumnNr();
            }
        }
        String why = e.getOriginalMessage();
        int cut = why.indexOf('\n');
        if (cut >= 0) {
            why = why.substring(0, cut);
        }
        return new DataFormatException(file, at, null, "well-formed JSON", "a syntax error" + col + ": " + why);
    }

    /**
     * Reads a whole JSON document through a {@link LineReader} (so encoding, BOM and line-size checks are
     * the same as for JSONL) and parses it into a tree whose containers and fields know their lines.
     * Line-level errors are all reported (lenient) before giving up; a syntax error ends the read.
     */
    static JsonRecord readDocument(Path path, ReadOptions options) {
        String file = path.toString();
        try (LineReader lines = new LineReader(open(path), file, options)) {
            return readDocument(lines, file, options);
        }
    }

    static JsonRecord readDocument(LineReader reader, String file, ReadOptions options) {
        ErrorSink sink = new ErrorSink(options.strict());
        StringBuilder text = new StringBuilder();
        boolean any = false;
        while (true) {
            LineReader.Line l;
            try {
                l = reader.next();
            } catch (DataFormatException e) {
                if (e.line() == 1 && reader.lineNumber() == 0) {
                    throw e; // byte order mark: fatal
                }
                sink.report(e);
                text.append('\n');
                continue;
            }
            if (l == null) {
                break;
            }
            any |= !l.isBlank();
            text.append(l.text()).append('\n');
        }
        if (!sink.errors().isEmpty()) {
            throw DataFormatException.of(sink.errors());
        }
        if (!any) {
            throw new DataFormatException(file, 1, null, "a JSON document", "an empty file");
        }
        JsonRecord.LineIndex index = new JsonRecord.LineIndex();
        try (JsonParser p = MAPPER.createParser(text.toString())) {
            p.nextToken();
            int line = p.currentTokenLocation().getLineNr();
            JsonNode root = readNode(p, index);
            if (p.nextToken() != null) {
                throw new DataFormatException(file, p.currentTokenLocation().getLineNr(), null,
                        "the end of the file after the JSON document", "more content");
            }
            return new JsonRecord(file, line, "", root, index);
        } catch (JsonProcessingException e) {
            throw syntaxError(file, 1, e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode readNode(JsonParser p, JsonRecord.LineIndex index) throws IOException {
        JsonToken t = p.currentToken();
        int line = p.currentTokenLocation().getLineNr();
        JsonNodeFactory nf = JsonNodeFactory.instance;
        if (t == JsonToken.START_OBJECT) {
            ObjectNode o = nf.objectNode();
            index.nodeLines.put(o, line);
            Map<String, Integer> fields = new HashMap<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                fields.put(name, p.currentTokenLocation().getLineNr());
                p.nextToken();
                o.set(name, readNode(p, index));
            }
            index.fieldLines.put(o, fields);
            return o;
        }
        if (t == JsonToken.START_ARRAY) {
            ArrayNode a = nf.arrayNode();
            index.nodeLines.put(a, line);
            List<Integer> at = new ArrayList<>();
            while (p.nextToken() != JsonToken.END_ARRAY) {
                at.add(p.currentTokenLocation().getLineNr());
                a.add(readNode(p, index));
            }
            index.elementLines.put(a, at);
            return a;
        }
        switch (t) {
            case VALUE_STRING: return nf.textNode(p.getText());
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT: return nf.numberNode(p.getIntValue());
                    case LONG: return nf.numberNode(p.getLongValue());
                    default: return nf.numberNode(p.getBigIntegerValue());
                }
            case VALUE_NUMBER_FLOAT: return nf.numberNode(p.getDoubleValue());
            case VALUE_TRUE: return nf.booleanNode(true);
            case VALUE_FALSE: return nf.booleanNode(false);
            case VALUE_NULL: return nf.nullNode();
            default: throw new JsonParseException(p, "unexpected token " + t);
        }
    }

    /** Maps a record to a value, given the id to use when the record has none. */
    @FunctionalInterface
    interface IdentifiedMapper<T> {
        T map(JsonRecord rec, String defaultId);
    }

    /**
     * Reads a JSONL file, or a JSON array of the same records when it starts with '['; a record without an id
     * gets {@code <file name>#<n>} (n = line for JSONL, 1-based position for arrays).
     */
    static <T> ReadResult<T> readRecords(Path file, ReadOptions options, IdentifiedMapper<T> mapper) {
        String prefix = String.valueOf(file.getFileName());
        if (startsWithArray(file)) {
            return JsonArrayReader.read(file, options, rec -> mapper.map(rec, prefix + "#" + rec.position()));
        }
        return JsonlReader.read(file, options, rec -> mapper.map(rec, prefix + "#" + rec.line()));
    }

    /** The optional {@code "metadata"} object of strings of a record, in file order (empty and mutable when absent). */
    static Map<String, String> metadata(JsonRecord rec) {
        Map<String, String> meta = new LinkedHashMap<>();
        if (rec.has("metadata")) {
            JsonRecord m = rec.object("metadata");
            Iterator<String> names = m.node().fieldNames();
            while (names.hasNext()) {
                String k = names.next();
                meta.put(k, m.text(k));
            }
        }
        return meta;
    }

    /** Whether the first non-blank character (after a UTF-8 BOM) is '[': a JSON-array file rather than JSONL. */
    static boolean startsWithArray(Path file) {
        try (InputStream in = open(file)) {
            byte[] head = in.readNBytes(4096);
            int i = head.length >= 3 && (head[0] & 0xFF) == 0xEF && (head[1] & 0xFF) == 0xBB && (head[2] & 0xFF) == 0xBF ? 3 : 0;
            while (i < head.length && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) {
                i++;
            }
            return i < head.length && head[i] == '[';
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
