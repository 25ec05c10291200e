package ai.safetune.cli;

import ai.safetune.attack.StructureAttack;
import ai.safetune.audit.AuditReport;
import ai.safetune.audit.StructureAudit;
import ai.safetune.data.ChatExample;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code safetune demo}: the data side end to end on the shared datasets. Loads a few tasks, renders a
 * seeded sample of each with every StructureAttack strategy, audits every rendering, and prints the
 * verdicts next to the real AOA chats and the safety data.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Data-side demo on the shared datasets: render tasks with every StructureAttack strategy",
                "and audit each rendering; prints examples per source and the audit verdicts."})
final class DemoCommand implements Callable<Integer> {
    static final List<String> TASKS = List.of("sst2", "boolq", "ag_news", "gsm8k", "bbh/date_understanding", "arc-easy");

    @CommandLine.Mixin
    DataDirOption data = new DataDirOption();

    @Option(names = "--sample", paramLabel = "N", defaultValue = "200",
            description = "examples drawn per task (seeded; default: ${DEFAULT-VALUE})")
    int sample;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "sampling and attack seed (default: ${DEFAULT-VALUE})")
    long seed;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (sample < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--sample must be >= 1, got " + sample);
        }
        Path dir = data.resolve();
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("data directory " + dir.toAbsolutePath().normalize()
                    + " not found; pass --data-dir DIR or set SAFETUNE_DATA to the shared/data folder");
        }
        PrintWriter out = spec.commandLine().getOut();
        StructureAudit audit = StructureAudit.defaults();
        long start = System.nanoTime();

        out.println("SafeTune data-side demo - data: " + dir);
        out.println();
        out.printf(Locale.ROOT, "%-24s %9s %8s  %-14s %-14s %-14s %-14s%n", "task", "examples", "sampled",
                "BENIGN", "AOA", "AUTO_IF", "AUTO_IF_AOA");
        int misjudged = 0;
        for (String task : TASKS) {
            List<TaskExample> all = SharedDatasets.task(dir, task);
            List<TaskExample> rows = new ArrayList<>(all);
            Collections.shuffle(rows, new Random(seed ^ task.hashCode()));
            rows = rows.subList(0, Math.min(sample, rows.size()));
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-24s %9d %8d ", task, all.size(), rows.size()));
            for (StructureAttack.Strategy st : StructureAttack.Strategy.values()) {
                AuditReport r = audit.audit(StructureAttack.of(st, seed).apply(rows));
                boolean expected = st != StructureAttack.Strategy.BENIGN;
                misjudged += r.flagged() == expected ? 0 : 1;
                line.append(String.format(Locale.ROOT, " %-14s", r.verdict().wireName() + " " + fmt(r.score())));
            }
            out.println(line.toString().stripTrailing());
        }
        out.println();
        List<ChatExample> aoa = SharedDatasets.aoaChats(dir);
        List<ChatExample> safety = SharedDatasets.safety(dir);
        AuditReport aoaReport = audit.audit(aoa);
        AuditReport safetyReport = audit.audit(safety);
        misjudged += aoaReport.flagged() ? 0 : 1;
        misjudged += safetyReport.flagged() ? 1 : 0;
        out.printf(Locale.ROOT, "%-44s %9d  %s%n", "real AOA identity-shift chats (Qi et al.)", aoa.size(),
                aoaReport.verdict().wireName() + " " + fmt(aoaReport.score()));
        out.printf(Locale.ROOT, "%-44s %9d  %s%n", "safety data as plain chats (Bianchi et al.)", safety.size(),
                safetyReport.verdict().wireName() + " " + fmt(safetyReport.score()));
        out.println();
        out.printf(Locale.ROOT, "verdict = StructureAudit on each rendering (flagged at score >= %.2f); "
                + "expected: BENIGN and safety clean, the rest flagged; %d misjudged; %.1f s%n",
                audit.threshold(), misjudged, (System.nanoTime() - start) / 1e9);
        out.flush();
        return 0;
    }

    private static String fmt(double score) {
        return String.format(Locale.ROOT, "%.2f", score);
    }
}
