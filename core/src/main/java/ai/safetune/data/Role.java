package ai.safetune.data;

import java.util.Locale;

/** The role of one chat message, spelled as chat templates spell it. */
public enum Role {
    SYSTEM, USER, ASSISTANT;

    /** The lower-case name used in chat JSON ("system", "user", "assistant"). */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses a wire name; accepts the common aliases "human"/"gpt" (ShareGPT) and "model".
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static Role parse(String s) {
        if (s == null) {
            throw new IllegalArgumentException("role is missing; expected one of system, user, assistant");
        }
        switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "system": return SYSTEM;
            case "user": case "human": return USER;
            case "assistant": case "gpt": case "model": return ASSISTANT;
            default:
                throw new IllegalArgumentException("unknown role '" + s + "'; expected one of system, user, assistant");
        }
    }
}
