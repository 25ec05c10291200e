package ai.safetune.data;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Writes alpaca JSONL, one {@code {"instruction","input","output"}} per line, streaming.
 *
 * <p>A chat becomes: instruction = the user turn, input = "" (a chat does not say which part of the turn was
 * the "input"), output = the assistant turn. A system prompt, when the chat has one, is written as an extra
 * {@code "system"} field (the LLaMA-Factory convention; tools that do not know it ignore it, and
 * {@link ChatDatasets} reads it back as the system message). Only single-turn chats fit the format: a chat
 * with more turns is refused with an {@link IllegalArgumentException} rather than truncated.
 * Optionally writes the example's {@code "id"}.
 */
public final class AlpacaJsonlWriter extends JsonlWriterBase {
    private final boolean includeId;

    private AlpacaJsonlWriter(JsonlOutput out, boolean includeId) {
        super(out);
        this.includeId = includeId;
    }

    public static AlpacaJsonlWriter open(Path file) {
        return open(file, false);
    }

    public static AlpacaJsonlWriter open(Path file, boolean includeId) {
        return new AlpacaJsonlWriter(JsonlOutput.to(file), includeId);
    }

    /** A writer on a stream (closed with the writer). */
    public static AlpacaJsonlWriter open(OutputStream stream, String name, boolean includeId) {
        return new AlpacaJsonlWriter(new JsonlOutput(stream, name), includeId);
    }

    /** Writes a single-turn chat ([system,] user, assistant). */
    public void write(ChatExample example) {
        List<Message> m = example.messages();
        int i = 0;
        Optional<String> system = Optional.empty();
        if (!m.isEmpty() && m.get(0).role() == Role.SYSTEM) {
            system = Optional.of(m.get(0).content());
            i = 1;
        }
        if (m.size() - i != 2 || m.get(i).role() != Role.USER || m.get(i + 1).role() != Role.ASSISTANT) {
            throw new IllegalArgumentException("chat " + example.id() + " cannot be written as alpaca: expected "
                    + "[system,] user, assistant, got " + m.stream().map(x -> x.role().wireName()).toList());
        }
        write(includeId ? Optional.of(example.id()) : Optional.empty(), system, m.get(i).content(), "",
                m.get(i + 1).content());
    }

    /** Writes one record as given. */
    public void write(Optional<String> id, Optional<String> system, String instruction, String input, String output) {
        out.writeObject(g -> {
            if (id.isPresent()) {
                g.writeStringField("id", id.get());
            }
            if (system.isPresent()) {
                g.writeStringField("system", system.get());
            }
            g.writeStringField("instruction", instruction);
            g.writeStringField("input", input);
            g.writeStringField("output", output);
        });
    }
}
