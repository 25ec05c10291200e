package ai.safetune.data;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One example of a task dataset, before any prompt template is applied.
 *
 * @param id           stable identifier (dataset name + row, or the dataset's own id)
 * @param systemPrompt the dataset's own system prompt, if it has one
 * @param input        the question/passage/instruction text, without the options
 * @param choices      ordered options for multiple-choice tasks; empty for free-form answers
 * @param answer       the gold answer: a choice label when {@code choices} is non-empty, else the answer text
 * @param metadata     free string metadata (source file, line, category, full rationale...)
 */
public record TaskExample(String id, Optional<String> systemPrompt, String input, List<Choice> choices,
                          String answer, Map<String, String> metadata) {
    public TaskExample {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(systemPrompt, "systemPrompt");
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(answer, "answer");
        choices = List.copyOf(Objects.requireNonNull(choices, "choices"));
        metadata = Map.copyOf(Objects.requireNonNull(metadata, "metadata"));
        if (!choices.isEmpty() && choices.stream().noneMatch(c -> c.label().equals(answer))) {
            throw new IllegalArgumentException("example " + id + ": answer '" + answer
                    + "' is not one of the choice labels " + choices.stream().map(Choice::label).toList());
        }
    }

    /** A free-form example (no options, no system prompt). */
    public static TaskExample of(String id, String input, String answer) {
        return new TaskExample(id, Optional.empty(), input, List.of(), answer, Map.of());
    }

    public boolean isMultipleChoice() {
        return !choices.isEmpty();
    }

    /** The gold choice, when this is a multiple-choice example. */
    public Optional<Choice> goldChoice() {
        return choices.stream().filter(c -> c.label().equals(answer)).findFirst();
    }
}
