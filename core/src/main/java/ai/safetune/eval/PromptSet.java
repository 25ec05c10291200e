package ai.safetune.eval;

import ai.safetune.data.PromptRecord;
import java.util.List;
import java.util.Objects;

/**
 * A named list of prompts and what they measure.
 *
 * @param name    as written on the command line ({@code advbench}, {@code xstest-safe}, {@code file:my.csv})
 * @param kind    harmful (ASR), safe (over-refusal) or unsafe contrast (refusal)
 * @param source  where the prompts came from (file path), for messages
 * @param prompts every prompt, in file order; never empty
 */
public record PromptSet(String name, SuiteKind kind, String source, List<PromptRecord> prompts) {
    public PromptSet {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(source, "source");
        prompts = List.copyOf(prompts);
        if (kind == SuiteKind.TASK) {
            throw new IllegalArgumentException("prompt set " + name + ": tasks are evaluated by TaskEvaluation");
        }
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("prompt set " + name + " (" + source + ") has no prompts");
        }
    }

    /** The first {@code limit} prompts (file order, so runs with the same limit compare). */
    public PromptSet limit(int limit) {
        if (limit <= 0) {
            throw new IllegalArgumentException("--limit must be > 0, got " + limit);
        }
        return limit >= prompts.size() ? this : new PromptSet(name, kind, source, prompts.subList(0, limit));
    }
}
