package ai.safetune.cli;

import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatJsonlWriter;
import ai.safetune.data.ReadOptions;
import ai.safetune.format.FormatMimic;
import ai.safetune.format.TaskFormat;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code safetune mimic}: learn the user data's format and write safety examples in it. */
@Command(name = "mimic", mixinStandardHelpOptions = true,
        description = "Learn the prompt format of fine-tuning data (system prompt, template around the question, option "
                + "labels, answer style, constant prefixes) and write safety examples (request -> refusal) in that format.")
public final class MimicCommand implements Callable<Integer> {

    @Option(names = "--user-data", required = true, paramLabel = "F", description = "User data: chat or alpaca JSONL (or JSON array).")
    Path userData;

    @Option(names = "--safety", required = true, paramLabel = "F", description = "Safety data: chat or alpaca JSONL / JSON array.")
    Path safety;

    @Option(names = "--out", required = true, paramLabel = "F", description = "Mimicked safety examples, chat JSONL.")
    Path out;

    @Option(names = "--format-out", paramLabel = "F", description = "Also write the learned format as JSON.")
    Path formatOut;

    @Option(names = "--count", paramLabel = "N", description = "Write only the first N safety examples (default: all).")
    Integer count;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed for variant and option placement (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--learn-sample", defaultValue = "2000", paramLabel = "N",
            description = "Leading user examples to learn the format from (default ${DEFAULT-VALUE}).")
    int learnSample;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (count != null && count < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--count must be >= 0, got " + count);
        }
        List<ChatExample> sample = new ArrayList<>();
        ChatDatasets.forEach(userData, ReadOptions.defaults(), c -> {
            if (sample.size() < learnSample) {
                sample.add(c);
            }
        });
        TaskFormat format = FormatMimic.learn(sample);
        List<ChatExample> safe = ChatDatasets.read(safety);
        int n = count == null ? safe.size() : Math.min(count, safe.size());
        if (count != null && count > safe.size()) {
            throw new IllegalArgumentException("asked for " + count + " examples but " + safety + " holds " + safe.size());
        }
        try (ChatJsonlWriter w = ChatJsonlWriter.open(out); DataProgress bar = DataProgress.start("mimic", n)) {
            for (int i = 0; i < n; i++) {
                w.write(format.render(safe.get(i), seed));
                bar.step();
            }
        }
        if (formatOut != null) {
            try {
                Files.writeString(formatOut, format.toJson(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + formatOut + ": " + e.getMessage(), e);
            }
        }
        spec.commandLine().getOut().print(format.describe());
        spec.commandLine().getOut().printf("wrote %d mimicked safety examples -> %s%n", n, out);
        return 0;
    }
}
