package ai.safetune.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Which columns (CSV/TSV) or fields (flat JSON objects) of a record make a {@link TaskExample}.
 *
 * <pre>{@code
 * TaskMapping m = TaskMapping.builder()
 *         .input("title", "description")          // joined with "\n"
 *         .answer("label")
 *         .answerAliases(Map.of("1", "World", "2", "Sports"))
 *         .choices(List.of(new Choice("World", ""), new Choice("Sports", "")))
 *         .build();
 * }</pre>
 *
 * <p>Rules: input columns must exist and the joined input must not be blank; the answer column must exist
 * and be non-blank; with choices (a fixed set, or per-row choice columns) the answer, after aliasing, must
 * be one of the labels, else an "unknown label" error naming the labels; without an id column the id is
 * {@code <idPrefix>#<line>}. Metadata columns are copied as written (absent ones are an error).
 */
public final class TaskMapping {
    private final List<String> input;
    private final String inputSeparator;
    private final String answer;
    private final String id;
    private final String idPrefix;
    private final String system;
    private final List<Choice> choices;
    private final Map<String, String> choiceColumns;
    private final Map<String, String> answerAliases;
    private final List<String> metadata;
    private final Map<String, String> constantMetadata;

    private TaskMapping(Builder b) {
        if (b.input.isEmpty()) {
            throw new IllegalArgumentException("a task mapping needs at least one input column");
        }
        Objects.requireNonNull(b.answer, "a task mapping needs an answer column");
        if (!b.choices.isEmpty() && !b.choiceColumns.isEmpty()) {
            throw new IllegalArgumentException("use either a fixed choice set or choice columns, not both");
        }
        this.input = List.copyOf(b.input);
        this.inputSeparator = b.inputSeparator;
        this.answer = b.answer;
        this.id = b.id;
        this.idPrefix = b.idPrefix;
        this.system = b.system;
        this.choices = List.copyOf(b.choices);
        this.choiceColumns = new LinkedHashMap<>(b.choiceColumns);
        this.answerAliases = Map.copyOf(b.answerAliases);
        this.metadata = List.copyOf(b.metadata);
        this.constantMetadata = Map.copyOf(b.constantMetadata);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Maps one record; throws {@link DataFormatException} naming the record's file, line and column. */
    public TaskExample map(FieldSource row) {
        StringBuilder text = new StringBuilder();
        for (String col : input) {
            String v = required(row, col);
            if (text.length() > 0 && !v.isEmpty()) {
                text.append(inputSeparator);
            }
            text.append(v);
        }
        if (text.toString().isBlank()) {
            throw row.fail(input.get(input.size() - 1), "non-blank input text", "blank text");
        }
        String raw = required(row, answer);
        String gold = answerAliases.getOrDefault(raw, raw);
        List<Choice> options = choices;
        if (!choiceColumns.isEmpty()) {
            options = new ArrayList<>();
            for (Map.Entry<String, String> e : choiceColumns.entrySet()) {
                options.add(new Choice(e.getKey(), required(row, e.getValue())));
            }
        }
        if (gold.isBlank()) {
            throw row.fail(answer, "a non-blank answer", "blank text");
        }
        if (!options.isEmpty() && options.stream().noneMatch(c -> c.label().equals(gold))) {
            List<String> labels = options.stream().map(Choice::label).toList();
            List<String> aliases = new ArrayList<>(answerAliases.keySet());
            aliases.sort(null);
            String expected = aliases.isEmpty() ? "one of " + String.join(", ", labels)
                    : "one of " + String.join(", ", aliases) + " (or a label: " + String.join(", ", labels) + ")";
            throw row.fail(answer, expected, JsonRecord.quote(raw));
        }
        String exampleId = id == null ? idPrefix + "#" + row.line() : required(row, id);
        if (exampleId.isBlank()) {
            throw row.fail(id, "a non-blank id", "blank text");
        }
        Optional<String> sys = system == null ? Optional.empty() : row.get(system).filter(s -> !s.isEmpty());
        Map<String, String> meta = new LinkedHashMap<>(constantMetadata);
        for (String col : metadata) {
            meta.put(col, required(row, col));
        }
        return new TaskExample(exampleId, sys, text.toString(), options, gold, meta);
    }

    private static String required(FieldSource row, String col) {
        return row.get(col).orElseThrow(() -> row.fail(col, "a value (the column/field is mapped)", "nothing (missing)"));
    }

    public static final class Builder {
        private final List<String> input = new ArrayList<>();
        private String inputSeparator = "\n";
        private String answer;
        private String id;
        private String idPrefix = "row";
        private String system;
        private final List<Choice> choices = new ArrayList<>();
        private final Map<String, String> choiceColumns = new LinkedHashMap<>();
        private final Map<String, String> answerAliases = new LinkedHashMap<>();
        private final List<String> metadata = new ArrayList<>();
        private final Map<String, String> constantMetadata = new LinkedHashMap<>();

        private Builder() {
        }

        /** The input column(s); several are joined with {@link #inputSeparator} (default "\n"), empty ones skipped. */
        public Builder input(String... columns) {
            input.addAll(List.of(columns));
            return this;
        }

        public Builder inputSeparator(String separator) {
            this.inputSeparator = Objects.requireNonNull(separator);
            return this;
        }

        public Builder answer(String column) {
            this.answer = Objects.requireNonNull(column);
            return this;
        }

        /** The id column; without one ids are {@code <idPrefix>#<line>}. */
        public Builder id(String column) {
            this.id = Objects.requireNonNull(column);
            return this;
        }

        public Builder idPrefix(String prefix) {
            this.idPrefix = Objects.requireNonNull(prefix);
            return this;
        }

        /** A column holding a system prompt (empty value: none). */
        public Builder system(String column) {
            this.system = Objects.requireNonNull(column);
            return this;
        }

        /** The same options for every row (a classification task's classes). */
        public Builder choices(List<Choice> fixed) {
            choices.addAll(fixed);
            return this;
        }

        /** A per-row option: label {@code label}, text from {@code column}. Call once per option, in order. */
        public Builder choiceColumn(String label, String column) {
            choiceColumns.put(Objects.requireNonNull(label), Objects.requireNonNull(column));
            return this;
        }

        /** Raw answer values that stand for a label ("1" → "World"). */
        public Builder answerAliases(Map<String, String> aliases) {
            answerAliases.putAll(aliases);
            return this;
        }

        /** Columns copied verbatim into metadata. */
        public Builder metadata(String... columns) {
            metadata.addAll(List.of(columns));
            return this;
        }

        /** A metadata entry every example gets (e.g. its source file). */
        public Builder constantMetadata(String key, String value) {
            constantMetadata.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
            return this;
        }

        public TaskMapping build() {
            return new TaskMapping(this);
        }
    }
}
