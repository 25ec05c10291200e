package ai.safetune.data;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A chat conversation used for training or evaluation: ordered role/content messages.
 *
 * @param id       stable identifier
 * @param messages the conversation, in order
 * @param metadata free string metadata (source, strategy, ...)
 */
public record ChatExample(String id, List<Message> messages, Map<String, String> metadata) {
    public ChatExample {
        Objects.requireNonNull(id, "id");
        messages = List.copyOf(Objects.requireNonNull(messages, "messages"));
        metadata = Map.copyOf(Objects.requireNonNull(metadata, "metadata"));
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("chat " + id + " has no messages");
        }
    }

    public static ChatExample of(String id, Message... messages) {
        return new ChatExample(id, List.of(messages), Map.of());
    }

    public Optional<String> systemPrompt() {
        return messages.get(0).role() == Role.SYSTEM ? Optional.of(messages.get(0).content()) : Optional.empty();
    }

    /** Content of the first user message, or empty. */
    public Optional<String> firstUser() {
        return messages.stream().filter(m -> m.role() == Role.USER).map(Message::content).findFirst();
    }

    /** Content of the last assistant message, or empty. */
    public Optional<String> lastAssistant() {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.get(i).role() == Role.ASSISTANT) {
                return Optional.of(messages.get(i).content());
            }
        }
        return Optional.empty();
    }
}
