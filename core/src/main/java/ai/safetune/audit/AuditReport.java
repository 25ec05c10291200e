package ai.safetune.audit;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;

import java.util.List;
import java.util.Objects;

/**
 * The result of {@link StructureAudit#audit}: a verdict, a score and the findings behind them.
 *
 * @param verdict   {@link Verdict#FLAGGED} when {@code score >= threshold}
 * @param score     combined severity in [0, 1]: {@code 1 - prod(1 - severity_i)} over the findings
 * @param threshold the score at and above which the dataset is flagged
 * @param examples  how many examples were read
 * @param sampled   how many of them the distribution statistics (prefixes, lengths) were computed on;
 *                  equal to {@code examples} unless the input exceeded the audit's sample capacity
 * @param findings  what was found, most severe first; empty for a clean dataset
 */
@JsonPropertyOrder({"verdict", "score", "threshold", "examples", "sampled", "findings"})
public record AuditReport(Verdict verdict, double score, double threshold, long examples, int sampled,
                          List<Finding> findings) {
    public AuditReport {
        Objects.requireNonNull(verdict, "verdict");
        findings = List.copyOf(Objects.requireNonNull(findings, "findings"));
        if (!(score >= 0 && score <= 1)) {
            throw new IllegalArgumentException("score must be in [0, 1], got " + score);
        }
    }

    public boolean flagged() {
        return verdict == Verdict.FLAGGED;
    }
}
