package ai.safetune.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loaders for the datasets under {@code shared/data} (see its README for sources, formats and counts).
 *
 * <p>Every loader reads strictly: a malformed row throws a {@link DataFormatException} naming file, line
 * and field. Ids are {@code <task name>#<n>} with n the 1-based record position in the file, unless the
 * dataset has its own ids. Metadata always carries {@code source} (the path under {@code data/}).
 *
 * <p>Mapping choices, per task:
 * <ul>
 * <li>GSM8K: input = question; answer = the number after {@code ####} with thousands separators removed
 *     ("14,000" → "14000"); metadata {@code rationale} = the full original answer text.</li>
 * <li>BBH: when {@code input} ends with an {@code Options:} block of {@code (A) text} lines, the options
 *     become choices labelled A, B, ..., {@code input} keeps the text before the block, metadata
 *     {@code raw_input} keeps the full original input and the target {@code (B)} becomes answer {@code B}.
 *     Options written as {@code - Yes} bullets (causal_judgement, formal_fallacies, navigate) and tasks
 *     without options stay free-form with the full input and the target as answer. Three upstream items
 *     (movie_recommendation #164, ruin_names #100 and #145) have a target that is an option <em>text</em>
 *     split across options by commas, not a label; they are kept free-form (full input, target as given)
 *     with metadata {@code note} saying so.</li>
 * <li>ARC, OpenBookQA, WinoGrande come rendered in an instruction template
 *     ({@code "Please choose the correct answer to the question: Q\n\nAnswer1: a Answer2: b ...\n\nAnswer format:
 *     answer1/answer2/..."}). The options are parsed out when the template matches exactly: the option
 *     markers are {@code Answer1..AnswerN} (WinoGrande: {@code Option1..OptionN}) in order, N agrees with the
 *     "Answer format" line, and the question holds no marker. Choices are then labelled as the dataset labels
 *     its answers ({@code answer1}.., {@code option1}..), input = the question, metadata {@code raw_input} =
 *     the instruction. An instruction that does not match is kept free-form (input = the instruction,
 *     answer as given, metadata {@code parsed=false}). All rows of the shared files match.</li>
 * <li>AG News: input = title + "\n" + description, choices World, Sports, Business, Sci/Tech (label = class
 *     name, empty text); SST-2: choices negative/positive; TREC: the coarse class (ABBR, DESC, ENTY, HUM,
 *     LOC, NUM, with a readable text) with the fine class in metadata {@code fine}; BoolQ: input = the
 *     query ("Passage: ...\nQuestion: ..."), choices no/yes; PIQA and HellaSwag: choices labelled A, B, ...
 *     in dataset order; CommonsenseQA: the dataset's labels and ids.</li>
 * </ul>
 */
public final class SharedDatasets {
    private static final Map<String, Function<Path, List<TaskExample>>> TASKS = new LinkedHashMap<>();

    static final List<String> BBH_TASKS = List.of(
            "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
            "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
            "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
            "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
            "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
            "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
            "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies",
            "word_sorting");

    static {
        TASKS.put("gsm8k", d -> gsm8k(d, "gsm8k", "train"));
        TASKS.put("gsm8k:test", d -> gsm8k(d, "gsm8k:test", "test"));
        for (String t : BBH_TASKS) {
            TASKS.put("bbh/" + t, d -> bbh(d, t));
        }
    }

    private SharedDatasets() {
    }

    /** Every task name {@link #task} accepts, in a stable order. */
    public static List<String> taskNames() {
        return List.copyOf(TASKS.keySet());
    }

    /**
     * Loads one task.
     *
     * @param dataDir the {@code shared/data} folder
     * @param name    one of {@link #taskNames()}
     * @throws IllegalArgumentException for an unknown name (the message lists the valid ones)
     * @throws DataFormatException      for a malformed file
     */
    public static List<TaskExample> task(Path dataDir, String name) {
        Function<Path, List<TaskExample>> loader = TASKS.get(name);
        if (loader == null) {
            throw new IllegalArgumentException("unknown task '" + name + "'; expected one of " + String.join(", ", TASKS.keySet()));
        }
        requireDataDir(dataDir);
        return Collections.unmodifiableList(loader.apply(dataDir));
    }

    // ---------------------------------------------------------------- GSM8K

    private static final Pattern GSM8K_NUMBER = Pattern.compile("-?[0-9][0-9,]*(\\.[0-9]+)?");

    private static List<TaskExample> gsm8k(Path dataDir, String name, String split) {
        String rel = "tasks/gsm8k/" + split + ".jsonl";
        return JsonlReader.read(file(dataDir, rel), rec -> {
            String question = rec.text("question");
            String full = rec.text("answer");
            int mark = full.lastIndexOf("####");
            String number = mark < 0 ? "" : full.substring(mark + 4).trim();
            if (mark < 0 || !GSM8K_NUMBER.matcher(number).matches()) {
                throw rec.fail("answer", "a solution ending in \"#### <number>\"",
                        JsonRecord.quote(mark < 0 ? full : full.substring(mark)));
            }
            return new TaskExample(name + "#" + rec.line(), Optional.empty(), question, List.of(),
                    number.replace(",", ""), Map.of("source", rel, "rationale", full));
        });
    }

    // ---------------------------------------------------------------- BBH

    private static final Pattern BBH_OPTIONS = Pattern.compile("\\nOptions:\\n((?:\\([A-Z]\\) [^\\n]*(?:\\n|$))+)$");
    private static final Pattern BBH_OPTION = Pattern.compile("\\(([A-Z])\\) ([^\\n]*)");
    private static final Pattern BBH_TARGET = Pattern.compile("\\(([A-Z])\\)");

    private static List<TaskExample> bbh(Path dataDir, String task) {
        String rel = "tasks/bbh/" + task + ".json";
        String name = "bbh/" + task;
        JsonRecord doc = JsonArrayReader.readDocument(file(dataDir, rel), ReadOptions.defaults());
        List<JsonRecord> examples = doc.asObject().array("examples");
        if (examples.isEmpty()) {
            throw doc.fail("examples", "at least one example", "an empty array");
        }
        List<TaskExample> out = new ArrayList<>(examples.size());
        for (int i = 0; i < examples.size(); i++) {
            out.add(bbhExample(examples.get(i).asObject(), name + "#" + (i + 1), rel));
        }
        return out;
    }

    /** Maps one BBH {@code {input, target}} record; see the class comment for the rules. */
    static TaskExample bbhExample(JsonRecord rec, String id, String source) {
        String input = rec.text("input");
        String target = rec.text("target");
        Matcher block = BBH_OPTIONS.matcher(input);
        if (!block.find()) {
            return new TaskExample(id, Optional.empty(), input, List.of(), target, Map.of("source", source));
        }
        List<Choice> choices = new ArrayList<>();
        for (String line : block.group(1).split("\n")) {
            Matcher m = BBH_OPTION.matcher(line);
            if (!m.matches()) {
                throw rec.fail("input", "option lines \"(A) text\"", JsonRecord.quote(line));
            }
            String expectedLabel = String.valueOf((char) ('A' + choices.size()));
            if (!m.group(1).equals(expectedLabel)) {
                throw rec.fail("input", "option (" + expectedLabel + ") next", JsonRecord.quote(line));
            }
            choices.add(new Choice(m.group(1), m.group(2)));
        }
        Matcher t = BBH_TARGET.matcher(target);
        if (!t.matches()) {
            return new TaskExample(id, Optional.empty(), input, List.of(), target, Map.of("source", source,
                    "note", "target is not an option label (upstream quirk); kept free-form"));
        }
        String label = t.group(1);
        if (choices.stream().noneMatch(c -> c.label().equals(label))) {
            throw rec.fail("target", "one of " + labels(choices), JsonRecord.quote(target));
        }
        String question = input.substring(0, block.start());
        return new TaskExample(id, Optional.empty(), question, choices, label,
                Map.of("source", source, "raw_input", input));
    }

    // ---------------------------------------------------------------- helpers

    static String labels(List<Choice> choices) {
        return choices.stream().map(c -> "(" + c.label() + ")").reduce((a, b) -> a + ", " + b).orElse("");
    }

    private static void requireDataDir(Path dataDir) {
        if (dataDir == null || !Files.isDirectory(dataDir)) {
            throw new IllegalArgumentException("data folder " + dataDir + " does not exist; pass the shared/data folder");
        }
    }

    private static Path file(Path dataDir, String rel) {
        Path p = dataDir.resolve(rel);
        if (!Files.isRegularFile(p)) {
            throw new IllegalArgumentException("missing dataset file " + p + " (is " + dataDir + " the shared/data folder?)");
        }
        return p;
    }
}
