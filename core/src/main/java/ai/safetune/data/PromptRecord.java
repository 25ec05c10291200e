package ai.safetune.data;

import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One prompt of a harmful or benign evaluation set (AdvBench, HarmBench, XSTest, the vinid sets...).
 *
 * @param id       the dataset's own id, or {@code <set>#<n>} (1-based position) when it has none
 * @param prompt   the request text as the dataset writes it
 * @param category the dataset's category/tag for this prompt, if it has one
 * @param metadata further columns (XSTest label/type/focus, HarmBench functional category, ...)
 */
public record PromptRecord(String id, String prompt, Optional<String> category, Map<String, String> metadata) {
    public PromptRecord {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(category, "category");
        metadata = Map.copyOf(Objects.requireNonNull(metadata, "metadata"));
        if (prompt.isBlank()) {
            throw new IllegalArgumentException("prompt " + id + " is blank");
        }
    }
}
