package ai.safetune.data;

import java.io.Flushable;

/** What the streaming JSONL writers share: the sink, the record count, flush and close. */
abstract class JsonlWriterBase implements AutoCloseable, Flushable {
    final JsonlOutput out;

    JsonlWriterBase(JsonlOutput out) {
        this.out = out;
    }

    /** Records written so far. */
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
}
