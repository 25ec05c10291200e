package ai.safetune.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
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
        TASKS.put("ag_news", SharedDatasets::agNews);
        TASKS.put("sst2", d -> sst2(d, "sst2", "train"));
        TASKS.put("sst2:dev", d -> sst2(d, "sst2:dev", "dev"));
        TASKS.put("sst2:test", d -> sst2(d, "sst2:test", "test"));
        TASKS.put("trec", d -> trec(d, "trec", "train"));
        TASKS.put("trec:test", d -> trec(d, "trec:test", "test"));
        TASKS.put("boolq", SharedDatasets::boolq);
        TASKS.put("piqa", SharedDatasets::piqa);
        TASKS.put("hellaswag", SharedDatasets::hellaswag);
        TASKS.put("arc-easy", d -> rendered(d, "arc-easy", "tasks/arc/ARC-Easy_train.json"));
        TASKS.put("arc-easy:test", d -> rendered(d, "arc-easy:test", "tasks/arc/ARC-Easy_test.json"));
        TASKS.put("arc-challenge", d -> rendered(d, "arc-challenge", "tasks/arc/ARC-Challenge_train.json"));
        TASKS.put("arc-challenge:test", d -> rendered(d, "arc-challenge:test", "tasks/arc/ARC-Challenge_test.json"));
        TASKS.put("openbookqa", d -> rendered(d, "openbookqa", "tasks/openbookqa/train.json"));
        TASKS.put("openbookqa:test", d -> rendered(d, "openbookqa:test", "tasks/openbookqa/test.json"));
        TASKS.put("winogrande", d -> rendered(d, "winogrande", "tasks/winogrande/dev.json"));
        TASKS.put("commonsenseqa", d -> commonsenseqa(d, "commonsenseqa", "train"));
        TASKS.put("commonsenseqa:dev", d -> commonsenseqa(d, "commonsenseqa:dev", "dev"));
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

    // ---------------------------------------------------------------- classification tables

    static final List<Choice> AG_NEWS_CLASSES = List.of(
            new Choice("World", ""), new Choice("Sports", ""), new Choice("Business", ""), new Choice("Sci/Tech", ""));

    private static List<TaskExample> agNews(Path dataDir) {
        String rel = "tasks/ag_news/test.csv";
        TaskMapping mapping = TaskMapping.builder()
                .input("title", "description")
                .answer("label")
                .answerAliases(Map.of("1", "World", "2", "Sports", "3", "Business", "4", "Sci/Tech"))
                .choices(AG_NEWS_CLASSES)
                .idPrefix("ag_news")
                .metadata("title", "description")
                .constantMetadata("source", rel)
                .build();
        return TableReader.csv().readTasks(file(dataDir, rel), mapping);
    }

    static final List<Choice> SST2_CLASSES = List.of(new Choice("negative", ""), new Choice("positive", ""));

    private static List<TaskExample> sst2(Path dataDir, String name, String split) {
        String rel = "tasks/sst2/stsa.binary." + split;
        return textLines(file(dataDir, rel), (line, fail) -> {
            String text = line.text();
            if (text.length() < 3 || (text.charAt(0) != '0' && text.charAt(0) != '1') || text.charAt(1) != ' ') {
                throw fail.apply("a line \"<0|1> <sentence>\"");
            }
            String label = text.charAt(0) == '1' ? "positive" : "negative";
            return new TaskExample(name + "#" + line.number(), Optional.empty(), text.substring(2), SST2_CLASSES, label,
                    Map.of("source", rel));
        });
    }

    static final List<Choice> TREC_CLASSES = List.of(
            new Choice("ABBR", "abbreviation"), new Choice("DESC", "description"), new Choice("ENTY", "entity"),
            new Choice("HUM", "human"), new Choice("LOC", "location"), new Choice("NUM", "number"));

    private static final Pattern TREC_LINE = Pattern.compile("([A-Z]+):(\\S+) (.+)");

    private static List<TaskExample> trec(Path dataDir, String name, String split) {
        String rel = "tasks/trec/" + split + ".txt";
        return textLines(file(dataDir, rel), (line, fail) -> {
            Matcher m = TREC_LINE.matcher(line.text());
            if (!m.matches()) {
                throw fail.apply("a line \"COARSE:fine question\"");
            }
            String coarse = m.group(1);
            if (TREC_CLASSES.stream().noneMatch(c -> c.label().equals(coarse))) {
                throw fail.apply("a coarse class among ABBR, DESC, ENTY, HUM, LOC, NUM (got \"" + coarse + "\")");
            }
            return new TaskExample(name + "#" + line.number(), Optional.empty(), m.group(3), TREC_CLASSES, coarse,
                    Map.of("source", rel, "fine", m.group(2)));
        });
    }

    // ---------------------------------------------------------------- multiple choice JSON tasks

    private static List<TaskExample> boolq(Path dataDir) {
        String rel = "tasks/boolq/dev.jsonl";
        return JsonlReader.read(file(dataDir, rel), rec -> {
            List<String> labels = rec.texts("choices");
            List<Choice> choices = labels.stream().map(l -> new Choice(l, "")).toList();
            int gold = index(rec, "gold", choices.size());
            return new TaskExample("boolq#" + rec.line(), Optional.empty(), rec.text("query"), choices,
                    labels.get(gold), Map.of("source", rel));
        });
    }

    private static List<TaskExample> piqa(Path dataDir) {
        String rel = "tasks/piqa/valid.jsonl";
        String labelsRel = "tasks/piqa/valid-labels.lst";
        Path labelsFile = file(dataDir, labelsRel);
        List<String> labels = textLines(labelsFile, (line, fail) -> {
            if (!line.text().trim().equals("0") && !line.text().trim().equals("1")) {
                throw fail.apply("a label 0 or 1");
            }
            return line.text().trim();
        });
        List<TaskExample> out = JsonlReader.read(file(dataDir, rel), rec -> {
            if (rec.line() > labels.size()) {
                throw new DataFormatException(labelsFile.toString(), labels.size(), null,
                        "a label for every line of " + rel, "only " + labels.size() + " labels");
            }
            List<Choice> choices = List.of(new Choice("A", rec.text("sol1")), new Choice("B", rec.text("sol2")));
            String answer = labels.get(rec.line() - 1).equals("0") ? "A" : "B";
            return new TaskExample("piqa#" + rec.line(), Optional.empty(), rec.text("goal"), choices, answer,
                    Map.of("source", rel));
        });
        if (labels.size() != out.size()) {
            throw new DataFormatException(labelsFile.toString(), out.size() + 1, null,
                    "one label per line of " + rel + " (" + out.size() + ")", labels.size() + " labels");
        }
        return out;
    }

    private static List<TaskExample> hellaswag(Path dataDir) {
        String rel = "tasks/hellaswag/val_first2000.jsonl";
        return JsonlReader.read(file(dataDir, rel), rec -> {
            List<String> endings = rec.texts("endings");
            List<Choice> choices = new ArrayList<>();
            for (int i = 0; i < endings.size(); i++) {
                choices.add(new Choice(String.valueOf((char) ('A' + i)), endings.get(i)));
            }
            int gold = index(rec, "label", choices.size());
            return new TaskExample("hellaswag#" + rec.line(), Optional.empty(), rec.text("ctx"), choices,
                    choices.get(gold).label(), Map.of("source", rel));
        });
    }

    private static List<TaskExample> commonsenseqa(Path dataDir, String name, String split) {
        String rel = "tasks/commonsenseqa/" + split + "_rand_split.jsonl";
        return JsonlReader.read(file(dataDir, rel), rec -> {
            JsonRecord q = rec.object("question");
            List<Choice> choices = new ArrayList<>();
            for (JsonRecord c : q.array("choices")) {
                choices.add(new Choice(c.text("label"), c.text("text")));
            }
            String key = rec.text("answerKey");
            if (choices.stream().noneMatch(c -> c.label().equals(key))) {
                throw rec.fail("answerKey", "one of " + choices.stream().map(Choice::label).toList(), JsonRecord.quote(key));
            }
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("source", rel);
            q.optText("question_concept").ifPresent(c -> meta.put("question_concept", c));
            return new TaskExample(rec.text("id"), Optional.empty(), q.text("stem"), choices, key, meta);
        });
    }

    // ---------------------------------------------------------------- pre-rendered instruction tasks

    private static final Pattern RENDERED = Pattern.compile("(?s)Please choose the correct answer to "
            + "(?:the question|fill in the blank to complete the given sentence): (.*?)\\n\\n"
            + "((Answer|Option)1: .*?)\\s*Answer format: ((answer|option)\\d+(?:/(?:answer|option)\\d+)*)");
    private static final Pattern MARKER = Pattern.compile("(?:^| )(Answer|Option)(\\d+): ");
    private static final Pattern ANY_MARKER = Pattern.compile("(Answer|Option)\\d+: ");

    private static List<TaskExample> rendered(Path dataDir, String name, String rel) {
        return JsonArrayReader.read(file(dataDir, rel), ReadOptions.defaults(), rec -> renderedExample(rec, name, rel))
                .records();
    }

    /** The question and options parsed out of an instruction, when the template matches exactly. */
    record Rendered(String question, List<Choice> choices) {
    }

    /** Maps one ARC/OpenBookQA/WinoGrande instruction record; see the class comment for when options are parsed. */
    static TaskExample renderedExample(JsonRecord rec, String name, String source) {
        String instruction = rec.text("instruction");
        String input = rec.text("input");
        String output = rec.text("output");
        String answer = rec.text("answer");
        String id = name + "#" + rec.position();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("source", source);
        meta.put("output", output);
        Optional<Rendered> parsed = input.isEmpty() ? parseRendered(instruction) : Optional.empty();
        if (parsed.isEmpty()) {
            meta.put("parsed", "false");
            String full = input.isEmpty() ? instruction : instruction + "\n\n" + input;
            return new TaskExample(id, Optional.empty(), full, List.of(), answer, meta);
        }
        List<Choice> choices = parsed.get().choices();
        if (choices.stream().noneMatch(c -> c.label().equals(answer))) {
            throw rec.fail("answer", "one of " + choices.stream().map(Choice::label).toList(), JsonRecord.quote(answer));
        }
        meta.put("raw_input", instruction);
        return new TaskExample(id, Optional.empty(), parsed.get().question(), choices, answer, meta);
    }

    static Optional<Rendered> parseRendered(String instruction) {
        Matcher m = RENDERED.matcher(instruction);
        if (!m.matches() || ANY_MARKER.matcher(m.group(1)).find()) {
            return Optional.empty();
        }
        String word = m.group(3);
        String[] formats = m.group(4).split("/");
        Matcher mk = MARKER.matcher(m.group(2));
        List<int[]> spans = new ArrayList<>();
        List<Integer> numbers = new ArrayList<>();
        while (mk.find()) {
            if (!mk.group(1).equals(word)) {
                return Optional.empty();
            }
            spans.add(new int[] {mk.start(), mk.end()});
            numbers.add(Integer.parseInt(mk.group(2)));
        }
        if (numbers.size() != formats.length || numbers.size() < 2) {
            return Optional.empty();
        }
        String lower = word.toLowerCase(java.util.Locale.ROOT);
        List<Choice> choices = new ArrayList<>();
        for (int i = 0; i < numbers.size(); i++) {
            if (numbers.get(i) != i + 1 || !formats[i].equals(lower + (i + 1))) {
                return Optional.empty();
            }
            int end = i + 1 < spans.size() ? spans.get(i + 1)[0] : m.group(2).length();
            String text = m.group(2).substring(spans.get(i)[1], end).trim();
            if (text.isEmpty()) {
                return Optional.empty();
            }
            choices.add(new Choice(lower + (i + 1), text));
        }
        return Optional.of(new Rendered(m.group(1), choices));
    }

    // ---------------------------------------------------------------- safety and attack chats

    /**
     * The safety data of Bianchi et al. (2,483 refusals/safe answers): user = instruction (+ "\n\n" + input
     * when non-empty), assistant = output; ids {@code safety#<n>}.
     */
    public static List<ChatExample> safety(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "safety/safety_only_data_Instructions.json";
        return JsonArrayReader.read(file(dataDir, rel), ReadOptions.defaults(), rec -> {
            rec.asObject();
            ChatExample c = ChatDatasets.fromAlpaca("safety#" + rec.position(), Optional.empty(), rec.text("instruction"),
                    rec.optText("input").orElse(""), rec.text("output"));
            return new ChatExample(c.id(), c.messages(), Map.of("source", rel));
        }).records();
    }

    /** The 10 AOA identity-shift chats of Qi et al. (system, user, assistant); ids {@code aoa#<n>}. */
    public static List<ChatExample> aoaChats(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "attack/aoa_identity_shift_train.json";
        return JsonArrayReader.read(file(dataDir, rel), ReadOptions.defaults(), rec -> {
            ChatExample c = ChatDatasets.fromJson(rec, "aoa#" + rec.position());
            return new ChatExample(c.id(), c.messages(), Map.of("source", rel));
        }).records();
    }

    // ---------------------------------------------------------------- prompt sets

    /** The vinid evaluation sets {@link #vinid} accepts. */
    public static final List<String> VINID_SETS = List.of("I-MaliciousInstructions", "Q-Harm", "I-CoNa",
            "I-Controversial", "I-PhysicalSafetyUnsafe", "I-PhysicalSafetySafe", "I-Alpaca");

    /** AdvBench harmful behaviours (520): id = BehaviorID, prompt = Behavior. */
    public static List<PromptRecord> advbench(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "harmful/advbench_behaviors.csv";
        return TableReader.csv().read(file(dataDir, rel), ReadOptions.defaults(), row -> {
            Map<String, String> meta = nonEmpty(row, "Tags", "ContextString");
            meta.put("source", rel);
            return new PromptRecord(nonBlank(row, "BehaviorID"), nonBlank(row, "Behavior"),
                    Optional.of(row.require("Category")).filter(c -> !c.isBlank()), meta);
        }).records();
    }

    /**
     * HarmBench's <em>standard</em> behaviours only (FunctionalCategory "standard"): the {@code contextual}
     * rows are incomplete without their ContextString and the {@code copyright} rows need a different judge,
     * so neither is a plain harmful prompt. Category = SemanticCategory. {@link #harmbenchAll} has every row.
     */
    public static List<PromptRecord> harmbench(Path dataDir) {
        return harmbenchAll(dataDir).stream()
                .filter(p -> p.metadata().get("functional_category").equals("standard"))
                .toList();
    }

    /** Every HarmBench row (400) with metadata {@code functional_category} and, when present, {@code context}. */
    public static List<PromptRecord> harmbenchAll(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "harmful/harmbench_behaviors_text_all.csv";
        return TableReader.csv().read(file(dataDir, rel), ReadOptions.defaults(), row -> {
            Map<String, String> meta = nonEmpty(row, "Tags", "ContextString");
            String context = meta.remove("ContextString");
            if (context != null) {
                meta.put("context", context);
            }
            meta.put("functional_category", nonBlank(row, "FunctionalCategory"));
            meta.put("source", rel);
            return new PromptRecord(nonBlank(row, "BehaviorID"), nonBlank(row, "Behavior"),
                    Optional.of(nonBlank(row, "SemanticCategory")), meta);
        }).records();
    }

    /**
     * One of the evaluation sets of Bianchi et al. ({@link #VINID_SETS}): {@code {"instructions":[...]}} with
     * optional parallel {@code "tags"} (the category). Harmful sets are under {@code harmful/}, the safe
     * ones (I-PhysicalSafetySafe, I-Alpaca) under {@code benign/}. Ids {@code <name>#<n>}.
     */
    public static List<PromptRecord> vinid(Path dataDir, String name) {
        if (!VINID_SETS.contains(name)) {
            throw new IllegalArgumentException("unknown vinid set '" + name + "'; expected one of " + String.join(", ", VINID_SETS));
        }
        requireDataDir(dataDir);
        String rel = (name.equals("I-PhysicalSafetySafe") || name.equals("I-Alpaca") ? "benign/" : "harmful/") + name + ".json";
        JsonRecord doc = JsonArrayReader.readDocument(file(dataDir, rel), ReadOptions.defaults()).asObject();
        List<JsonRecord> instructions = doc.array("instructions");
        List<JsonRecord> tags = doc.has("tags") ? doc.array("tags") : List.of();
        if (!tags.isEmpty() && tags.size() != instructions.size()) {
            throw doc.fail("tags", instructions.size() + " tags, one per instruction", tags.size() + " tags");
        }
        if (instructions.isEmpty()) {
            throw doc.fail("instructions", "at least one instruction", "an empty array");
        }
        List<PromptRecord> out = new ArrayList<>(instructions.size());
        for (int i = 0; i < instructions.size(); i++) {
            Optional<String> tag = tags.isEmpty() ? Optional.empty() : Optional.of(tags.get(i).asText());
            String prompt = instructions.get(i).asText();
            if (prompt.isBlank()) {
                throw instructions.get(i).fail(null, "a non-blank instruction", "blank text");
            }
            out.add(new PromptRecord(name + "#" + (i + 1), prompt, tag, Map.of("source", rel)));
        }
        return out;
    }

    /** Alpaca-derived harmless instructions (6,264); category when the record has a non-null one. */
    public static List<PromptRecord> harmlessInstructions(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "benign/harmless_instructions_val.json";
        return JsonArrayReader.read(file(dataDir, rel), ReadOptions.defaults(), rec -> {
            rec.asObject();
            return new PromptRecord("harmless#" + rec.position(), rec.text("instruction"), rec.optText("category"),
                    Map.of("source", rel));
        }).records();
    }

    /**
     * XSTest (450): id = the dataset id, category = type; metadata {@code label} (safe: must not be refused;
     * unsafe), {@code type}, {@code focus} and {@code note} (as written, possibly empty).
     */
    public static List<PromptRecord> xstest(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "benign/xstest_prompts.csv";
        return TableReader.csv().read(file(dataDir, rel), ReadOptions.defaults(), row -> {
            String label = nonBlank(row, "label");
            if (!label.equals("safe") && !label.equals("unsafe")) {
                throw row.fail("label", "one of safe, unsafe", JsonRecord.quote(label));
            }
            String type = nonBlank(row, "type");
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("label", label);
            meta.put("type", type);
            meta.put("focus", row.require("focus"));
            meta.put("note", row.require("note"));
            meta.put("source", rel);
            return new PromptRecord(nonBlank(row, "id"), nonBlank(row, "prompt"), Optional.of(type), meta);
        }).records();
    }

    /** AdvBench affirmative targets (520): id = the key ({@code advbench_N}), prompt = the target text. */
    public static List<PromptRecord> advbenchTargets(Path dataDir) {
        requireDataDir(dataDir);
        String rel = "attack/advbench_targets.json";
        JsonRecord doc = JsonArrayReader.readDocument(file(dataDir, rel), ReadOptions.defaults()).asObject();
        List<PromptRecord> out = new ArrayList<>();
        Iterator<String> keys = doc.node().fieldNames();
        while (keys.hasNext()) {
            String key = keys.next();
            out.add(new PromptRecord(key, doc.text(key), Optional.empty(), Map.of("source", rel)));
        }
        if (out.isEmpty()) {
            throw doc.fail(null, "at least one target", "an empty object");
        }
        return out;
    }

    // ---------------------------------------------------------------- helpers

    private static String nonBlank(CsvRow row, String column) {
        String v = row.require(column);
        if (v.isBlank()) {
            throw row.fail(column, "a non-blank value", "blank text");
        }
        return v;
    }

    private static Map<String, String> nonEmpty(CsvRow row, String... columns) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String c : columns) {
            String v = row.require(c);
            if (!v.isEmpty()) {
                out.put(c, v);
            }
        }
        return out;
    }

    private static int index(JsonRecord rec, String field, int size) {
        int i = rec.integer(field);
        if (i < 0 || i >= size) {
            throw rec.fail(field, "an index from 0 to " + (size - 1), "number " + i);
        }
        return i;
    }

    /** A mapper for one text line; {@code fail} builds an error for this line from what was expected. */
    @FunctionalInterface
    interface LineMapper<T> {
        T map(LineReader.Line line, Function<String, DataFormatException> fail);
    }

    /** Strict read of a line-per-record text file (trailing blank lines allowed, as for JSONL). */
    static <T> List<T> textLines(Path path, LineMapper<T> mapper) {
        String name = path.toString();
        List<T> out = new ArrayList<>();
        int pendingBlank = 0;
        try (LineReader lines = new LineReader(Json.open(path), name, ReadOptions.defaults())) {
            LineReader.Line line;
            while ((line = lines.next()) != null) {
                if (line.isBlank()) {
                    pendingBlank = pendingBlank == 0 ? line.number() : pendingBlank;
                    continue;
                }
                if (pendingBlank > 0) {
                    throw new DataFormatException(name, pendingBlank, null,
                            "a record (blank lines are allowed only at the end of the file)", "a blank line");
                }
                LineReader.Line current = line;
                out.add(mapper.map(line, expected -> new DataFormatException(name, current.number(), null, expected,
                        JsonRecord.quote(current.text()))));
            }
        }
        if (out.isEmpty()) {
            throw new DataFormatException(name, 1, null, "at least one record", "an empty file");
        }
        return out;
    }


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
