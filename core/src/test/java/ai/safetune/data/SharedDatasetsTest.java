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
        List<TaskExample> train = SharedDir.task("gsm8k");
        assertThat(train).hasSize(7473);
        TaskExample first = train.get(0);
        assertThat(first.input()).startsWith("Natalia sold clips to 48 of her friends");
        assertThat(first.answer()).isEqualTo("72");
        assertThat(first.metadata().get("rationale")).contains("<<48/2=24>>").endsWith("#### 72");
        assertThat(first.isMultipleChoice()).isFalse();
        assertThat(train).allSatisfy(e -> assertThat(e.answer()).matches("-?[0-9]+(\\.[0-9]+)?"));
        assertThat(SharedDir.task("gsm8k:test")).hasSize(1319);
        assertThat(train).extracting(TaskExample::id).doesNotHaveDuplicates();
    }

    @Test
    void gsm8kThousandsSeparatorsAreRemoved() {
        assertThat(SharedDir.task("gsm8k:test"))
                .filteredOn(e -> e.metadata().get("rationale").endsWith("#### 14,000"))
                .isNotEmpty()
                .allSatisfy(e -> assertThat(e.answer()).isEqualTo("14000"));
    }

    @Test
    void bbhMultipleChoiceOptionsAreParsedOutOfTheInput() {
        List<TaskExample> date = SharedDir.task("bbh/date_understanding");
        assertThat(date).hasSize(250);
        assertThat(date).allSatisfy(e -> {
            assertThat(e.isMultipleChoice()).isTrue();
            assertThat(e.input()).doesNotContain("Options:").isNotBlank();
            assertThat(e.metadata().get("raw_input")).startsWith(e.input()).contains("\nOptions:\n(A) ");
        });
        TaskExample shapes = SharedDir.task("bbh/geometric_shapes").get(0);
        assertThat(shapes.choices()).extracting(Choice::label).containsExactly("A", "B", "C", "D", "E", "F", "G", "H", "I", "J");
        assertThat(shapes.choices().get(1)).isEqualTo(new Choice("B", "heptagon"));
        assertThat(shapes.answer()).isEqualTo("B");
        assertThat(shapes.goldChoice()).map(Choice::text).contains("heptagon");
    }

    @Test
    void bbhFreeFormTasksKeepTheirInputAndTarget() {
        TaskExample bool = SharedDir.task("bbh/boolean_expressions").get(0);
        assertThat(bool.input()).isEqualTo("not ( True ) and ( True ) is");
        assertThat(bool.answer()).isEqualTo("False");
        assertThat(bool.choices()).isEmpty();
        // bullet options ("- Yes") stay in the input as written
        TaskExample nav = SharedDir.task("bbh/navigate").get(0);
        assertThat(nav.input()).endsWith("Options:\n- Yes\n- No");
        assertThat(nav.answer()).isIn("Yes", "No");
        assertThat(SharedDir.task("bbh/word_sorting").get(0).answer()).isEqualTo("syndrome therefrom");
    }

    @Test
    void bbhQuirkyTargetsAreKeptFreeFormWithANote() {
        List<TaskExample> movies = SharedDir.task("bbh/movie_recommendation");
        assertThat(movies).hasSize(250);
        List<TaskExample> quirks = movies.stream().filter(e -> e.metadata().containsKey("note")).toList();
        assertThat(quirks).singleElement().satisfies(e -> {
            assertThat(e.answer()).isEqualTo("Monsters, Inc");
            assertThat(e.input()).contains("Options:\n(A) Monsters\n(B) Inc");
            assertThat(e.choices()).isEmpty();
        });
        assertThat(SharedDir.task("bbh/ruin_names")).filteredOn(e -> e.metadata().containsKey("note")).hasSize(2);
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
            List<TaskExample> examples = SharedDir.task(name);
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
        assertThat(SharedDir.task("bbh/snarks").get(0).metadata())
                .containsEntry("source", "tasks/bbh/snarks.json");
        assertThat(Map.copyOf(SharedDir.task("gsm8k").get(0).metadata())).containsKey("rationale");
    }

    @Test
    void renderedInstructionTasksHaveTheirOptionsParsedOut() {
        TaskExample arc = SharedDir.task("arc-easy").get(0);
        assertThat(arc.input()).isEqualTo("Which factor will most likely cause a person to develop a fever?");
        assertThat(arc.choices()).containsExactly(
                new Choice("answer1", "a leg muscle relaxing after exercise"),
                new Choice("answer2", "a bacterial population in the bloodstream"),
                new Choice("answer3", "several viral particles on the skin"),
                new Choice("answer4", "carbohydrates being digested in the stomach"));
        assertThat(arc.answer()).isEqualTo("answer2");
        assertThat(arc.metadata()).containsEntry("output", "the correct answer is answer2")
                .containsKey("raw_input");
        TaskExample wino = SharedDir.task("winogrande").get(0);
        assertThat(wino.input()).isEqualTo("Sarah was a much better surgeon than Maria so _ always got the easier cases.");
        assertThat(wino.choices()).containsExactly(new Choice("option1", "Sarah"), new Choice("option2", "Maria"));
        assertThat(wino.answer()).isEqualTo("option2");
        for (String name : List.of("arc-easy", "arc-easy:test", "arc-challenge", "arc-challenge:test", "openbookqa",
                "openbookqa:test", "winogrande")) {
            assertThat(SharedDir.task(name)).as(name).allSatisfy(e -> {
                assertThat(e.choices()).hasSizeBetween(2, 5);
                assertThat(e.metadata()).doesNotContainKey("parsed");
            });
        }
        // ARC has a few 3- and 5-option questions
        assertThat(SharedDir.task("arc-easy")).anySatisfy(e -> assertThat(e.choices()).hasSize(5))
                .anySatisfy(e -> assertThat(e.choices()).hasSize(3));
    }

    @Test
    void renderedInstructionThatDoesNotMatchTheTemplateStaysFreeForm() {
        // a marker inside an option makes the split ambiguous: keep the whole instruction
        String ambiguous = "Please choose the correct answer to the question: Q?\n\nAnswer1: x Answer2: y Answer2: z"
                + "\n\nAnswer format: answer1/answer2";
        assertThat(SharedDatasets.parseRendered(ambiguous)).isEmpty();
        String other = "Pick one: A or B";
        assertThat(SharedDatasets.parseRendered(other)).isEmpty();
        JsonRecord rec = JsonRecord.of("x.json", 3, Json.parseLine("x.json", 3,
                "{\"instruction\": \"Pick one: A or B\", \"input\": \"\", \"output\": \"the correct answer is A\", \"answer\": \"A\"}"));
        TaskExample e = SharedDatasets.renderedExample(rec, "t", "x.json");
        assertThat(e.choices()).isEmpty();
        assertThat(e.input()).isEqualTo("Pick one: A or B");
        assertThat(e.answer()).isEqualTo("A");
        assertThat(e.metadata()).containsEntry("parsed", "false");
    }

    @Test
    void renderedAnswerOutsideTheParsedOptionsIsAnError() {
        JsonRecord rec = JsonRecord.of("x.json", 5, Json.parseLine("x.json", 5,
                "{\"instruction\": \"Please choose the correct answer to the question: Q?\\n\\nAnswer1: a Answer2: b\\n\\n"
                        + "Answer format: answer1/answer2\", \"input\": \"\", \"output\": \"x\", \"answer\": \"answer3\"}"));
        assertThatThrownBy(() -> SharedDatasets.renderedExample(rec, "t", "x.json"))
                .isInstanceOf(DataFormatException.class)
                .hasMessage("x.json:5: field \"answer\": expected one of [answer1, answer2], got \"answer3\"");
    }

    @Test
    void classificationAndChoiceTasksMapAsDocumented() {
        TaskExample ag = SharedDir.task("ag_news").get(0);
        assertThat(ag.input()).isEqualTo("Fears for T N pension after talks\nUnions representing workers at Turner   Newall "
                + "say they are 'disappointed' after talks with stricken parent firm Federal Mogul.");
        assertThat(ag.answer()).isEqualTo("Business");
        assertThat(ag.choices()).extracting(Choice::label).containsExactly("World", "Sports", "Business", "Sci/Tech");
        // quoted CSV values with embedded commas survive
        assertThat(SharedDir.task("ag_news").get(1).metadata().get("title"))
                .isEqualTo("The Race is On: Second Private Team Sets Launch Date for Human Spaceflight (SPACE.com)");

        TaskExample sst = SharedDir.task("sst2:dev").get(0);
        assertThat(sst.input()).isEqualTo("one long string of cliches .");
        assertThat(sst.answer()).isEqualTo("negative");

        TaskExample trec = SharedDir.task("trec").get(0);
        assertThat(trec.input()).isEqualTo("How did serfdom develop in and then leave Russia ?");
        assertThat(trec.answer()).isEqualTo("DESC");
        assertThat(trec.metadata()).containsEntry("fine", "manner");

        TaskExample boolq = SharedDir.task("boolq").get(0);
        assertThat(boolq.input()).startsWith("Passage: All biomass goes through").contains("\nQuestion: does ethanol");
        assertThat(boolq.choices()).extracting(Choice::label).containsExactly("no", "yes");
        assertThat(boolq.answer()).isEqualTo("no");

        List<TaskExample> piqa = SharedDir.task("piqa");
        assertThat(piqa.get(0).input()).isEqualTo("How do I ready a guinea pig cage for it's new occupants?");
        assertThat(piqa.get(0).answer()).isEqualTo("A"); // valid-labels.lst line 1 is 0 -> sol1
        assertThat(piqa.get(1).answer()).isEqualTo("B");
        assertThat(piqa.get(1).goldChoice()).map(Choice::text).contains("finish, woodgrain with  bobby pin ");

        TaskExample hs = SharedDir.task("hellaswag").get(0);
        assertThat(hs.input()).isEqualTo("Roof shingle removal: A man is sitting on a roof. he");
        assertThat(hs.answer()).isEqualTo("D");
        assertThat(hs.goldChoice()).map(Choice::text).contains("starts pulling up roofing on a roof.");

        TaskExample csqa = SharedDir.task("commonsenseqa:dev").get(0);
        assertThat(csqa.id()).isEqualTo("1afa02df02c908a558b4036e80242fac");
        assertThat(csqa.input()).startsWith("A revolving door is convenient");
        assertThat(csqa.choices()).hasSize(5).first().isEqualTo(new Choice("A", "bank"));
        assertThat(csqa.answer()).isEqualTo("A");
    }

    @Test
    void vinidRejectsUnknownSets() {
        assertThatThrownBy(() -> SharedDatasets.vinid(DATA, "I-Nope"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Q-Harm");
    }

    @Test
    void missingDataFolderIsAnActionableError(@TempDir Path dir) {
        assertThatThrownBy(() -> SharedDatasets.task(dir.resolve("nope"), "gsm8k"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shared/data");
        assertThatThrownBy(() -> SharedDatasets.task(dir, "gsm8k"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("missing dataset file");
    }
}
