package ai.safetune.cli;

import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ChatExample;
import ai.safetune.data.ChatJsonlWriter;
import ai.safetune.mix.ExampleSource;
import ai.safetune.mix.MixReport;
import ai.safetune.mix.SafeMixer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code safetune mix}: mix safety examples into a user's fine-tuning data (streaming). */
@Command(name = "mix", mixinStandardHelpOptions = true,
        description = "Mix safety examples into fine-tuning data: none (baseline), generic (plain safety chats) or "
                + "mimic (safety chats rewritten in the user data's own format). User examples are never dropped or changed.")
public final class MixCommand implements Callable<Integer> {

    @Option(names = "--user-data", required = true, paramLabel = "F", description = "User data: chat or alpaca JSONL (or JSON array).")
    Path userData;

    @Option(names = "--safety", required = true, paramLabel = "F",
            description = "Safety data (request -> refusal): chat or alpaca JSONL / JSON array.")
    Path safety;

    @Option(names = "--strategy", required = true, paramLabel = "S", converter = StrategyConverter.class,
            description = "none | generic | mimic")
    SafeMixer.Strategy strategy;

    static final class Amount {
        @Option(names = "--count", paramLabel = "N", description = "Number of safety examples to add.")
        Integer count;
        @Option(names = "--fraction", paramLabel = "X", description = "Share of safety examples in the final set, 0 <= X < 1.")
        Double fraction;
    }

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Amount amount;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Selection/interleaving seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "F", description = "Mixed chat JSONL.")
    Path out;

    @Option(names = "--report", paramLabel = "F", description = "Write the mix report (counts, seed, SHA-256 input hashes) as JSON.")
    Path report;

    @Option(names = "--learn-sample", defaultValue = "2000", paramLabel = "N",
            description = "Leading user examples mimic learns the format from (default ${DEFAULT-VALUE}).")
    int learnSample;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    static final class StrategyConverter implements CommandLine.ITypeConverter<SafeMixer.Strategy> {
        @Override
        public SafeMixer.Strategy convert(String value) {
            try {
                return SafeMixer.Strategy.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** Show progress for user files over 10 MB (about 20k typical examples). */
    private static final long BIG_FILE = 10L << 20;

    private static long size(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            return 0; // the reader reports the missing file with its own message
        }
    }

    @Override
    public Integer call() {
        if (strategy != SafeMixer.Strategy.NONE && amount == null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "strategy " + strategy.cliName() + " needs --count N or --fraction X");
        }
        SafeMixer.Builder b = SafeMixer.builder().strategy(strategy).seed(seed).learnSample(learnSample);
        if (amount != null && amount.count != null) {
            b.count(amount.count);
        } else if (amount != null) {
            b.fraction(amount.fraction);
        }
        SafeMixer mixer = b.build();
        List<ChatExample> safe = ChatDatasets.read(safety);
        MixReport r;
        try (ChatJsonlWriter w = ChatJsonlWriter.open(out);
             DataProgress bar = DataProgress.unbounded("mix", size(userData) > BIG_FILE)) {
            r = mixer.mix(ExampleSource.of(userData), safe, c -> {
                w.write(c);
                bar.step();
            });
        }
        if (report != null) {
            try {
                Files.writeString(report, r.toJson(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + report + ": " + e.getMessage(), e);
            }
        }
        spec.commandLine().getOut().printf("%s: %d user + %d safety = %d examples -> %s"
                        + " (dropped %d duplicate and %d already-present safety requests)%s%n",
                strategy.cliName(), r.userCount(), r.safetyCount(), r.userCount() + r.safetyCount(), out,
                r.safetyDuplicates(), r.safetyOverlappingUser(), report == null ? "" : "; report -> " + report);
        return 0;
    }
}
