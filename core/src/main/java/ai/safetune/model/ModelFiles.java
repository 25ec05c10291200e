package ai.safetune.model;

import ai.safetune.model.gguf.GgufFile;
import ai.safetune.model.gguf.GgufModel;
import ai.safetune.model.hf.HfModelDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * One entry point for model files: a {@code .gguf} file or a Hugging Face model directory.
 * Gives the config, the weights (HF names and layout, memory-mapped, quantized ones kept quantized) and the
 * tokenizer/chat-template source. Closing it releases the weights.
 * <pre>
 * try (ModelFiles m = ModelFiles.open(Path.of("model.gguf"))) {
 *     ModelConfig c = m.config();
 *     Weight q = m.weights().get("model.layers.0.self_attn.q_proj.weight");
 * }
 * </pre>
 */
public final class ModelFiles implements AutoCloseable {
    /** The kind of source a model came from. */
    public enum Format { GGUF, HF_DIRECTORY }

    private final Path path;
    private final Format format;
    private final ModelConfig config;
    private final ModelWeights weights;
    private final TokenizerSource tokenizerSource;

    private ModelFiles(Path path, Format format, ModelConfig config, ModelWeights weights, TokenizerSource tokenizerSource) {
        this.path = path;
        this.format = format;
        this.config = config;
        this.weights = weights;
        this.tokenizerSource = tokenizerSource;
    }

    /**
     * Opens a {@code .gguf} file (recognized by its magic bytes, whatever the extension) or an HF model directory.
     *
     * @throws ModelFileException if the path is neither, or the files are malformed or unsupported
     */
    public static ModelFiles open(Path path) {
        Objects.requireNonNull(path, "path");
        if (Files.isDirectory(path)) {
            HfModelDirectory d = HfModelDirectory.open(path);
            return new ModelFiles(path, Format.HF_DIRECTORY, d.config(), d.weights(), new TokenizerSource.HfFiles(path,
                    d.tokenizerJson(), d.tokenizerConfigJson(), d.chatTemplateJinja()));
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelFileException(path, "no such model file or directory (expected a .gguf file or a Hugging Face "
                    + "model directory with config.json)");
        }
        GgufModel g = GgufModel.open(path);
        GgufFile f = g.file();
        return new ModelFiles(path, Format.GGUF, g.config(), g.weights(), new TokenizerSource.Gguf(path, f.metadata()));
    }

    public Path path() {
        return path;
    }

    public Format format() {
        return format;
    }

    public ModelConfig config() {
        return config;
    }

    /** Weights by HF name; valid until {@link #close()}. */
    public ModelWeights weights() {
        return weights;
    }

    /** What the tokenizer and chat template are built from. */
    public TokenizerSource tokenizerSource() {
        return tokenizerSource;
    }

    @Override
    public void close() {
        weights.close();
    }

    @Override
    public String toString() {
        return format + " " + path + " " + config;
    }
}
