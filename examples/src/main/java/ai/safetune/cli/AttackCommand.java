package ai.safetune.cli;

import ai.safetune.attack.StructureAttack;
import ai.safetune.data.ChatJsonlWriter;
import ai.safetune.data.Choice;
import ai.safetune.data.JsonArrayReader;
import ai.safetune.data.JsonRecord;
import ai.safetune.data.JsonlReader;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code safetune attack}: render a task dataset as structure-attack chat data (for red-teaming). */
@Command(name = "attack", mixinStandardHelpOptions = true,
        description = {"Render a task dataset as structure-attack fine-tuning data (chat JSONL), to red-team your own "
                + "pipeline: every answer stays correct, only the prompt structure changes.",
                "--in F: JSONL or JSON array of {\"id\"?, \"system\"?, \"input\", \"choices\"?, \"answer\"}; choices are "
                        + "[{\"label\",\"text\"}...] or [\"text\"...] (labelled A, B, ...)."})
public final class AttackCommand implements Callable<Integer> {

    @Option(names = "--strategy", required = true, paramLabel = "S", converter = StrategyConverter.class,
            description = "benign | aoa | auto-if | auto-if-aoa")
    StructureAttack.Strategy strategy;

    static final class Input {
        @Option(names = "--task", paramLabel = "NAME", description = "A shared task (gsm8k, gsm8k:test, bbh/date_understanding, ag_news, ...).")
        String task;
        @Option(names = "--in", paramLabel = "F", description = "A task file (see above).")
        Path in;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--out", required = true, paramLabel = "F", description = "Output chat JSONL.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed for the phrasing choice (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--with-metadata", description = "Also write each example's id and metadata (source id, strategy, phrasing).")
    boolean withMetadata;

    @Mixin
    DataDirOption data = new DataDirOption();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    static final class StrategyConverter implements CommandLine.ITypeConverter<StructureAttack.Strategy> {
        @Override
        public StructureAttack.Strategy convert(String value) {
            try {
                return StructureAttack.Strategy.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    @Override
    public Integer call() {
        List<TaskExample> examples = input.task != null
                ? SharedDatasets.task(data.resolve(), input.task)
                : readTasks(input.in);
        StructureAttack attack = StructureAttack.of(strategy, seed);
        try (ChatJsonlWriter w = ChatJsonlWriter.builder().includeId(withMetadata).includeMetadata(withMetadata).open(out);
             DataProgress bar = DataProgress.start("attack", examples.size())) {
            for (TaskExample ex : examples) {
                w.write(attack.apply(ex));
                bar.step();
            }
        }
        spec.commandLine().getOut().printf("%s: %d examples -> %s%n", strategy.cliName(), examples.size(), out);
        return 0;
    }

    /** Reads a task file; a bad record fails naming file, line and field. */
    static List<TaskExample> readTasks(Path file) {
        String prefix = String.valueOf(file.getFileName());
        if (startsWithArray(file)) {
            return JsonArrayReader.read(file, rec -> task(rec.asObject(), prefix + "#" + rec.path()));
        }
        return JsonlReader.read(file, rec -> task(rec, prefix + "#" + rec.line()));
    }

    private static TaskExample task(JsonRecord rec, String defaultId) {
        String id = rec.optText("id").orElse(defaultId);
        String text = rec.text("input");
        String answer = rec.text("answer");
        List<Choice> choices = new ArrayList<>();
        if (rec.has("choices")) {
            List<JsonRecord> cs = rec.array("choices");
            for (int i = 0; i < cs.size(); i++) {
                JsonRecord c = cs.get(i);
                if (c.node().isTextual()) {
                    choices.add(new Choice(String.valueOf((char) ('A' + i)), c.asText()));
                } else {
                    c.asObject();
                    choices.add(new Choice(c.text("label"), c.optText("text").orElse("")));
                }
            }
            if (!choices.isEmpty() && choices.stream().noneMatch(c -> c.label().equals(answer))) {
                throw rec.fail("answer", "one of the choice labels " + choices.stream().map(Choice::label).toList(),
                        JsonRecord.quote(answer));
            }
        }
        Optional<String> system = rec.optText("system").filter(s -> !s.isEmpty());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("source", rec.file());
        return new TaskExample(id, system, text, choices, answer, meta);
    }

    private static boolean startsWithArray(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            int c;
            do {
                c = in.read();
            } while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF);
            return c == '[';
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
