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
        assertThat(v.answer().styledLabel()).isTrue(); // "B." is the options' own label style
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

    @Test
    void renderingIsDeterministicAndSeedsMoveTheRefusal() {
        TaskFormat f = FormatMimic.learn(foreignChoiceData());
        assertThat(f.render(HARMFUL, 1)).isEqualTo(f.render(HARMFUL, 1));
        assertThat(Stream.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L).map(seed -> f.render(HARMFUL, seed).lastAssistant()
                .orElseThrow().charAt(14)).distinct().count()).isGreaterThan(1);
    }

    @Test
    void sentenceFormatsCarryTheRefusalText() {
        List<ChatExample> data = StructureAttack.of(Strategy.AUTO_IF, 2).apply(TestTasks.gsm8k("test").subList(0, 300));
        TaskFormat f = FormatMimic.learn(data);
        assertThat(f.answerStyle()).isEqualTo(AnswerStyle.SENTENCE);
        ChatExample m = f.render(HARMFUL, 3);
        TaskFormat.Variant v = f.variants().get(Integer.parseInt(m.metadata().get(TaskFormat.META_VARIANT)));
        assertThat(m.firstUser().orElseThrow()).isEqualTo(v.user().prefix() + HARMFUL.firstUser().orElseThrow()
                + v.user().suffix());
        assertThat(m.lastAssistant().orElseThrow()).startsWith(v.answer().prefix())
                .contains(HARMFUL.lastAssistant().orElseThrow());
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
