package ai.safetune.audit;

import java.util.List;
import java.util.Objects;

/**
 * One piece of attack-shaped structure found in a dataset.
 *
 * @param kind        what was found
 * @param description a one-sentence, human-readable explanation with the measured numbers
 * @param severity    this finding's contribution to the score, in [0, 1]
 * @param count       how many examples show it (over the audited sample, see {@link AuditReport#sampled()})
 * @param exampleIds  ids of the first examples that show it, capped (see {@link StructureAudit.Builder#maxExampleIds})
 */
public record Finding(FindingKind kind, String description, double severity, int count, List<String> exampleIds) {
    public Finding {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(description, "description");
        exampleIds = List.copyOf(Objects.requireNonNull(exampleIds, "exampleIds"));
        if (!(severity >= 0 && severity <= 1)) {
            throw new IllegalArgumentException("severity must be in [0, 1], got " + severity);
        }
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0, got " + count);
        }
    }
}
