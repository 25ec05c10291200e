package ai.safetune.model;

import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.model.safetensors.SafetensorsTensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a Hugging Face PEFT LoRA adapter directory ({@code adapter_config.json} + {@code adapter_model.safetensors},
 * tensors named like {@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight}) for inference.
 * Settings this reader cannot apply exactly (DoRA, per-module rank/alpha patterns, biases, fan-in-fan-out,
 * modules_to_save) are rejected rather than ignored.
 */
public final class PeftAdapter {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    private static final Pattern NAME = Pattern.compile(
            "base_model\\.model\\.(model\\.layers\\.\\d+\\.(?:self_attn|mlp)\\.[a-z_]+)\\.lora_([AB])\\.weight");

    private PeftAdapter() {
    }

    /**
     * @throws IllegalArgumentException naming the file and field when the adapter is missing, malformed or uses
     *                                  a feature not supported here
     */
    public static LoraAdapter load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("adapter " + dir + ": not a directory (expected " + CONFIG + " + " + WEIGHTS + ")");
        }
        Path cfgFile = dir.resolve(CONFIG);
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(cfgFile) || !Files.isRegularFile(weights)) {
            throw new IllegalArgumentException("adapter " + dir + ": needs " + CONFIG + " and " + WEIGHTS);
        }
        JsonNode cfg;
        try {
            cfg = new ObjectMapper().readTree(cfgFile.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(cfgFile + ": not valid JSON: " + e.getMessage(), e);
        }
        String type = cfg.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw new IllegalArgumentException(cfgFile + ": peft_type " + type + " is not supported (only LORA)");
        }
        if (!cfg.path("r").canConvertToInt() || cfg.path("r").asInt() <= 0) {
            throw new IllegalArgumentException(cfgFile + ": field \"r\" must be a positive integer");
        }
        if (!cfg.path("lora_alpha").isNumber()) {
            throw new IllegalArgumentException(cfgFile + ": field \"lora_alpha\" must be a number");
        }
        int r = cfg.get("r").asInt();
        double alpha = cfg.get("lora_alpha").asDouble();
        boolean rslora = cfg.path("use_rslora").asBoolean(false);
        reject(cfgFile, cfg, "use_dora", cfg.path("use_dora").asBoolean(false));
        reject(cfgFile, cfg, "fan_in_fan_out", cfg.path("fan_in_fan_out").asBoolean(false));
        reject(cfgFile, cfg, "bias", !cfg.path("bias").asText("none").equals("none"));
        reject(cfgFile, cfg, "rank_pattern", cfg.path("rank_pattern").size() > 0);
        reject(cfgFile, cfg, "alpha_pattern", cfg.path("alpha_pattern").size() > 0);
        reject(cfgFile, cfg, "modules_to_save", cfg.path("modules_to_save").size() > 0);
        double scaling = rslora ? alpha / Math.sqrt(r) : alpha / r;

        Map<String, float[]> as = new HashMap<>();
        Map<String, float[]> bs = new HashMap<>();
        Map<String, long[]> shapes = new HashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(weights)) {
            for (String name : st.names()) {
                Matcher m = NAME.matcher(name);
                if (!m.matches()) {
                    throw new IllegalArgumentException(weights + ": tensor " + name + " is not a LoRA factor of a "
                            + "Llama linear module (expected base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_<A|B>.weight)");
                }
                SafetensorsTensor t = st.tensor(name);
                if (t.shape().length != 2) {
                    throw new IllegalArgumentException(weights + ": tensor " + name + " must be 2-D, has shape "
                            + java.util.Arrays.toString(t.shape()));
                }
                (m.group(2).equals("A") ? as : bs).put(m.group(1), st.readFloats(name));
                shapes.put(name, t.shape());
            }
        }
        Map<String, LoraAdapter.Pair> modules = new HashMap<>();
        for (String module : as.keySet()) {
            if (!bs.containsKey(module)) {
                throw new IllegalArgumentException(weights + ": " + module + " has lora_A but no lora_B");
            }
            long[] a = shapes.get("base_model.model." + module + ".lora_A.weight");
            long[] b = shapes.get("base_model.model." + module + ".lora_B.weight");
            if (a[0] != r || b[1] != r) {
                throw new IllegalArgumentException(weights + ": " + module + " factors are A " + java.util.Arrays.toString(a)
                        + " and B " + java.util.Arrays.toString(b) + ", expected rank r = " + r + " from " + CONFIG);
            }
            modules.put(module, new LoraAdapter.Pair(r, (int) a[1], (int) b[0], as.get(module), bs.get(module)));
        }
        for (String module : bs.keySet()) {
            if (!as.containsKey(module)) {
                throw new IllegalArgumentException(weights + ": " + module + " has lora_B but no lora_A");
            }
        }
        if (modules.isEmpty()) {
            throw new IllegalArgumentException(weights + ": no LoRA tensors");
        }
        return new LoraAdapter(scaling, modules);
    }

    private static void reject(Path file, JsonNode cfg, String field, boolean bad) {
        if (bad) {
            throw new IllegalArgumentException(file + ": field \"" + field + "\" = " + cfg.get(field)
                    + " is not supported by this adapter loader");
        }
    }
}
