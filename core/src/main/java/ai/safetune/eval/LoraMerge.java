package ai.safetune.eval;

import ai.safetune.model.FloatWeight;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Merges a PEFT LoRA adapter into frozen weights for export: {@code W' = W + scaling · B·A} with
 * scaling {@code alpha/r} ({@code alpha/√r} with rsLoRA). Only plain LoRA on linear weights is accepted;
 * anything else in the adapter (DoRA, biases, modules_to_save, fan_in_fan_out) is refused by name.
 */
public final class LoraMerge {
    private static final String PREFIX = "base_model.model.";

    private LoraMerge() {
    }

    /** The base weights with the adapter merged; the returned view closes the base when closed. */
    public static ModelWeights merge(ModelWeights base, Path adapterDir) throws IOException {
        Path cfgFile = adapterDir.resolve("adapter_config.json");
        Path tensors = adapterDir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(cfgFile)) {
            throw new IllegalArgumentException("adapter " + adapterDir + " has no adapter_config.json");
        }
        if (!Files.isRegularFile(tensors)) {
            throw new IllegalArgumentException("adapter " + adapterDir + " has no adapter_model.safetensors");
        }
        JsonNode cfg = new ObjectMapper().readTree(cfgFile.toFile());
        String type = cfg.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw new IllegalArgumentException(cfgFile + ": peft_type " + type + " is not supported (only LORA)");
        }
        for (String flag : new String[]{"use_dora", "fan_in_fan_out", "lora_bias"}) {
            if (cfg.path(flag).asBoolean(false)) {
                throw new IllegalArgumentException(cfgFile + ": " + flag + "=true is not supported for merging");
            }
        }
        if (!cfg.path("bias").asText("none").equals("none")) {
            throw new IllegalArgumentException(cfgFile + ": bias=" + cfg.path("bias").asText() + " is not supported (only none)");
        }
        if (cfg.hasNonNull("modules_to_save") && cfg.get("modules_to_save").size() > 0) {
            throw new IllegalArgumentException(cfgFile + ": modules_to_save is not supported for merging");
        }
        if (cfg.path("rank_pattern").size() > 0 || cfg.path("alpha_pattern").size() > 0) {
            throw new IllegalArgumentException(cfgFile + ": rank_pattern/alpha_pattern are not supported");
        }
        int r = cfg.path("r").asInt(0);
        double alpha = cfg.path("lora_alpha").asDouble(Double.NaN);
        if (r <= 0 || !(alpha > 0)) {
            throw new IllegalArgumentException(cfgFile + ": expected r > 0 and lora_alpha > 0, got r=" + cfg.path("r")
                    + ", lora_alpha=" + cfg.path("lora_alpha"));
        }
        double scaling = cfg.path("use_rslora").asBoolean(false) ? alpha / Math.sqrt(r) : alpha / r;

        Map<String, Weight> merged = new HashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(tensors)) {
            for (String name : st.names()) {
                if (name.endsWith(".lora_B.weight")) {
                    if (!st.names().contains(name.replace(".lora_B.weight", ".lora_A.weight"))) {
                        throw new IllegalArgumentException(tensors + ": " + name + " has no matching lora_A");
                    }
                    continue;
                }
                if (!name.startsWith(PREFIX) || !name.endsWith(".lora_A.weight")) {
                    throw new IllegalArgumentException(tensors + ": tensor " + name + " is not a LoRA A/B matrix; cannot merge it");
                }
                String target = name.substring(PREFIX.length(), name.length() - ".lora_A.weight".length()) + ".weight";
                String bName = name.replace(".lora_A.weight", ".lora_B.weight");
                if (!st.names().contains(bName)) {
                    throw new IllegalArgumentException(tensors + ": " + name + " has no matching lora_B");
                }
                Weight w = base.find(target).orElseThrow(() -> new IllegalArgumentException(tensors + ": " + name
                        + " targets " + target + ", which the model does not have"));
                float[] a = st.weight(name).toFloatArray();
                float[] b = st.weight(bName).toFloatArray();
                Weight aw = st.weight(name);
                Weight bw = st.weight(bName);
                if (aw.rows() != r || bw.cols() != r || aw.cols() != w.cols() || bw.rows() != w.rows()) {
                    throw new IllegalArgumentException(tensors + ": " + name + " is [" + aw.rows() + ", " + aw.cols() + "] and "
                            + bName + " [" + bw.rows() + ", " + bw.cols() + "]; for " + target + " [" + w.rows() + ", "
                            + w.cols() + "] with r=" + r + " expected [" + r + ", " + w.cols() + "] and [" + w.rows() + ", " + r + "]");
                }
                float[] out = w.toFloatArray();
                int in = w.cols();
                for (int o = 0; o < w.rows(); o++) {
                    for (int k = 0; k < r; k++) {
                        double s = scaling * b[o * r + k];
                        for (int i = 0; i < in; i++) {
                            out[o * in + i] += (float) (s * a[k * in + i]);
                        }
                    }
                }
                merged.put(target, new FloatWeight(target, w.rows(), in, out));
            }
        }
        if (merged.isEmpty()) {
            throw new IllegalArgumentException(tensors + " has no LoRA tensors");
        }
        return new ModelWeights() {
            @Override
            public Optional<Weight> find(String hfName) {
                Weight m = merged.get(hfName);
                return m != null ? Optional.of(m) : base.find(hfName);
            }

            @Override
            public Weight get(String hfName) {
                Weight m = merged.get(hfName);
                return m != null ? m : base.get(hfName);
            }

            @Override
            public Set<String> names() {
                return base.names();
            }

            @Override
            public void close() {
                base.close();
            }
        };
    }
}
