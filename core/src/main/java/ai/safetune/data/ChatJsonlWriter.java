package ai.safetune.data;

import java.io.OutputStream;
import java.nio.file.Path;

/**
 * Writes chat JSONL, one {@code {"messages":[{"role":"user","content":"..."}, ...]}} per line, streaming
 * (append with {@link #write}, then {@link #close}). Optionally adds the example's {@code "id"} and
 * {@code "metadata"} (off by default: some fine-tuning services reject unknown keys);
 * {@link ChatDatasets} reads both back.
 */
public final class ChatJsonlWriter extends JsonlWriterBase {
    private final boolean includeId;
    private final boolean includeMetadata;

    private ChatJsonlWriter(JsonlOutput out, boolean includeId, boolean includeMetadata) {
        super(out);
        this.includeId = includeId;
        this.includeMetadata = includeMetadata;
    }

    /** A writer creating (or truncating) {@code file}, messages only. */
    public static ChatJsonlWriter open(Path file) {
        return builder().open(file);
    }

    public static Builder builder() {
        return new Builder();
    }

    public void write(ChatExample example) {
        out.writeObject(g -> {
            if (includeId) {
                g.writeStringField("id", example.id());
            }
            g.writeArrayFieldStart("messages");
            for (Message m : example.messages()) {
                g.writeStartObject();
                g.writeStringField("role", m.role().wireName());
                g.writeStringField("content", m.content());
                g.writeEndObject();
            }
            g.writeEndArray();
            if (includeMetadata && !example.metadata().isEmpty()) {
                JsonlOutput.writeSortedMap(g, "metadata", example.metadata());
            }
        });
    }

    public static final class Builder {
        private boolean includeId;
        private boolean includeMetadata;

        private Builder() {
        }

        public Builder includeId(boolean include) {
            this.includeId = include;
            return this;
        }

        public Builder includeMetadata(boolean include) {
            this.includeMetadata = include;
            return this;
        }

        public ChatJsonlWriter open(Path file) {
            return new ChatJsonlWriter(JsonlOutput.to(file), includeId, includeMetadata);
        }

        /** A writer on a stream (closed with the writer). */
        public ChatJsonlWriter open(OutputStream stream, String name) {
            return new ChatJsonlWriter(new JsonlOutput(stream, name), includeId, includeMetadata);
        }
    }
}
