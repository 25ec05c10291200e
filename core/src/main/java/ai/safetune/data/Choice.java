package ai.safetune.data;

import java.util.Objects;

/**
 * One option of a multiple-choice example: its label as the dataset writes it ("A", "1", "yes")
 * and its text (may be empty when the label is the whole option).
 */
public record Choice(String label, String text) {
    public Choice {
        Objects.requireNonNull(label, "choice label");
        Objects.requireNonNull(text, "choice text");
        if (label.isBlank()) {
            throw new IllegalArgumentException("choice label must not be blank");
        }
    }
}
