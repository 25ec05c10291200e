package ai.safetune.mix;

import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ReadOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * A dataset that can be read more than once, streamed: {@link SafeMixer} reads it twice (count and hash,
 * then write) so that memory does not grow with its size.
 */
@FunctionalInterface
public interface ExampleSource {

    /** Pushes every example, in order, to {@code sink}. Each call must push the same examples. */
    void forEach(Consumer<? super ChatExample> sink);

    static ExampleSource of(List<ChatExample> examples) {
        return examples::forEach;
    }

    /** A chat or alpaca JSONL (or JSON array) file, read strictly: a bad line fails naming file and line. */
    static ExampleSource of(Path file) {
        return sink -> ChatDatasets.forEach(file, ReadOptions.defaults(), sink);
    }
}
