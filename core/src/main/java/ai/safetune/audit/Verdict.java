package ai.safetune.audit;

import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/** The audit's decision about a dataset. Serialized as {@code "flagged"} / {@code "clean"}. */
public enum Verdict {
    /** The dataset has attack-shaped structure; review it before training on it. */
    FLAGGED,
    /** No attack-shaped structure was found above the threshold. */
    CLEAN;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
