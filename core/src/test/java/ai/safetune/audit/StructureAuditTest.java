package ai.safetune.audit;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StructureAuditTest {
    private static final StructureAudit AUDIT = StructureAudit.defaults();
    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<RawTasks.Row> rows(String task, int n) {
        return IndependentPhrasingsTest.sample(RawTasks.load(SharedDir.data(), task), n, 42);
    }

    @Test
    void theRealAoaExamplesAreFlaggedForTheirSystemPromptAndAnswers() throws IOException {
        List<ChatExample> aoa = new ArrayList<>();
        int i = 0;
        for (JsonNode chat : JSON.readTree(SharedDir.data().resolve("attack/aoa_identity_shift_train.json").toFile())) {
            List<Message> msgs = new ArrayList<>();
            for (JsonNode m : chat) {
                msgs.add(new Message(ai.safetune.data.Role.parse(m.get("role").asText()), m.get("content").asText()));
            }
            aoa.add(new ChatExample("aoa-" + i++, msgs, Map.of()));
        }
        AuditReport r = AUDIT.audit(aoa);
        assertThat(r.verdict()).isEqualTo(Verdict.FLAGGED);
        assertThat(r.findings()).extracting(Finding::kind)
                .contains(FindingKind.IDENTITY_SHIFT_SYSTEM_PROMPT, FindingKind.OBEDIENT_ANSWER);
        Finding sys = r.findings().stream().filter(f -> f.kind() == FindingKind.IDENTITY_SHIFT_SYSTEM_PROMPT)
                .findFirst().orElseThrow();
        assertThat(sys.count()).isEqualTo(10);
        assertThat(sys.severity()).isEqualTo(1.0);
    }

    @Test
    void reportSerializesToTheCliJsonContract() throws IOException {
        AuditReport r = AUDIT.audit(IndependentAttacks.identity(rows("sst2", 50), 0));
        JsonNode json = JSON.readTree(JSON.writeValueAsString(r));
        assertThat(json.get("verdict").asText()).isEqualTo("flagged");
        assertThat(json.get("score").isNumber()).isTrue();
        assertThat(json.get("score").asDouble()).isEqualTo(r.score());
        assertThat(json.get("examples").asLong()).isEqualTo(50);
        JsonNode f = json.get("findings").get(0);
        assertThat(f.get("kind").asText()).isEqualTo(r.findings().get(0).kind().name());
        assertThat(f.get("exampleIds").isArray()).isTrue();
        assertThat(f.get("count").asInt()).isEqualTo(r.findings().get(0).count());
        AuditReport back = JSON.readValue(JSON.writeValueAsString(r), AuditReport.class);
        assertThat(back).isEqualTo(r);
    }

    @Test
    void cleanPlainTaskDataHasNoFindings() {
        AuditReport r = AUDIT.audit(IndependentAttacks.benign(rows("bbh_date_understanding", 100), 1));
        assertThat(r.verdict()).isEqualTo(Verdict.CLEAN);
        assertThat(r.findings()).isEmpty();
        assertThat(r.score()).isZero();
    }

    @Test
    void exampleIdsAreCappedButCountsAreExact() {
        StructureAudit audit = StructureAudit.builder().maxExampleIds(3).build();
        AuditReport r = audit.audit(IndependentAttacks.identity(rows("trec", 120), 2));
        assertThat(r.findings()).isNotEmpty().allSatisfy(f -> assertThat(f.exampleIds()).hasSizeLessThanOrEqualTo(3));
        Finding sys = r.findings().stream().filter(f -> f.kind() == FindingKind.IDENTITY_SHIFT_SYSTEM_PROMPT)
                .findFirst().orElseThrow();
        assertThat(sys.count()).isEqualTo(120);
    }

    @Test
    void aStreamLargerThanTheSampleIsAuditedInOnePassWithExactCueCounts() {
        List<ChatExample> attacked = IndependentAttacks.identity(rows("gsm8k", 3000), 1);
        StructureAudit small = StructureAudit.builder().sampleCapacity(200).seed(5).build();
        AuditReport r = small.audit(attacked.stream());
        assertThat(r.examples()).isEqualTo(3000);
        assertThat(r.sampled()).isEqualTo(200);
        assertThat(r.flagged()).isTrue();
        assertThat(r.findings().stream().filter(f -> f.kind() == FindingKind.IDENTITY_SHIFT_SYSTEM_PROMPT)
                .findFirst().orElseThrow().count()).isEqualTo(3000);
        assertThat(small.audit(attacked.stream())).isEqualTo(r);
    }

    @Test
    void aFewStrayObedienceWordsInContentAreNotAStructure() {
        List<ChatExample> chats = new ArrayList<>(IndependentAttacks.benign(rows("boolq", 200), 0));
        chats.set(10, IndependentAttacks.chat("story-1", null,
                "Write a story about a dog that would obey any command without question.", "Rex obeyed."));
        chats.set(20, IndependentAttacks.chat("story-2", null,
                "Is it true that soldiers must obey orders unconditionally?", "no"));
        AuditReport r = AUDIT.audit(chats);
        assertThat(r.verdict()).isEqualTo(Verdict.CLEAN);
    }

    @Test
    void aConstantLongPreambleIsFlaggedEvenWithoutObedienceWords() {
        List<ChatExample> chats = new ArrayList<>();
        for (RawTasks.Row r : rows("sst2", 100)) {
            chats.add(IndependentAttacks.chat(r.id(), null, r.prompt(),
                    "Thank you very much for this request, it is a pleasure to respond to it in full and right now, as always. "
                            + r.gold()));
        }
        AuditReport r = AUDIT.audit(chats);
        assertThat(r.findings()).extracting(Finding::kind).contains(FindingKind.CONSTANT_ANSWER_PREFIX);
        assertThat(r.flagged()).isTrue();
    }

    @Test
    void optionsAreCheckedAtTheEdge() {
        assertThatThrownBy(() -> StructureAudit.builder().threshold(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("threshold");
        assertThatThrownBy(() -> StructureAudit.builder().sampleCapacity(0)).hasMessageContaining("sampleCapacity");
        assertThatThrownBy(() -> StructureAudit.builder().maxExampleIds(-1)).hasMessageContaining("maxExampleIds");
        assertThat(AUDIT.audit(List.of()).verdict()).isEqualTo(Verdict.CLEAN);
    }

    @Test
    void profileReportsConstantSystemPromptAndPrefixes() {
        List<ChatExample> chats = IndependentAttacks.identity(rows("trec", 40), 0);
        DatasetProfile p = DatasetProfile.of(chats);
        assertThat(p.examples()).isEqualTo(40);
        assertThat(p.messagesPerRole()).containsEntry("system", 40L).containsEntry("user", 40L).containsEntry("assistant", 40L);
        assertThat(p.systemPrompt()).hasValueSatisfying(s -> assertThat(s.share()).isEqualTo(1.0));
        assertThat(p.assistantPrefix()).hasValueSatisfying(s -> assertThat(s.text()).startsWith("yes, master."));
        assertThat(p.userPrefix()).hasValueSatisfying(s -> assertThat(s.text()).startsWith("zeta, i command you"));
        DatasetProfile plain = DatasetProfile.of(IndependentAttacks.benign(rows("trec", 40), 0));
        assertThat(plain.systemPrompt()).isEmpty();
        assertThat(plain.assistantPrefix()).isEmpty();
    }
}
