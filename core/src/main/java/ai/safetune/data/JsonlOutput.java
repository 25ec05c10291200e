package ai.safetune.data;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/** A UTF-8 JSONL sink: one compact JSON object per line, "\n" after each. Not thread-safe. */
final class JsonlOutput implements AutoCloseable {
    private final JsonGenerator gen;
    private final String name;
    private long count;
    private boolean closed;

    JsonlOutput(OutputStream out, String name) {
        this.name = name;
        try {
            this.gen = Json.MAPPER.getFactory().createGenerator(out, JsonEncoding.UTF8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + name + ": " + e.getMessage(), e);
        }
        // root values are separated by our own "\n", not Jackson's default space
        gen.setPrettyPrinter(new MinimalPrettyPrinter(""));
    }

    /** The fields of one record, written between its braces. */
    @FunctionalInterface
    interface Fields {
        void write(JsonGenerator g) throws IOException;
    }

    /** A sink creating (or truncating) {@code file}. */
    static JsonlOutput to(Path file) {
        return new JsonlOutput(create(file), file.toString());
    }

    static OutputStream create(Path file) {
        try {
            return Files.newOutputStream(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + file + ": " + e.getMessage(), e);
        }
    }

    JsonGenerator generator() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
        return gen;
    }

    /** Writes one JSON object line; an I/O failure becomes an {@link UncheckedIOException} naming the sink. */
    void writeObject(Fields fields) {
        JsonGenerator g = generator();
        try {
            g.writeStartObject();
            fields.write(g);
            g.writeEndObject();
            endRecord();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + name + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code map} as an object field, keys sorted so the output does not depend on map order. */
    static void writeSortedMap(JsonGenerator g, String field, Map<String, String> map) throws IOException {
        g.writeObjectFieldStart(field);
        for (Map.Entry<String, String> e : new TreeMap<>(map).entrySet()) {
            g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
    }

    private void endRecord() throws IOException {
        gen.writeRaw('\n');
        count++;
    }

    long count() {
        return count;
    }

    String name() {
        return name;
    }

    void flush() {
        try {
            gen.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            gen.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + name + ": " + e.getMessage(), e);
        }
    }
}
