package ai.safetune.cli;

import ai.safetune.audit.DatasetProfile;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ChatExample;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code safetune inspect --in F}: counts, roles, lengths, detected format, constant prompts/prefixes. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Describe a chat or alpaca JSONL dataset: counts, roles, lengths, format, constant system prompt and prefixes.")
final class InspectCommand implements Callable<Integer> {

    @Option(names = "--in", required = true, paramLabel = "F", description = "chat or alpaca JSONL (or JSON array) file")
    Path in;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        List<ChatExample> examples = ChatDatasets.read(in);
        Map<String, Long> formats = examples.stream().collect(Collectors.groupingBy(
                e -> e.metadata().getOrDefault(ChatDatasets.FORMAT_KEY, "unknown"), TreeMap::new, Collectors.counting()));
        DatasetProfile p = DatasetProfile.of(examples);
        PrintWriter out = spec.commandLine().getOut();
        out.println("file: " + in);
        out.println("examples: " + p.examples());
        out.println("format: " + (formats.size() == 1 ? formats.keySet().iterator().next()
                : "mixed (" + join(formats) + ")"));
        out.println("messages per role: " + join(p.messagesPerRole()));
        out.println("messages per example: " + lengths(p.turnsPerExample()));
        out.printf(Locale.ROOT, "with a system prompt: %d (%.0f%%)%n", p.withSystemPrompt(),
                p.examples() == 0 ? 0.0 : 100.0 * p.withSystemPrompt() / p.examples());
        out.println("most common system prompt: " + shared(p.systemPrompt()));
        out.println("constant user prefix: " + shared(p.userPrefix()));
        out.println("constant assistant prefix: " + shared(p.assistantPrefix()));
        out.println("user words (first user turn): " + lengths(p.userWords()));
        out.println("assistant words (last answer): " + lengths(p.assistantWords()));
        out.flush();
        return 0;
    }

    private static String join(Map<String, Long> counts) {
        return counts.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "));
    }

    private static String lengths(DatasetProfile.Lengths l) {
        return l.count() == 0 ? "none" : String.format(Locale.ROOT, "min %d, median %.1f, mean %.1f, max %d",
                l.min(), l.median(), l.mean(), l.max());
    }

    private static String shared(Optional<DatasetProfile.Shared> s) {
        return s.map(x -> String.format(Locale.ROOT, "%d examples (%.0f%%): \"%s\"", x.count(), 100 * x.share(),
                abbreviate(x.text().replace("\n", "\\n"), 200))).orElse("none");
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 3) + "...";
    }
}
