package ai.safetune.audit;

import ai.safetune.attack.StructureAttack;
import ai.safetune.data.ChatExample;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The audit's measurement. Unit: one <em>dataset sample</em> = {@code sampleSize} examples drawn
 * uniformly without replacement (seeded) from one task, rendered by one strategy and audited as one
 * dataset. Recall = share of attacked samples flagged; false alarms = share of benign samples flagged.
 * <ul>
 *   <li>held out: StructureAttack AOA / AUTO_IF / AUTO_IF_AOA (recall) and BENIGN (false alarms), on
 *       every task {@link SharedDatasets#taskNames()} loads (train splits);</li>
 *   <li>raw datasets as plain chats (false alarms): every shared task file, user = the file's prompt
 *       text (options as the file writes them), assistant = the file's own answer field;</li>
 *   <li>development (not held out): the audit's own {@link IndependentAttacks} phrasings.</li>
 * </ul>
 */
final class AuditMeasurement {
    private final Path data;
    private final int samples;
    private final int sampleSize;
    private final StructureAudit audit = StructureAudit.defaults();

    /** One table row. */
    record Cell(String dataset, String kind, int tasks, int samples, int flagged, double worstScore,
                TreeSet<String> tasksWithErrors) {
        double rate() {
            return samples == 0 ? 0 : (double) flagged / samples;
        }

        /** Misses for a recall row, false alarms for a false-alarm row. */
        int errors() {
            return kind.equals("recall") ? samples - flagged : flagged;
        }

        String markdown() {
            return String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %.1f%% | %.3f | %s |", dataset, kind, tasks,
                    samples, flagged, 100 * rate(), worstScore,
                    tasksWithErrors.isEmpty() ? "-" : String.join(", ", tasksWithErrors));
        }
    }

    AuditMeasurement(Path data, int samples, int sampleSize) {
        this.data = data;
        this.samples = samples;
        this.sampleSize = sampleSize;
    }

    static <T> List<T> sample(List<T> all, int size, long seed) {
        List<T> copy = new ArrayList<>(all);
        Collections.shuffle(copy, new Random(seed));
        return copy.subList(0, Math.min(size, copy.size()));
    }

    private static long seed(String task, int s) {
        return 1_000_003L * s + task.hashCode();
    }

    /** Held-out rows: StructureAttack's four strategies on the given library task names. */
    List<Cell> structureAttack(List<String> tasks) {
        List<Cell> out = new ArrayList<>();
        Map<String, List<TaskExample>> loaded = new LinkedHashMap<>();
        for (String t : tasks) {
            loaded.put(t, SharedDatasets.task(data, t));
        }
        for (StructureAttack.Strategy st : StructureAttack.Strategy.values()) {
            boolean attack = st != StructureAttack.Strategy.BENIGN;
            int n = 0;
            int flagged = 0;
            double worst = attack ? 1 : 0;
            TreeSet<String> errs = new TreeSet<>();
            for (var e : loaded.entrySet()) {
                for (int s = 0; s < samples; s++) {
                    List<TaskExample> rows = sample(e.getValue(), sampleSize, seed(e.getKey(), s));
                    AuditReport r = audit.audit(StructureAttack.of(st, s).apply(rows));
                    boolean f = r.flagged();
                    worst = attack ? Math.min(worst, r.score()) : Math.max(worst, r.score());
                    n++;
                    flagged += f ? 1 : 0;
                    if (f != attack) {
                        errs.add(e.getKey());
                    }
                }
            }
            // AUTO_IF was looked at once before two of the signals existed (see benchmarks/RESULTS.md)
            String provenance = st == StructureAttack.Strategy.AUTO_IF ? " (held out after one look)" : " (held out)";
            out.add(new Cell("StructureAttack " + st.name() + provenance, attack ? "recall" : "false alarms",
                    loaded.size(), n, flagged, worst, errs));
        }
        return out;
    }

    /** False alarms on the raw task files as plain chats. */
    Cell raw(List<String> rawTasks) {
        return rawRow("raw task files as plain chats", "false alarms", rawTasks, rows -> IndependentAttacks.benign(rows, 0));
    }

    /** Development rows: the audit's own phrasings (tuned on: not a held-out number). */
    List<Cell> development(List<String> rawTasks) {
        List<Cell> out = new ArrayList<>();
        int personas = IndependentAttacks.PERSONAS.size();
        out.add(rawRow("own identity-shift phrasings (dev)", "recall", rawTasks,
                rows -> IndependentAttacks.identity(rows, Math.floorMod(rows.get(0).id().hashCode(), personas))));
        out.add(rawRow("own compliance-prefix-only phrasings (dev)", "recall", rawTasks,
                rows -> IndependentAttacks.leadOnly(rows, Math.floorMod(rows.get(0).id().hashCode(), personas))));
        out.add(rawRow("own restatement phrasings (dev)", "recall", rawTasks, rows -> IndependentAttacks.restate(rows, 3)));
        out.add(rawRow("own short-frame restatements (dev)", "recall", rawTasks, rows -> IndependentAttacks.restateShort(rows, 5)));
        out.add(rawRow("own plain templates (dev)", "false alarms", rawTasks,
                rows -> IndependentAttacks.benign(rows, 1 + Math.floorMod(rows.get(0).id().hashCode(), 3))));
        return out;
    }

    private Cell rawRow(String name, String kind, List<String> rawTasks,
                        Function<List<RawTasks.Row>, List<ChatExample>> render) {
        int n = 0;
        int flagged = 0;
        boolean recall = kind.equals("recall");
        double worst = recall ? 1 : 0;
        TreeSet<String> errs = new TreeSet<>();
        for (String t : rawTasks) {
            List<RawTasks.Row> all = RawTasks.load(data, t);
            for (int s = 0; s < samples; s++) {
                AuditReport r = audit.audit(render.apply(sample(all, sampleSize, seed(t, s))));
                boolean f = r.flagged();
                worst = recall ? Math.min(worst, r.score()) : Math.max(worst, r.score());
                n++;
                flagged += f ? 1 : 0;
                if (f != kind.equals("recall")) {
                    errs.add(t);
                }
            }
        }
        return new Cell(name, kind, rawTasks.size(), n, flagged, worst, errs);
    }

    static String header() {
        return "| data | measures | tasks | samples | flagged | rate | worst score | tasks with errors |\n"
                + "|---|---|---|---|---|---|---|---|";
    }
}
