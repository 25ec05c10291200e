package ai.safetune.mix;

import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ReadOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;

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

    /** Any re-iterable collection or generator. */
    static ExampleSource ofIterable(Iterable<ChatExample> examples) {
        return examples::forEach;
    }

    /** A fresh stream per read (closed after it), e.g. {@code () -> Files.lines(f).map(parse)}. */
    static ExampleSource ofStreams(Supplier<? extends Stream<ChatExample>> streams) {
        return sink -> {
            try (Stream<ChatExample> s = streams.get()) {
                s.forEachOrdered(sink);
            }
        };
    }

    /** A chat or alpaca JSONL (or JSON array) file, read strictly: a bad line fails naming file and line. */
    static ExampleSource of(Path file) {
        return sink -> ChatDatasets.forEach(file, ReadOptions.defaults(), sink);
    }
}
