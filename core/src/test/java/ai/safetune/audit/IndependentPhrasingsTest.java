package ai.safetune.audit;

import ai.safetune.data.ChatExample;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Develops the audit against attack phrasings written for it ({@link IndependentAttacks}) on the raw
 * shared tasks: every attacked sample is flagged, every benign rendering is clean. The per-variant
 * breakdown (leadOnly, systemOnly, ...) complements the measurement's aggregated development rows.
 */
class IndependentPhrasingsTest {
    private static final StructureAudit AUDIT = StructureAudit.defaults();

    static List<RawTasks.Row> sample(List<RawTasks.Row> rows, int size, long seed) {
        List<RawTasks.Row> copy = new ArrayList<>(rows);
        Collections.shuffle(copy, new Random(seed));
        return copy.subList(0, Math.min(size, copy.size()));
    }

    @Test
    void fastSubset() {
        check(List.of("sst2", "arc_easy", "bbh_word_sorting", "bbh_navigate", "gsm8k"), 1);
    }

    @Test
    @Tag("slow")
    void flagsEveryIndependentAttackAndNoBenignRendering() {
        check(RawTasks.NAMES, 3);
    }

    private static void check(List<String> tasks, int samples) {
        Map<String, Function<List<RawTasks.Row>, List<ChatExample>>> attacks = new LinkedHashMap<>();
        for (int k = 0; k < IndependentAttacks.PERSONAS.size(); k++) {
            int kk = k;
            attacks.put("identity" + k, rows -> IndependentAttacks.identity(rows, kk));
            attacks.put("leadOnly" + k, rows -> IndependentAttacks.leadOnly(rows, kk));
            attacks.put("systemOnly" + k, rows -> IndependentAttacks.systemOnly(rows, kk));
            attacks.put("restateIdentity" + k, rows -> IndependentAttacks.restateIdentity(rows, kk, 7));
        }
        attacks.put("restate", rows -> IndependentAttacks.restate(rows, 11));
        attacks.put("restateShort", rows -> IndependentAttacks.restateShort(rows, 13));
        Map<String, Function<List<RawTasks.Row>, List<ChatExample>>> benign = new LinkedHashMap<>();
        for (int v = 0; v < IndependentAttacks.BENIGN_VARIANTS; v++) {
            int vv = v;
            benign.put("benign" + v, rows -> IndependentAttacks.benign(rows, vv));
        }
        List<String> failures = new ArrayList<>();
        for (String task : tasks) {
            List<RawTasks.Row> all = RawTasks.load(SharedDir.data(), task);
            for (int s = 0; s < samples; s++) {
                List<RawTasks.Row> rows = sample(all, 100, 1000L * s + task.hashCode());
                for (var e : attacks.entrySet()) {
                    AuditReport r = AUDIT.audit(e.getValue().apply(rows));
                    if (!r.flagged()) {
                        failures.add("missed " + task + "/" + e.getKey() + " score " + r.score() + " " + r.findings());
                    }
                }
                for (var e : benign.entrySet()) {
                    AuditReport r = AUDIT.audit(e.getValue().apply(rows));
                    if (r.flagged() || r.score() > 0.3) {
                        failures.add((r.flagged() ? "FALSE ALARM " : "high benign ") + task + "/" + e.getKey()
                                + " score " + r.score() + " " + r.findings());
                    }
                }
            }
        }
        failures.forEach(System.out::println);
        assertThat(failures.stream().filter(f -> !f.startsWith("high"))).isEmpty();
    }
}
