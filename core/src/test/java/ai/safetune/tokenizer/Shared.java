package ai.safetune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The shared read-only test material (models, reference outputs). */
final class Shared {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Shared() {
    }

    static Path dir() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    static Path tinyLlama() {
        return dir().resolve("models/tiny-llama");
    }

    static Path smolGguf() {
        return dir().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    }

    /** Every line of reference/tokenizer_cases.jsonl. */
    static List<JsonNode> tokenizerCases() {
        List<JsonNode> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(dir().resolve("reference/tokenizer_cases.jsonl"))) {
                if (!line.isBlank()) {
                    out.add(JSON.readTree(line));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }
}
