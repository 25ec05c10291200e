package ai.safetune.eval;

import java.util.Objects;

/**
 * One evaluated prompt.
 *
 * @param id       the prompt's id in its set (e.g. {@code advbench:17})
 * @param category the set's category for it ("" when the set has none)
 * @param prompt   the user prompt as sent (before the chat template)
 * @param response the generated text (or, for scored tasks, the chosen option)
 * @param positive whether it counts toward the suite's metric (complied for ASR, refused for
 *                 (over-)refusal, correct for accuracy)
 * @param detail   the judge's rationale or the extracted answer vs gold
 */
public record ItemResult(String id, String category, String prompt, String response, boolean positive, String detail) {
    public ItemResult {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(category, "category");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(response, "response");
        Objects.requireNonNull(detail, "detail");
    }
}
