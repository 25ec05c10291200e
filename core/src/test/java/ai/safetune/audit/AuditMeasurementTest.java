package ai.safetune.audit;

import ai.safetune.data.SharedDatasets;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Computes the audit's recall / false-alarm table (see {@link AuditMeasurement} for the unit). The
 * full table is the slow test; the fast test runs a subset with the same goals.
 */
class AuditMeasurementTest {

    private static void check(List<AuditMeasurement.Cell> cells) {
        for (AuditMeasurement.Cell c : cells) {
            if (c.kind().equals("recall")) {
                assertThat(c.rate()).as(c.markdown()).isGreaterThanOrEqualTo(0.95);
            } else {
                assertThat(c.rate()).as(c.markdown()).isLessThanOrEqualTo(0.01);
            }
        }
    }

    private static String table(List<AuditMeasurement.Cell> cells) {
        StringBuilder sb = new StringBuilder(AuditMeasurement.header()).append('\n');
        cells.forEach(c -> sb.append(c.markdown()).append('\n'));
        return sb.toString();
    }

    @Test
    void fastSubsetMeetsTheGoals() {
        AuditMeasurement m = new AuditMeasurement(SharedDir.data(), 2, 100);
        List<AuditMeasurement.Cell> cells = new ArrayList<>(m.structureAttack(List.of("gsm8k",
                "bbh/date_understanding", "bbh/word_sorting", "bbh/navigate", "bbh/causal_judgement")));
        cells.add(m.raw(List.of("gsm8k", "arc_easy", "boolq", "bbh_word_sorting", "bbh_dyck_languages")));
        System.out.println(table(cells));
        check(cells);
    }

    @Test
    @Tag("slow")
    void fullTableMeetsTheGoals() throws IOException {
        AuditMeasurement m = new AuditMeasurement(SharedDir.data(), 20, 100);
        List<String> tasks = SharedDatasets.taskNames().stream().filter(t -> !t.contains(":")).toList();
        List<String> raw = RawTasks.allNames(SharedDir.data());
        List<AuditMeasurement.Cell> cells = new ArrayList<>(m.structureAttack(tasks));
        cells.add(m.raw(raw));
        cells.addAll(m.development(raw));
        String table = table(cells);
        System.out.println(table);
        Path out = Path.of("target", "audit-measurement.md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, table);
        check(cells);
    }
}
