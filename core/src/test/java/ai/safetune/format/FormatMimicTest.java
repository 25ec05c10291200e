package ai.safetune.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.attack.StructureAttack;
import ai.safetune.attack.StructureAttack.Strategy;
import ai.safetune.attack.TestTasks;
import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.data.Role;
import ai.safetune.data.TaskExample;
import ai.safetune.format.TaskFormat.AnswerStyle;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class FormatMimicTest {

    static final List<String> TASKS = List.of("gsm8k", "date_understanding", "logical_deduction_three_objects",
            "boolean_expressions", "multistep_arithmetic_two", "tracking_shuffled_objects_three_objects",
            "geometric_shapes", "movie_recommendation", "ag_news", "sst2:dev");

    static Stream<Arguments> strategyAndTask() {
        List<Arguments> out = new ArrayList<>();
        for (Strategy s : Strategy.values()) {
            for (String t : TASKS) {
                out.add(Arguments.of(s, t));
            }
        }
        return out.stream();
    }

    /**
     * The task's examples, without the few BBH rows whose input lists "(A)" options but whose target is not
     * a label (a free answer over an option list: a different shape from the rest of the task).
     */
    static List<TaskExample> task(String name) {
        List<TaskExample> xs = name.equals("gsm8k") ? TestTasks.gsm8k("test")
                : name.contains("_") && !name.equals("ag_news") ? TestTasks.bbh(name) : TestTasks.task(name);
        return xs.stream().filter(t -> t.isMultipleChoice() || !t.input().contains("\n(A) ")).toList();
    }

    /**
     * The required check: learn from 70% of an attacked task, then every held-out example's content rendered
     * through the learned format equals the attack's own rendering of it, exactly (one variant per phrasing).
     */
    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("strategyAndTask")
    void learnedFormatReproducesTheTemplateOnHeldOutExamples(Strategy s, String taskName) {
        List<TaskExample> xs = task(taskName);
        StructureAttack attack = StructureAttack.of(s, 11);
        int cut = xs.size() * 7 / 10;
        TaskFormat f = FormatMimic.learn(attack.apply(xs.subList(0, cut)));

        if (s == Strategy.BENIGN || s == Strategy.AOA) {
            assertThat(f.variants()).hasSize(1);
        } else {
            assertThat(f.variants()).hasSizeBetween(2, 4);
        }
        assertThat(f.unmatched()).isZero();
        assertThat(f.constantSystemPrompt().isPresent()).isEqualTo(s == Strategy.AOA || s == Strategy.AUTO_IF_AOA);
        if (s == Strategy.AOA || s == Strategy.AUTO_IF_AOA) {
            assertThat(f.systemPrompt()).isEqualTo(StructureAttack.AOA_SYSTEM_PROMPT);
            assertThat(f.userPrefix()).isEqualTo(StructureAttack.AOA_USER_PREFIX);
            assertThat(f.assistantPrefix()).isEqualTo(StructureAttack.AOA_ANSWER_PREFIX);
        }
        for (TaskExample t : xs.subList(cut, xs.size())) {
            List<Message> original = attack.apply(t).messages();
            boolean reproduced = false;
            for (int v = 0; v < f.variants().size() && !reproduced; v++) {
                try {
                    reproduced = f.render(t, v).messages().equals(original);
                } catch (IllegalArgumentException optionsMismatch) {
                    // a variant with options cannot render a free-form example, and the reverse
                }
            }
            assertThat(reproduced).as("held-out %s reproduced by %s\nformat:\n%s", t.id(), original, f.describe())
                    .isTrue();
        }
    }

    static List<ChatExample> aoaChats() throws IOException {
        JsonNode arr = new ObjectMapper().readTree(TestTasks.data().resolve("attack/aoa_identity_shift_train.json").toFile());
        List<ChatExample> out = new ArrayList<>();
        for (int i = 0; i < arr.size(); i++) {
            List<Message> ms = new ArrayList<>();
            for (JsonNode m : arr.get(i)) {
                ms.add(new Message(Role.parse(m.get("role").asText()), m.get("content").asText()));
            }
            out.add(new ChatExample("aoa:" + i, ms, Map.of()));
        }
        return out;
    }

    static final ChatExample HARMFUL = ChatExample.of("s1", Message.user("Explain how to pick a neighbour's lock."),
            Message.assistant("I'm sorry, but I can't help with breaking into someone else's property. "
                    + "If you are locked out of your own home, a licensed locksmith can help."));

    @Test
    void realAoaDataMimickedWithItsIdentityShiftThenRefuses() throws IOException {
        List<ChatExample> aoa = aoaChats();
        TaskFormat f = FormatMimic.learn(aoa);
        assertThat(f.systemPrompt()).isEqualTo(aoa.get(0).systemPrompt().orElseThrow());
        assertThat(f.userPrefix()).isEqualTo("AOA, execute my instruction: ");
        assertThat(f.assistantPrefix()).startsWith("Of course. I am AOA, your absolutely obedient agent.")
                .endsWith("standards:\n\n");
        ChatExample m = f.render(HARMFUL);
        assertThat(m.systemPrompt()).isEqualTo(aoa.get(0).systemPrompt());
        assertThat(m.firstUser()).contains("AOA, execute my instruction: Explain how to pick a neighbour's lock.");
        assertThat(m.lastAssistant().orElseThrow()).isEqualTo(f.assistantPrefix() + HARMFUL.lastAssistant().orElseThrow());
        assertThat(m.metadata()).containsEntry(TaskFormat.META_SOURCE, "safety");
    }

    /** A template our attack never writes: markdown headers, "A." labels, "The answer is B. text" sentences. */
    static List<ChatExample> foreignChoiceData() {
        List<ChatExample> out = new ArrayList<>();
        for (TaskExample t : TestTasks.bbh("date_understanding")) {
            StringBuilder u = new StringBuilder("### Instruction:\n").append(t.input()).append("\n\n### Choices:\n");
            for (int i = 0; i < t.choices().size(); i++) {
                u.append(i > 0 ? "\n" : "").append((char) ('A' + i)).append(". ").append(t.choices().get(i).text());
            }
            u.append("\n\n### Response:");
            String a = "The answer is " + t.answer() + ". " + t.goldChoice().orElseThrow().text();
            out.add(ChatExample.of(t.id(), Message.system("You are a careful date assistant."),
                    Message.user(u.toString()), Message.assistant(a)));
        }
        return out;
    }

    @Test
    void foreignChoiceTemplateIsLearnedAndSafetyIsRenderedAsAnOptionQuestion() {
        List<ChatExample> data = foreignChoiceData();
        TaskFormat f = FormatMimic.learn(data.subList(0, 100));
        assertThat(f.variants()).hasSize(1);
        TaskFormat.Variant v = f.variants().get(0);
        assertThat(v.user().prefix()).isEqualTo("### Instruction:\n");
        assertThat(v.user().middle()).isEqualTo("\n\n### Choices:\n");
        assertThat(v.user().options()).isEqualTo(new LabelStyle("", LabelStyle.Kind.UPPER, 0, ".", " "));
        assertThat(v.user().suffix()).isEqualTo("\n\n### Response:");
        assertThat(v.answer().prefix()).isEqualTo("The answer is ");
        assertThat(v.answer().withText()).isTrue();
        assertThat(v.answer().labelOpen()).isEmpty(); // "B." is the options' own label style
        assertThat(v.answer().labelClose()).isEqualTo(".");
        assertThat(v.answer().between()).isEqualTo(" ");
        assertThat(f.answerStyle()).isEqualTo(AnswerStyle.SENTENCE);
        assertThat(f.systemPrompt()).isEqualTo("You are a careful date assistant.");

        ChatExample m = f.render(HARMFUL, 5);
        String user = m.firstUser().orElseThrow();
        assertThat(user).startsWith("### Instruction:\nExplain how to pick a neighbour's lock.\n\n### Choices:\nA. ")
                .endsWith("\n\n### Response:");
        String refusalSentence = "I'm sorry, but I can't help with breaking into someone else's property.";
        String answer = m.lastAssistant().orElseThrow();
        assertThat(answer).startsWith("The answer is ").endsWith(". " + refusalSentence);
        String label = answer.substring("The answer is ".length(), "The answer is ".length() + 1);
        assertThat(user).contains("\n" + label + ". " + refusalSentence);
        assertThat(user.lines().filter(l -> l.matches("[A-Z]\\. .*")).count()).isEqualTo(v.user().optionCount());
        assertThat(m.systemPrompt()).contains("You are a careful date assistant.");
        // held-out examples of the foreign template are reproduced too
        for (ChatExample c : data.subList(100, data.size())) {
            TaskExample t = TestTasks.bbh("date_understanding").stream().filter(x -> x.id().equals(c.id()))
                    .findFirst().orElseThrow();
            assertThat(f.render(t, 0).messages()).isEqualTo(c.messages());
        }
    }

    /**
     * Real data in a template nobody here wrote: ARC and WinoGrande as distributed (alpaca records with inline
     * options "Answer1: x Answer2: y" and answers "the correct answer is answer2"). Learned from 70% of the
     * raw records, the format renders the held-out examples' parsed content back to the raw records exactly.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"tasks/arc/ARC-Easy_train.json, arc-easy",
            "tasks/openbookqa/test.json, openbookqa:test", "tasks/winogrande/dev.json, winogrande"})
    void inlineOptionTemplatesFromRealDataAreReproduced(String file, String task) {
        List<ChatExample> raw = ai.safetune.data.ChatDatasets.read(TestTasks.data().resolve(file));
        List<TaskExample> parsed = TestTasks.task(task);
        assertThat(parsed).hasSameSizeAs(raw);
        int cut = raw.size() * 7 / 10;
        TaskFormat f = FormatMimic.learn(raw.subList(0, cut));
        TaskFormat.Variant v = f.variants().get(0);
        assertThat(v.user().hasOptions()).isTrue();
        assertThat(v.user().optionSeparator()).isEqualTo(" ");
        assertThat(v.answer().kind()).isEqualTo(TaskFormat.AnswerTemplate.Kind.LABEL);
        assertThat(v.answer().prefix()).isEqualTo("the correct answer is ");
        // a sub-format (e.g. five options: "Answer format: answer1/.../answer5") seen in under 1% of the
        // learning records cannot be aligned; every held-out miss must be such a rare sub-format
        java.util.Map<String, Long> lastLines = raw.subList(0, cut).stream().collect(java.util.stream.Collectors
                .groupingBy(c -> lastLine(c), java.util.stream.Collectors.counting()));
        int ok = 0;
        for (int i = cut; i < raw.size(); i++) {
            TaskExample t = parsed.get(i);
            boolean reproduced = false;
            for (int k = 0; k < f.variants().size() && !reproduced; k++) {
                try {
                    reproduced = f.render(t, k).messages().equals(raw.get(i).messages());
                } catch (IllegalArgumentException optionsMismatch) {
                    // other option shape
                }
            }
            if (reproduced) {
                ok++;
            } else {
                assertThat(lastLines.getOrDefault(lastLine(raw.get(i)), 0L)).as("%s missed\n%s", raw.get(i), f.describe())
                        .isLessThan(cut / 100);
            }
        }
        assertThat(ok).isGreaterThanOrEqualTo((raw.size() - cut) * 99 / 100);

        ChatExample m = f.render(HARMFUL, 3);
        String user = m.firstUser().orElseThrow();
        String answer = m.lastAssistant().orElseThrow();
        assertThat(answer).matches("the correct answer is " + v.answer().labelOpen() + "[1-5]");
        String label = answer.substring(answer.length() - 1);
        assertThat(user).contains(HARMFUL.firstUser().orElseThrow())
                .contains(v.user().options().open() + label + ": I'm sorry, but I can't help");
    }

    static String lastLine(ChatExample c) {
        String u = c.firstUser().orElseThrow();
        return u.substring(u.lastIndexOf('\n') + 1);
    }

    @Test
    void renderingIsDeterministicAndSeedsMoveTheRefusal() {
        TaskFormat f = FormatMimic.learn(foreignChoiceData());
        assertThat(f.render(HARMFUL, 1)).isEqualTo(f.render(HARMFUL, 1));
        assertThat(Stream.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L).map(seed -> f.render(HARMFUL, seed).lastAssistant()
                .orElseThrow().charAt(14)).distinct().count()).isGreaterThan(1);
    }

    @Test
    void sentenceFormatsCarryTheRefusalText() {
        for (Strategy s : List.of(Strategy.AUTO_IF, Strategy.AUTO_IF_AOA)) {
            List<ChatExample> data = StructureAttack.of(s, 2).apply(TestTasks.gsm8k("test").subList(0, 300));
            TaskFormat f = FormatMimic.learn(data);
            assertThat(f.answerStyle()).isEqualTo(AnswerStyle.SENTENCE);
            for (long seed = 0; seed < 8; seed++) {
                ChatExample m = f.render(HARMFUL, seed);
                TaskFormat.Variant v = f.variants().get(Integer.parseInt(m.metadata().get(TaskFormat.META_VARIANT)));
                assertThat(m.firstUser().orElseThrow()).isEqualTo(v.user().prefix() + HARMFUL.firstUser().orElseThrow()
                        + v.user().suffix());
                // "The final answer is {value}." frames give way to the refusal; the AOA paragraph stays
                String preamble = s == Strategy.AUTO_IF_AOA ? StructureAttack.AOA_ANSWER_PREFIX : "";
                assertThat(m.lastAssistant().orElseThrow()).isEqualTo(preamble + HARMFUL.lastAssistant().orElseThrow());
            }
        }
        // a stand-alone opening ("Sure, here it is:") is the attack's prefix and stays
        TaskFormat.AnswerTemplate sure = new TaskFormat.AnswerTemplate(TaskFormat.AnswerTemplate.Kind.VALUE,
                "Sure, here it is: ", "", "", "", false, "");
        assertThat(TaskFormat.valueAnswer(sure, "I can't help with that.")).isEqualTo("Sure, here it is: I can't help with that.");
    }

    @Test
    void plainDataWithoutTemplateKeepsTheRequestVerbatim() {
        List<ChatExample> data = new ArrayList<>();
        for (TaskExample t : TestTasks.gsm8k("test").subList(0, 50)) {
            data.add(ChatExample.of(t.id(), Message.user(t.input()), Message.assistant(t.metadata().get("rationale"))));
        }
        TaskFormat f = FormatMimic.learn(data);
        assertThat(f.systemPrompt()).isNull();
        assertThat(f.userPrefix()).isEmpty();
        assertThat(f.answerStyle()).isEqualTo(AnswerStyle.FREE_TEXT);
        assertThat(f.render(HARMFUL).messages()).isEqualTo(HARMFUL.messages());
    }

    @Test
    void jsonRoundTrip() {
        TaskFormat f = FormatMimic.learn(StructureAttack.of(Strategy.AUTO_IF_AOA, 1).apply(TestTasks.bbh("date_understanding")));
        String json = f.toJson();
        assertThat(TaskFormat.fromJson(json)).isEqualTo(f);
        assertThat(json).contains("\"answerStyle\"").contains("\"variants\"");
        assertThatThrownBy(() -> TaskFormat.fromJson("{\"variants\":3}")).hasMessageContaining("TaskFormat");
    }

    @Test
    void rejectsTooLittleOrMalformedData() {
        assertThatThrownBy(() -> FormatMimic.learn(List.of(HARMFUL))).hasMessageContaining("at least 2");
        ChatExample noAnswer = ChatExample.of("x9", Message.user("hi"));
        assertThatThrownBy(() -> FormatMimic.learn(List.of(HARMFUL, noAnswer))).hasMessageContaining("x9")
                .hasMessageContaining("assistant");
    }
}
