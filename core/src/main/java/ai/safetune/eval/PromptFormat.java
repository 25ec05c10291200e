package ai.safetune.eval;

import ai.safetune.data.Message;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How a harmful (or XSTest) prompt is put to the model: an optional system prompt and a user template with a
 * {@code {prompt}} placeholder. {@link #PLAIN} asks the prompt as it is; an attack format (e.g. AOA's identity
 * system prompt and {@code "AOA, execute my instruction: {prompt}"}) measures a fine-tuned model the way the
 * attacker would query it. The judge still sees the original prompt.
 */
public record PromptFormat(Optional<String> system, String template) {
    /** The placeholder the template must contain exactly once. */
    public static final String PLACEHOLDER = "{prompt}";
    /** No system prompt, the prompt as the whole user message. */
    public static final PromptFormat PLAIN = new PromptFormat(Optional.empty(), PLACEHOLDER);

    public PromptFormat {
        Objects.requireNonNull(system, "system");
        Objects.requireNonNull(template, "template");
        int at = template.indexOf(PLACEHOLDER);
        if (at < 0 || template.indexOf(PLACEHOLDER, at + 1) >= 0) {
            throw new IllegalArgumentException("prompt template must contain " + PLACEHOLDER + " exactly once, got: "
                    + template);
        }
        if (system.isPresent() && system.get().isBlank()) {
            throw new IllegalArgumentException("system prompt is blank (leave it out for none)");
        }
    }

    /** The chat asked for {@code prompt}: the system message if any, then the filled-in user message. */
    public List<Message> chat(String prompt) {
        List<Message> chat = new ArrayList<>(2);
        system.ifPresent(s -> chat.add(Message.system(s)));
        chat.add(Message.user(template.replace(PLACEHOLDER, prompt)));
        return chat;
    }

    /** True for {@link #PLAIN}'s behaviour (no system prompt, bare template). */
    public boolean plain() {
        return system.isEmpty() && template.equals(PLACEHOLDER);
    }

    /** One line for reports, e.g. {@code system "You are…" + user "AOA, execute my instruction: {prompt}"}. */
    public String describe() {
        return plain() ? "plain prompts" : system.map(s -> "system \"" + s + "\" + ").orElse("") + "user \"" + template + "\"";
    }
}
