package ai.safetune.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SharedDatasetsTest {
    private static final Path DATA = SharedDir.data();

    @Test
    void gsm8kAnswerIsTheFinalNumberAndRationaleIsKept() {
        List<TaskExample> train = SharedDatasets.task(DATA, "gsm8k");
        assertThat(train).hasSize(7473);
        TaskExample first = train.get(0);
        assertThat(first.input()).startsWith("Natalia sold clips to 48 of her friends");
        assertThat(first.answer()).isEqualTo("72");
        assertThat(first.metadata().get("rationale")).contains("<<48/2=24>>").endsWith("#### 72");
        assertThat(first.isMultipleChoice()).isFalse();
        assertThat(train).allSatisfy(e -> assertThat(e.answer()).matches("-?[0-9]+(\\.[0-9]+)?"));
        assertThat(SharedDatasets.task(DATA, "gsm8k:test")).hasSize(1319);
        assertThat(train).extracting(TaskExample::id).doesNotHaveDuplicates();
    }

    @Test
    void gsm8kThousandsSeparatorsAreRemoved() {
        assertThat(SharedDatasets.task(DATA, "gsm8k:test"))
                .filteredOn(e -> e.metadata().get("rationale").endsWith("#### 14,000"))
                .isNotEmpty()
                .allSatisfy(e -> assertThat(e.answer()).isEqualTo("14000"));
    }

    @Test
    void bbhMultipleChoiceOptionsAreParsedOutOfTheInput() {
        List<TaskExample> date = SharedDatasets.task(DATA, "bbh/date_understanding");
        assertThat(date).hasSize(250);
        assertThat(date).allSatisfy(e -> {
            assertThat(e.isMultipleChoice()).isTrue();
            assertThat(e.input()).doesNotContain("Options:").isNotBlank();
            assertThat(e.metadata().get("raw_input")).startsWith(e.input()).contains("\nOptions:\n(A) ");
        });
        TaskExample shapes = SharedDatasets.task(DATA, "bbh/geometric_shapes").get(0);
        assertThat(shapes.choices()).extracting(Choice::label).containsExactly("A", "B", "C", "D", "E", "F", "G", "H", "I", "J");
        assertThat(shapes.choices().get(1)).isEqualTo(new Choice("B", "heptagon"));
        assertThat(shapes.answer()).isEqualTo("B");
        assertThat(shapes.goldChoice()).map(Choice::text).contains("heptagon");
    }

    @Test
    void bbhFreeFormTasksKeepTheirInputAndTarget() {
        TaskExample bool = SharedDatasets.task(DATA, "bbh/boolean_expressions").get(0);
        assertThat(bool.input()).isEqualTo("not ( True ) and ( True ) is");
        assertThat(bool.answer()).isEqualTo("False");
        assertThat(bool.choices()).isEmpty();
        // bullet options ("- Yes") stay in the input as written
        TaskExample nav = SharedDatasets.task(DATA, "bbh/navigate").get(0);
        assertThat(nav.input()).endsWith("Options:\n- Yes\n- No");
        assertThat(nav.answer()).isIn("Yes", "No");
        assertThat(SharedDatasets.task(DATA, "bbh/word_sorting").get(0).answer()).isEqualTo("syndrome therefrom");
    }

    @Test
    void bbhQuirkyTargetsAreKeptFreeFormWithANote() {
        List<TaskExample> movies = SharedDatasets.task(DATA, "bbh/movie_recommendation");
        assertThat(movies).hasSize(250);
        List<TaskExample> quirks = movies.stream().filter(e -> e.metadata().containsKey("note")).toList();
        assertThat(quirks).singleElement().satisfies(e -> {
            assertThat(e.answer()).isEqualTo("Monsters, Inc");
            assertThat(e.input()).contains("Options:\n(A) Monsters\n(B) Inc");
            assertThat(e.choices()).isEmpty();
        });
        assertThat(SharedDatasets.task(DATA, "bbh/ruin_names")).filteredOn(e -> e.metadata().containsKey("note")).hasSize(2);
    }

    @Test
    void bbhTargetOutsideTheOptionsIsAnError(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
        Files.createDirectories(data.resolve("tasks/bbh"));
        Files.writeString(data.resolve("tasks/bbh/snarks.json"), "{\"canary\": \"x\", \"examples\": [\n"
                + "  {\"input\": \"Which?\\nOptions:\\n(A) a\\n(B) b\", \"target\": \"(B)\"},\n"
                + "  {\"input\": \"Which?\\nOptions:\\n(A) a\\n(B) b\",\n   \"target\": \"(C)\"}\n]}\n");
        assertThatThrownBy(() -> SharedDatasets.task(data, "bbh/snarks"))
                .isInstanceOf(DataFormatException.class)
                .hasMessageEndingWith("snarks.json:4: field \"examples[1].target\": expected one of (A), (B), got \"(C)\"");
    }

    @Test
    void everyBbhTaskLoadsAndTheTotalMatchesTheReadme() {
        List<String> bbh = SharedDatasets.taskNames().stream().filter(n -> n.startsWith("bbh/")).toList();
        assertThat(bbh).hasSize(27);
        int total = 0;
        for (String name : bbh) {
            List<TaskExample> examples = SharedDatasets.task(DATA, name);
            assertThat(examples.size()).as(name).isBetween(146, 250);
            total += examples.size();
        }
        assertThat(total).isEqualTo(6511);
    }

    @Test
    void unknownNameListsTheValidOnes() {
        assertThatThrownBy(() -> SharedDatasets.task(DATA, "gsm9k"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'gsm9k'").hasMessageContaining("gsm8k:test").hasMessageContaining("bbh/snarks");
    }

    @Test
    void metadataNamesTheSourceFile() {
        assertThat(SharedDatasets.task(DATA, "bbh/snarks").get(0).metadata())
                .containsEntry("source", "tasks/bbh/snarks.json");
        assertThat(Map.copyOf(SharedDatasets.task(DATA, "gsm8k").get(0).metadata())).containsKey("rationale");
    }
}
