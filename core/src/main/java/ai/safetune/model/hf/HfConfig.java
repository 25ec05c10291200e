package ai.safetune.model.hf;

import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFileException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Reads a Hugging Face {@code config.json} of the Llama family into a {@link ModelConfig}, with the
 * defaults of transformers' {@code LlamaConfig}. RoPE θ is read from the top-level {@code rope_theta}
 * (older files) or {@code rope_parameters.rope_theta} (newer ones). RoPE scaling variants other than
 * "default" are rejected: the forward pass does not implement them and would silently give wrong logits.
 */
public final class HfConfig {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfConfig() {
    }

    public static ModelConfig read(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(configJson.toFile());
        } catch (IOException e) {
            throw new ModelFileException(configJson, "cannot read config.json: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFileException(configJson, "config.json must be a JSON object");
        }
        return parse(root, configJson);
    }

    public static ModelConfig parse(JsonNode root, Path source) {
        String modelType = root.path("model_type").asText("");
        boolean llamaArch = false;
        for (JsonNode a : root.path("architectures")) {
            llamaArch |= a.asText().equals("LlamaForCausalLM");
        }
        if (!modelType.equals("llama") && !(modelType.isEmpty() && llamaArch)) {
            throw new ModelFileException(source, "unsupported model_type '" + modelType + "' (architectures "
                    + root.path("architectures") + "); supported: llama");
        }
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new ModelFileException(source, "unsupported hidden_act '" + act + "'; supported: silu");
        }
        for (String bias : new String[] {"attention_bias", "mlp_bias"}) {
            if (root.path(bias).asBoolean(false)) {
                throw new ModelFileException(source, bias + " = true is not supported (Llama without biases only)");
            }
        }
        int hidden = requiredInt(root, "hidden_size", source);
        int heads = requiredInt(root, "num_attention_heads", source);
        int kvHeads = optionalInt(root, "num_key_value_heads", heads, source);
        if (heads <= 0 || hidden % heads != 0 && !root.hasNonNull("head_dim")) {
            throw new ModelFileException(source, "hidden_size " + hidden + " is not divisible by num_attention_heads "
                    + heads + " and head_dim is not given");
        }
        int headDim = optionalInt(root, "head_dim", heads > 0 ? hidden / heads : 0, source);
        double theta = 10000.0;
        JsonNode rope = root.path("rope_parameters");
        if (!rope.isObject()) {
            rope = root.path("rope_scaling"); // transformers 4.x spelling of the same block
        }
        if (root.hasNonNull("rope_theta")) {
            theta = number(root, "rope_theta", source);
        } else if (rope.isObject() && rope.hasNonNull("rope_theta")) {
            theta = number(rope, "rope_theta", source);
        }
        if (rope.isObject()) {
            String type = rope.path("rope_type").asText(rope.path("type").asText("default"));
            if (!type.equals("default")) {
                throw new ModelFileException(source, "unsupported rope_type '" + type + "'; supported: default");
            }
        }
        double eps = root.hasNonNull("rms_norm_eps") ? number(root, "rms_norm_eps", source) : 1e-6;
        try {
            return new ModelConfig(
                    requiredInt(root, "vocab_size", source),
                    hidden,
                    requiredInt(root, "intermediate_size", source),
                    requiredInt(root, "num_hidden_layers", source),
                    heads,
                    kvHeads,
                    headDim,
                    theta,
                    eps,
                    optionalInt(root, "max_position_embeddings", 2048, source),
                    root.path("tie_word_embeddings").asBoolean(false));
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(source, "invalid model config: " + e.getMessage(), e);
        }
    }

    private static int requiredInt(JsonNode n, String field, Path source) {
        if (!n.hasNonNull(field)) {
            throw new ModelFileException(source, "missing required field '" + field + "'");
        }
        return optionalInt(n, field, 0, source);
    }

    private static int optionalInt(JsonNode n, String field, int dflt, Path source) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new ModelFileException(source, "field '" + field + "' must be an integer, got " + v);
        }
        return v.intValue();
    }

    private static double number(JsonNode n, String field, Path source) {
        JsonNode v = n.get(field);
        if (!v.isNumber()) {
            throw new ModelFileException(source, "field '" + field + "' must be a number, got " + v);
        }
        return v.doubleValue();
    }
}
