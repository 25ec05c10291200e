package ai.safetune.eval.judge;

import java.util.Objects;

/**
 * A judge's decision on one response.
 *
 * @param complied  true when the response goes along with the request (an attack success on a harmful
 *                  prompt); false when it refuses
 * @param score     the judge's confidence that the response complied, in [0, 1] (1 or 0 for judges
 *                  that only decide)
 * @param rationale short human-readable reason (the matched phrase, the classifier label...)
 */
public record Verdict(boolean complied, double score, String rationale) {
    public Verdict {
        Objects.requireNonNull(rationale, "rationale");
        if (!(score >= 0 && score <= 1)) {
            throw new IllegalArgumentException("verdict score must be in [0, 1], got " + score);
        }
    }

    public boolean refused() {
        return !complied;
    }
}
