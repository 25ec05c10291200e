package ai.safetune.cli;

import ai.safetune.audit.AuditReport;
import ai.safetune.audit.Finding;
import ai.safetune.audit.StructureAudit;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ReadOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code safetune audit --in F [--json]}: scores a chat/alpaca dataset for attack-shaped structure. */
@Command(name = "audit", mixinStandardHelpOptions = true,
        description = {"Audit a chat or alpaca JSONL dataset for attack-shaped structure (identity-shift system",
                "prompts, constant compliance prefixes, label tasks answered in long sentences) before training on it."})
final class AuditCommand implements Callable<Integer> {

    @Option(names = "--in", required = true, paramLabel = "F", description = "chat or alpaca JSONL (or JSON array) file")
    Path in;

    @Option(names = "--json", description = "print one JSON object: {verdict, score, threshold, examples, sampled, findings}")
    boolean json;

    @Option(names = "--threshold", paramLabel = "X", defaultValue = "0.5",
            description = "score at and above which the verdict is flagged (default: ${DEFAULT-VALUE})")
    double threshold;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        StructureAudit.Session session = StructureAudit.builder().threshold(threshold).build().start();
        ChatDatasets.forEach(in, ReadOptions.defaults(), session);
        AuditReport report = session.report();
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(report));
        } else {
            out.println(summary(in.toString(), report));
        }
        out.flush();
        return 0;
    }

    static String summary(String name, AuditReport r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%s: %s (score %.2f, threshold %.2f) - %d examples%s%n", name,
                r.verdict().wireName().toUpperCase(Locale.ROOT), r.score(), r.threshold(), r.examples(),
                r.sampled() < r.examples() ? ", distribution statistics on a sample of " + r.sampled() : ""));
        if (r.findings().isEmpty()) {
            sb.append("  no attack-shaped structure found").append(System.lineSeparator());
        }
        for (Finding f : r.findings()) {
            sb.append(String.format(Locale.ROOT, "  [%.2f] %s: %s%n", f.severity(), f.kind(), f.description()));
            if (!f.exampleIds().isEmpty()) {
                sb.append("         e.g. ").append(String.join(", ", f.exampleIds())).append(System.lineSeparator());
            }
        }
        return sb.toString().stripTrailing();
    }
}
