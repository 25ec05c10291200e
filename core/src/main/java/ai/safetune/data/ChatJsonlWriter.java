package ai.safetune.data;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.Flushable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes chat JSONL, one {@code {"messages":[{"role":"user","content":"..."}, ...]}} per line, streaming
 * (append with {@link #write}, then {@link #close}). Optionally adds the example's {@code "id"} and
 * {@code "metadata"} (off by default: some fine-tuning services reject unknown keys);
 * {@link ChatDatasets} reads both back.
 */
public final class ChatJsonlWriter implements AutoCloseable, Flushable {
    private final JsonlOutput out;
    private final boolean includeId;
    private final boolean includeMetadata;

    private ChatJsonlWriter(JsonlOutput out, boolean includeId, boolean includeMetadata) {
        this.out = out;
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
        try {
            JsonGenerator g = out.generator();
            g.writeStartObject();
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
                g.writeObjectFieldStart("metadata");
                for (Map.Entry<String, String> e : new java.util.TreeMap<>(example.metadata()).entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            g.writeEndObject();
            out.endRecord();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.name() + ": " + e.getMessage(), e);
        }
    }

    /** Examples written so far. */
    public long count() {
        return out.count();
    }

    @Override
    public void flush() {
        out.flush();
    }

    @Override
    public void close() {
        out.close();
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
            return new ChatJsonlWriter(new JsonlOutput(JsonlOutput.create(file), file.toString()), includeId, includeMetadata);
        }

        /** A writer on a stream (closed with the writer). */
        public ChatJsonlWriter open(OutputStream stream, String name) {
            return new ChatJsonlWriter(new JsonlOutput(stream, name), includeId, includeMetadata);
        }
    }
}
