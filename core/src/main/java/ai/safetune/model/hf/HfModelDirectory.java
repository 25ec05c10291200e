package ai.safetune.model.hf;

import ai.safetune.model.LlamaLayout;
import ai.safetune.model.MapWeights;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.model.safetensors.SafetensorsTensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A Hugging Face model directory as written by {@code save_pretrained}: {@code config.json}, the weights in
 * {@code model.safetensors} (or shards listed in {@code model.safetensors.index.json}), and the tokenizer files.
 * Weights are memory-mapped in their stored dtype and keep their HF names.
 */
public final class HfModelDirectory implements AutoCloseable {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String WEIGHTS_INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final ModelConfig config;
    private final ModelWeights weights;

    private HfModelDirectory(Path dir, ModelConfig config, ModelWeights weights) {
        this.dir = dir;
        this.config = config;
        this.weights = weights;
    }

    /** @return true if {@code dir} looks like an HF model directory (has a {@code config.json}) */
    public static boolean isModelDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(CONFIG));
    }

    public static HfModelDirectory open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFileException(dir, "not a directory");
        }
        Path cfg = dir.resolve(CONFIG);
        if (!Files.isRegularFile(cfg)) {
            throw new ModelFileException(dir, "no " + CONFIG + ": not a Hugging Face model directory");
        }
        ModelConfig config = HfConfig.read(cfg);
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            for (Path p : weightFiles(dir)) {
                files.add(SafetensorsFile.open(p));
            }
            Map<String, Weight> m = new LinkedHashMap<>();
            for (SafetensorsFile f : files) {
                for (SafetensorsTensor t : f.tensors().values()) {
                    if (!t.dtype().isFloating()) {
                        continue;
                    }
                    if (m.containsKey(t.name())) {
                        throw new ModelFileException(f.path(), "tensor '" + t.name() + "' also appears in another shard");
                    }
                    m.put(t.name(), f.weight(t.name()));
                }
            }
            List<SafetensorsFile> toClose = List.copyOf(files);
            ModelWeights weights = new MapWeights(dir.toString(), m, () -> toClose.forEach(SafetensorsFile::close));
            LlamaLayout.check(dir, config, weights);
            return new HfModelDirectory(dir, config, weights);
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static List<Path> weightFiles(Path dir) {
        Path single = dir.resolve(WEIGHTS);
        if (Files.isRegularFile(single)) {
            return List.of(single);
        }
        Path index = dir.resolve(WEIGHTS_INDEX);
        if (!Files.isRegularFile(index)) {
            throw new ModelFileException(dir, "no " + WEIGHTS + " or " + WEIGHTS_INDEX
                    + " (only safetensors weights are supported)");
        }
        JsonNode map;
        try {
            map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
        } catch (IOException e) {
            throw new ModelFileException(index, "cannot read shard index: " + e.getMessage(), e);
        }
        if (!map.isObject() || map.isEmpty()) {
            throw new ModelFileException(index, "'weight_map' must be a non-empty object of tensor name → file");
        }
        TreeSet<String> shards = new TreeSet<>();
        map.fields().forEachRemaining(e -> shards.add(e.getValue().asText()));
        List<Path> out = new ArrayList<>();
        for (String s : shards) {
            Path p = dir.resolve(s).normalize();
            if (!p.startsWith(dir.normalize()) || !Files.isRegularFile(p)) {
                throw new ModelFileException(index, "shard '" + s + "' is missing or outside the model directory");
            }
            out.add(p);
        }
        return out;
    }

    public Path directory() {
        return dir;
    }

    public ModelConfig config() {
        return config;
    }

    /** Weights by HF name; closing this directory closes them. */
    public ModelWeights weights() {
        return weights;
    }

    /** {@code tokenizer.json}, if present. */
    public Optional<Path> tokenizerJson() {
        return existing("tokenizer.json");
    }

    /** {@code tokenizer_config.json} (special-token flags, maybe the chat template), if present. */
    public Optional<Path> tokenizerConfigJson() {
        return existing("tokenizer_config.json");
    }

    /** {@code chat_template.jinja} (newer transformers save the template here), if present. */
    public Optional<Path> chatTemplateJinja() {
        return existing("chat_template.jinja");
    }

    /** {@code generation_config.json}, if present. */
    public Optional<Path> generationConfigJson() {
        return existing("generation_config.json");
    }

    private Optional<Path> existing(String name) {
        Path p = dir.resolve(name);
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    @Override
    public void close() {
        weights.close();
    }
}
