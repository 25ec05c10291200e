package ai.safetune.eval;

import ai.safetune.data.PromptRecord;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvParser;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Reads a user's own prompt set: JSONL (one object per line with a prompt field) or CSV (a header row; the
 * prompt column named, or detected among the usual names). Every row becomes a prompt or an error naming
 * file, line and field: nothing is skipped.
 */
public final class PromptFiles {

    /** Column/field names recognised as the prompt, in order of preference. */
    public static final List<String> PROMPT_NAMES = List.of("prompt", "goal", "behavior", "behaviour", "instruction",
            "question", "query", "text");
    private static final List<String> CATEGORY_NAMES = List.of("category", "semanticcategory", "tag", "type");

    private PromptFiles() {
    }

    /**
     * Parses a {@code file:PATH} or {@code file:PATH#FIELD} suite spec into a harmful prompt set.
     */
    public static PromptSet fromSpec(String spec) throws IOException {
        if (!spec.startsWith("file:")) {
            throw new IllegalArgumentException("not a file suite: " + spec);
        }
        String rest = spec.substring(5);
        Optional<String> field = Optional.empty();
        int hash = rest.lastIndexOf('#');
        if (hash >= 0) {
            field = Optional.of(rest.substring(hash + 1));
            rest = rest.substring(0, hash);
        }
        if (rest.isEmpty()) {
            throw new IllegalArgumentException("suite " + spec + ": no path after file:");
        }
        return new PromptSet(spec, SuiteKind.HARMFUL, rest, read(Path.of(rest), field));
    }

    public static List<PromptRecord> read(Path file, Optional<String> field) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("prompt file " + file + " does not exist");
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        List<PromptRecord> out;
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            out = readJsonl(file, field);
        } else if (name.endsWith(".csv") || name.endsWith(".tsv")) {
            out = readCsv(file, field, name.endsWith(".tsv") ? '\t' : ',');
        } else {
            throw new IllegalArgumentException("prompt file " + file + ": expected .jsonl or .csv/.tsv");
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("prompt file " + file + " has no prompts");
        }
        return out;
    }

    private static List<PromptRecord> readJsonl(Path file, Optional<String> field) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<PromptRecord> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = json.readTree(line);
                } catch (JacksonException e) {
                    throw new IllegalArgumentException(file + " line " + lineNo + ": not JSON: " + e.getOriginalMessage());
                }
                if (node == null || !node.isObject()) {
                    throw new IllegalArgumentException(file + " line " + lineNo + ": expected a JSON object");
                }
                Map<String, String> fields = new LinkedHashMap<>();
                node.fields().forEachRemaining(e -> fields.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString()));
                String key = promptKey(fields.keySet(), field, file + " line " + lineNo);
                JsonNode p = node.get(key);
                if (!p.isTextual()) {
                    throw new IllegalArgumentException(file + " line " + lineNo + ": field '" + key + "' is not a string");
                }
                out.add(record(file, lineNo, key, p.asText(), fields));
            }
        }
        return out;
    }

    private static List<PromptRecord> readCsv(Path file, Optional<String> field, char sep) throws IOException {
        CsvMapper csv = new CsvMapper();
        csv.enable(CsvParser.Feature.FAIL_ON_MISSING_COLUMNS);
        CsvSchema schema = CsvSchema.emptySchema().withHeader().withColumnSeparator(sep);
        List<PromptRecord> out = new ArrayList<>();
        try (MappingIterator<Map<String, String>> it = csv.readerForMapOf(String.class).with(schema).readValues(file.toFile())) {
            String key = null;
            while (true) {
                Map<String, String> row;
                try {
                    if (!it.hasNextValue()) {
                        break;
                    }
                    row = it.nextValue();
                } catch (JacksonException e) {
                    throw new IllegalArgumentException(file + " line " + (e.getLocation() == null ? "?" : e.getLocation().getLineNr())
                            + ": " + e.getOriginalMessage());
                }
                int lineNo = it.getCurrentLocation().getLineNr();
                if (key == null) {
                    key = promptKey(row.keySet(), field, file.toString());
                }
                out.add(record(file, lineNo, key, row.get(key), row));
            }
        }
        return out;
    }

    private static PromptRecord record(Path file, int lineNo, String key, String prompt, Map<String, String> fields) {
        if (prompt == null || prompt.isBlank()) {
            throw new IllegalArgumentException(file + " line " + lineNo + ": field '" + key + "' is empty");
        }
        Optional<String> category = Optional.empty();
        for (String c : CATEGORY_NAMES) {
            for (Map.Entry<String, String> e : fields.entrySet()) {
                if (e.getKey().toLowerCase(Locale.ROOT).equals(c) && e.getValue() != null && !e.getValue().isBlank()) {
                    category = Optional.of(e.getValue());
                    break;
                }
            }
            if (category.isPresent()) {
                break;
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        fields.forEach((k, v) -> {
            if (!k.equals(key) && v != null) {
                meta.put(k, v);
            }
        });
        meta.put("source", file.toString());
        meta.put("line", Integer.toString(lineNo));
        return new PromptRecord(file.getFileName() + "#" + lineNo, prompt, category, meta);
    }

    private static String promptKey(java.util.Set<String> keys, Optional<String> field, String where) {
        if (field.isPresent()) {
            if (!keys.contains(field.get())) {
                throw new IllegalArgumentException(where + ": no field '" + field.get() + "' (fields: " + keys + ")");
            }
            return field.get();
        }
        for (String want : PROMPT_NAMES) {
            for (String k : keys) {
                if (k.toLowerCase(Locale.ROOT).equals(want)) {
                    return k;
                }
            }
        }
        throw new IllegalArgumentException(where + ": no prompt field among " + keys + "; name it as file:PATH#FIELD"
                + " (recognised names: " + PROMPT_NAMES + ")");
    }
}
