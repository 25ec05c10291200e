package ai.safetune.audit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The shared task files read as they are, for the audit's tests: each row keeps the prompt as the
 * file writes it (options included), the file's own answer text, and a short gold answer. Kept
 * independent of the library's loaders on purpose: the audit is measured on the raw files.
 */
final class RawTasks {
    private RawTasks() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One task row: prompt and answer exactly as the file has them, plus the short gold. */
    record Row(String id, String prompt, String rawAnswer, String gold) {}

    /** A development subset: the audit's tuning loop runs on these. */
    static final List<String> NAMES = List.of("gsm8k", "arc_easy", "arc_challenge", "openbookqa", "winogrande",
            "boolq", "sst2", "trec", "commonsenseqa", "bbh_date_understanding", "bbh_causal_judgement",
            "bbh_word_sorting", "bbh_object_counting", "bbh_logical_deduction_five_objects", "bbh_navigate",
            "bbh_dyck_languages", "bbh_web_of_lies");

    /** Every task file in shared/data/tasks (all 27 BBH tasks included). */
    static List<String> allNames(Path data) {
        List<String> names = new ArrayList<>(List.of("gsm8k", "ag_news", "sst2", "trec", "boolq", "piqa", "hellaswag",
                "arc_easy", "arc_challenge", "openbookqa", "winogrande", "commonsenseqa"));
        try (var files = Files.list(data.resolve("tasks/bbh"))) {
            files.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".json")).sorted()
                    .forEach(f -> names.add("bbh_" + f.substring(0, f.length() - 5)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return names;
    }

    private static final Map<String, List<Row>> CACHE = new java.util.concurrent.ConcurrentHashMap<>();

    static List<Row> load(Path data, String name) {
        return CACHE.computeIfAbsent(data.toAbsolutePath() + "|" + name, k -> List.copyOf(read(data, name)));
    }

    private static List<Row> read(Path data, String name) {
        try {
            Path t = data.resolve("tasks");
            List<Row> out = new ArrayList<>();
            switch (name) {
                case "gsm8k": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("gsm8k/train.jsonl"))) {
                        JsonNode n = JSON.readTree(line);
                        String ans = n.get("answer").asText();
                        out.add(new Row(name + "-" + i++, n.get("question").asText(), ans,
                                ans.substring(ans.lastIndexOf("####") + 4).strip()));
                    }
                    return out;
                }
                case "arc_easy": case "arc_challenge": case "openbookqa": case "winogrande": {
                    String file = Map.of("arc_easy", "arc/ARC-Easy_train.json", "arc_challenge",
                            "arc/ARC-Challenge_train.json", "openbookqa", "openbookqa/train.json", "winogrande",
                            "winogrande/dev.json").get(name);
                    int i = 0;
                    for (JsonNode n : JSON.readTree(t.resolve(file).toFile())) {
                        out.add(new Row(name + "-" + i++, n.get("instruction").asText(), n.get("output").asText(),
                                n.get("answer").asText()));
                    }
                    return out;
                }
                case "boolq": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("boolq/dev.jsonl"))) {
                        JsonNode n = JSON.readTree(line);
                        String gold = n.get("choices").get(n.get("gold").asInt()).asText();
                        out.add(new Row(name + "-" + i++, n.get("query").asText(), gold, gold));
                    }
                    return out;
                }
                case "sst2": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("sst2/stsa.binary.train"))) {
                        String gold = line.charAt(0) == '1' ? "positive" : "negative";
                        out.add(new Row(name + "-" + i++, line.substring(2), gold, gold));
                    }
                    return out;
                }
                case "trec": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("trec/train.txt"), java.nio.charset.StandardCharsets.ISO_8859_1)) {
                        int sp = line.indexOf(' ');
                        String gold = line.substring(0, line.indexOf(':'));
                        out.add(new Row(name + "-" + i++, line.substring(sp + 1), gold, gold));
                    }
                    return out;
                }
                case "ag_news": {
                    // label,title,description with quoted fields: the CSV mapper keeps the quoting right
                    var csv = new com.fasterxml.jackson.dataformat.csv.CsvMapper();
                    var schema = com.fasterxml.jackson.dataformat.csv.CsvSchema.emptySchema().withHeader();
                    try (var it = csv.readerFor(Map.class).with(schema).<Map<String, String>>readValues(t.resolve("ag_news/test.csv").toFile())) {
                        int i = 0;
                        while (it.hasNext()) {
                            Map<String, String> r = it.next();
                            out.add(new Row(name + "-" + i++, r.get("title") + "\n" + r.get("description"),
                                    r.get("label"), r.get("label")));
                        }
                    }
                    return out;
                }
                case "piqa": {
                    List<String> labels = Files.readAllLines(t.resolve("piqa/valid-labels.lst"));
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("piqa/valid.jsonl"))) {
                        JsonNode n = JSON.readTree(line);
                        String gold = labels.get(i).strip();
                        out.add(new Row(name + "-" + i++, n.get("goal").asText() + "\n" + n.get("sol1").asText()
                                + "\n" + n.get("sol2").asText(), gold, gold));
                    }
                    return out;
                }
                case "hellaswag": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("hellaswag/val_first2000.jsonl"))) {
                        JsonNode n = JSON.readTree(line);
                        StringBuilder q = new StringBuilder(n.get("ctx").asText());
                        for (JsonNode e : n.get("endings")) {
                            q.append('\n').append(e.asText());
                        }
                        String gold = n.get("label").asText();
                        out.add(new Row(name + "-" + i++, q.toString(), gold, gold));
                    }
                    return out;
                }
                case "commonsenseqa": {
                    int i = 0;
                    for (String line : Files.readAllLines(t.resolve("commonsenseqa/train_rand_split.jsonl"))) {
                        JsonNode n = JSON.readTree(line);
                        StringBuilder q = new StringBuilder(n.get("question").get("stem").asText());
                        for (JsonNode c : n.get("question").get("choices")) {
                            q.append("\n(").append(c.get("label").asText()).append(") ").append(c.get("text").asText());
                        }
                        String gold = n.get("answerKey").asText();
                        out.add(new Row(name + "-" + i++, q.toString(), gold, gold));
                    }
                    return out;
                }
                default: {
                    if (!name.startsWith("bbh_")) {
                        throw new IllegalArgumentException("unknown task " + name);
                    }
                    int i = 0;
                    for (JsonNode n : JSON.readTree(t.resolve("bbh/" + name.substring(4) + ".json").toFile()).get("examples")) {
                        String target = n.get("target").asText();
                        out.add(new Row(name + "-" + i++, n.get("input").asText(), target, target));
                    }
                    return out;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
