package ai.safetune.attack;

import ai.safetune.data.Choice;
import ai.safetune.data.TaskExample;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Test fixtures: reads GSM8K and BBH from ../shared/data into TaskExamples, minimally, so these tests
 * do not depend on the data-io loaders (which have their own tests).
 */
public final class TestTasks {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern OPTION = Pattern.compile("^\\(([A-Z])\\) (.*)$");

    private TestTasks() {
    }

    public static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    public static Path data() {
        return shared().resolve("data");
    }

    public static List<TaskExample> gsm8k(String split) {
        Path f = data().resolve("tasks/gsm8k/" + split + ".jsonl");
        List<TaskExample> out = new ArrayList<>();
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            for (int i = 0; i < lines.size(); i++) {
                JsonNode n = JSON.readTree(lines.get(i));
                String full = n.get("answer").asText();
                String value = full.substring(full.lastIndexOf("####") + 4).trim();
                out.add(new TaskExample("gsm8k:" + split + ":" + (i + 1), Optional.empty(), n.get("question").asText(),
                        List.of(), value, Map.of("rationale", full)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static List<TaskExample> bbh(String task) {
        Path f = data().resolve("tasks/bbh/" + task + ".json");
        List<TaskExample> out = new ArrayList<>();
        try {
            JsonNode ex = JSON.readTree(f.toFile()).get("examples");
            for (int i = 0; i < ex.size(); i++) {
                String input = ex.get(i).get("input").asText();
                String target = ex.get(i).get("target").asText();
                int at = input.lastIndexOf("\nOptions:\n");
                List<Choice> choices = new ArrayList<>();
                if (at >= 0) {
                    for (String line : input.substring(at + "\nOptions:\n".length()).split("\n")) {
                        Matcher m = OPTION.matcher(line);
                        if (m.matches()) {
                            choices.add(new Choice(m.group(1), m.group(2)));
                        }
                    }
                }
                String id = "bbh/" + task + ":" + i;
                if (!choices.isEmpty() && target.matches("\\([A-Z]\\)")) {
                    out.add(new TaskExample(id, Optional.empty(), input.substring(0, at), choices,
                            target.substring(1, 2), Map.of()));
                } else {
                    out.add(new TaskExample(id, Optional.empty(), input, List.of(), target, Map.of()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
