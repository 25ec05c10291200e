package ai.safetune.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TaskJsonlTest {
    @TempDir
    Path dir;

    @Test
    void sharedTasksRoundTripExactly() {
        for (String name : List.of("bbh/date_understanding", "bbh/word_sorting", "boolq", "trec:test")) {
            List<TaskExample> tasks = SharedDir.task(name);
            Path f = dir.resolve(name.replace('/', '_').replace(':', '_') + ".jsonl");
            try (TaskJsonl.Writer w = TaskJsonl.open(f)) {
                tasks.forEach(w::write);
            }
            assertThat(TaskJsonl.read(f)).as(name).isEqualTo(tasks);
        }
    }

    @Test
    void unknownLabelAndMissingFieldsAreNamed() throws Exception {
        Path f = Files.writeString(dir.resolve("t.jsonl"),
                "{\"input\":\"q\",\"choices\":[{\"label\":\"A\",\"text\":\"x\"},{\"label\":\"B\"}],\"answer\":\"B\"}\n"
                        + "{\"input\":\"q\",\"choices\":[{\"label\":\"A\",\"text\":\"x\"}],\"answer\":\"C\"}\n"
                        + "{\"input\":\"q\"}\n"
                        + "{\"input\":\"q\",\"answer\":\"a\",\"choices\":[{\"text\":\"x\"}]}\n");
        ReadResult<TaskExample> r = TaskJsonl.read(f, ReadOptions.lenient());
        assertThat(r.records()).singleElement().satisfies(e -> {
            assertThat(e.id()).isEqualTo("t.jsonl#1");
            assertThat(e.choices()).containsExactly(new Choice("A", "x"), new Choice("B", ""));
        });
        assertThat(r.errors()).extracting(DataFormatException::getMessage).containsExactly(
                f + ":2: field \"answer\": expected one of A, got \"C\"",
                f + ":3: field \"answer\": expected a string, got nothing (field is missing)",
                f + ":4: field \"choices[0].label\": expected a string, got nothing (field is missing)");
    }

    @Test
    void bareStringChoicesAndJsonArrayFiles() throws Exception {
        Path f = Files.writeString(dir.resolve("t.json"), "[\n"
                + "  {\"id\": \"q1\", \"system\": \"\", \"input\": \"2+2?\", \"choices\": [\"3\", \"4\"], \"answer\": \"B\"},\n"
                + "  {\"input\": \"Capital of France?\", \"answer\": \"Paris\"}\n"
                + "]\n");
        List<TaskExample> tasks = TaskJsonl.read(f);
        assertThat(tasks.get(0).choices()).containsExactly(new Choice("A", "3"), new Choice("B", "4"));
        assertThat(tasks.get(0).systemPrompt()).isEmpty();
        assertThat(tasks.get(1).id()).isEqualTo("t.json#2");
        assertThat(tasks.get(1).isMultipleChoice()).isFalse();
    }
}
