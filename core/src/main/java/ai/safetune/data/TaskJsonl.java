package ai.safetune.data;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * SafeTune's own JSONL form of {@link TaskExample}, so task data can be exported, edited and read back
 * without loss:
 * <pre>{"id":"..","system":"..","input":"..","choices":[{"label":"A","text":".."}],"answer":"A","metadata":{..}}</pre>
 * {@code system} (empty = none), {@code choices} and {@code metadata} are optional; a choice may also be a
 * bare string, labelled A, B, C... by position. With choices, the answer must be one of their labels (else an
 * "unknown label" error). A file starting with {@code [} is read as a JSON array of the same records.
 */
public final class TaskJsonl {
    private TaskJsonl() {
    }

    /** Strict read. */
    public static List<TaskExample> read(Path file) {
        return read(file, ReadOptions.defaults()).records();
    }

    /** Reads JSONL, or a JSON array of the same records when the file starts with '['. */
    public static ReadResult<TaskExample> read(Path file, ReadOptions options) {
        // JSONL records are objects already; array elements may not be
        return Json.readRecords(file, options, (rec, id) -> fromJson(rec.asObject(), id));
    }

    /** Maps one record; {@code defaultId} is used when it has no "id". */
    public static TaskExample fromJson(JsonRecord rec, String defaultId) {
        String id = rec.optText("id").orElse(defaultId);
        Optional<String> system = rec.optText("system").filter(s -> !s.isEmpty());
        String input = rec.text("input");
        String answer = rec.text("answer");
        List<Choice> choices = new ArrayList<>();
        if (rec.has("choices")) {
            List<JsonRecord> cs = rec.array("choices");
            for (int i = 0; i < cs.size(); i++) {
                JsonRecord c = cs.get(i);
                if (c.node().isTextual()) {
                    choices.add(new Choice(String.valueOf((char) ('A' + i)), c.asText()));
                    continue;
                }
                String label = c.asObject().text("label");
                if (label.isBlank()) {
                    throw c.fail("label", "a non-blank label", "blank text");
                }
                choices.add(new Choice(label, c.optText("text").orElse("")));
            }
        }
        if (!choices.isEmpty() && choices.stream().noneMatch(c -> c.label().equals(answer))) {
            throw rec.fail("answer", "one of " + String.join(", ", choices.stream().map(Choice::label).toList()),
                    JsonRecord.quote(answer));
        }
        return new TaskExample(id, system, input, choices, answer, Json.metadata(rec));
    }

    /** A streaming writer creating (or truncating) {@code file}. */
    public static Writer open(Path file) {
        return new Writer(JsonlOutput.to(file));
    }

    /** A streaming writer on a stream (closed with the writer). */
    public static Writer open(OutputStream stream, String name) {
        return new Writer(new JsonlOutput(stream, name));
    }

    /** Appends task examples, one per line. */
    public static final class Writer extends JsonlWriterBase {
        private Writer(JsonlOutput out) {
            super(out);
        }

        public void write(TaskExample e) {
            out.writeObject(g -> {
                g.writeStringField("id", e.id());
                if (e.systemPrompt().isPresent()) {
                    g.writeStringField("system", e.systemPrompt().get());
                }
                g.writeStringField("input", e.input());
                if (e.isMultipleChoice()) {
                    g.writeArrayFieldStart("choices");
                    for (Choice c : e.choices()) {
                        g.writeStartObject();
                        g.writeStringField("label", c.label());
                        g.writeStringField("text", c.text());
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }
                g.writeStringField("answer", e.answer());
                if (!e.metadata().isEmpty()) {
                    JsonlOutput.writeSortedMap(g, "metadata", e.metadata());
                }
            });
        }
    }
}
