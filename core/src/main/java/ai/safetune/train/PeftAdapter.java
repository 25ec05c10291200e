package ai.safetune.train;

import ai.safetune.model.LoraAdapter;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.safetensors.SafetensorsDType;
import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.model.safetensors.SafetensorsTensor;
import ai.safetune.model.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A LoRA adapter in Hugging Face PEFT's on-disk layout: {@code adapter_config.json} +
 * {@code adapter_model.safetensors} with tensors named
 * {@code base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight} [r, in] and {@code ...lora_B.weight}
 * [out, r], rows in Hugging Face order (also when the base model came from a GGUF file, whose Q/K rows the
 * loader un-permutes).
 *
 * @param config  the LoRA hyper-parameters
 * @param weights the factors per module, keyed by HF module path ({@code model.layers.0.self_attn.q_proj})
 */
public record PeftAdapter(LoraConfig config, LoraAdapter weights) {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";
    private static final Pattern KEY = Pattern.compile(
            "base_model\\.model\\.(model\\.layers\\.\\d+\\.(?:self_attn|mlp)\\.(\\w+_proj))\\.lora_([AB])\\.weight");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public PeftAdapter {
        if (Math.abs(config.scaling() - weights.scaling()) > 1e-9 * Math.abs(config.scaling())) {
            throw new IllegalArgumentException("adapter scaling " + weights.scaling()
                    + " does not match its config's " + config.scaling());
        }
    }

    /** The HF module path of {@code module} in layer {@code layer}, e.g. {@code model.layers.3.mlp.up_proj}. */
    public static String modulePath(int layer, String module) {
        String block = module.endsWith("_proj") && (module.startsWith("gate") || module.startsWith("up")
                || module.startsWith("down")) ? "mlp" : "self_attn";
        return "model.layers." + layer + "." + block + "." + module;
    }

    /** Input and output widths of a target module in a model of this shape. */
    public static int[] moduleShape(ModelConfig c, String module) {
        int q = c.numHeads() * c.headDim();
        int kv = c.numKvHeads() * c.headDim();
        switch (module) {
            case "q_proj": return new int[] {c.hiddenSize(), q};
            case "k_proj": case "v_proj": return new int[] {c.hiddenSize(), kv};
            case "o_proj": return new int[] {q, c.hiddenSize()};
            case "gate_proj": case "up_proj": return new int[] {c.hiddenSize(), c.intermediateSize()};
            case "down_proj": return new int[] {c.intermediateSize(), c.hiddenSize()};
            default: throw new IllegalArgumentException("unknown LoRA target module '" + module + "'");
        }
    }

    /**
     * A fresh adapter as PEFT initialises one: A Kaiming-uniform ({@code a = sqrt(5)}, i.e. uniform in
     * ±sqrt(1/in)) from a seeded generator, B zero, so training starts at the base model.
     */
    public static PeftAdapter init(ModelConfig c, LoraConfig lora, long seed) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed);
        Map<String, LoraAdapter.Pair> modules = new LinkedHashMap<>();
        for (int layer = 0; layer < c.numLayers(); layer++) {
            for (String m : lora.targetModules()) {
                int[] io = moduleShape(c, m);
                int in = io[0], out = io[1];
                float[] a = new float[lora.r() * in];
                // kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound = gain*sqrt(3/fan_in) = sqrt(1/fan_in)
                double bound = Math.sqrt(1.0 / in);
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
                }
                modules.put(modulePath(layer, m), new LoraAdapter.Pair(lora.r(), in, out, a, new float[out * lora.r()]));
            }
        }
        return new PeftAdapter(lora, new LoraAdapter(lora.scaling(), modules));
    }

    /** Reads {@code dir/adapter_config.json} and {@code dir/adapter_model.safetensors}. */
    public static PeftAdapter load(Path dir) {
        Path cfgPath = dir.resolve(CONFIG_FILE);
        Path wPath = dir.resolve(WEIGHTS_FILE);
        if (!Files.isRegularFile(cfgPath)) {
            throw new IllegalArgumentException(dir + ": not a PEFT adapter directory (no " + CONFIG_FILE + ")");
        }
        if (!Files.isRegularFile(wPath)) {
            throw new IllegalArgumentException(dir + ": no " + WEIGHTS_FILE + " beside " + CONFIG_FILE);
        }
        LoraConfig lora = readConfig(cfgPath);
        Map<String, float[]> as = new TreeMap<>();
        Map<String, float[]> bs = new TreeMap<>();
        Map<String, long[]> aShapes = new TreeMap<>();
        Map<String, long[]> bShapes = new TreeMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(wPath)) {
            for (Map.Entry<String, SafetensorsTensor> e : f.tensors().entrySet()) {
                Matcher mt = KEY.matcher(e.getKey());
                if (!mt.matches()) {
                    throw new IllegalArgumentException(wPath + ": tensor '" + e.getKey()
                            + "' is not a LoRA factor of a Llama linear module (expected names like "
                            + PREFIX + "model.layers.0.self_attn.q_proj.lora_A.weight)");
                }
                if (!lora.targetModules().contains(mt.group(2))) {
                    throw new IllegalArgumentException(wPath + ": tensor '" + e.getKey() + "' adapts " + mt.group(2)
                            + ", which " + CONFIG_FILE + " does not list in target_modules " + lora.targetModules());
                }
                long[] shape = e.getValue().shape();
                if (shape.length != 2) {
                    throw new IllegalArgumentException(wPath + ": tensor '" + e.getKey() + "' must be 2-D, has shape "
                            + java.util.Arrays.toString(shape));
                }
                boolean isA = mt.group(3).equals("A");
                (isA ? as : bs).put(mt.group(1), f.readFloats(e.getKey()));
                (isA ? aShapes : bShapes).put(mt.group(1), shape);
            }
        }
        if (!as.keySet().equals(bs.keySet())) {
            throw new IllegalArgumentException(wPath + ": every module needs both lora_A and lora_B; A for "
                    + as.keySet() + ", B for " + bs.keySet());
        }
        if (as.isEmpty()) {
            throw new IllegalArgumentException(wPath + ": holds no LoRA tensors");
        }
        Map<String, LoraAdapter.Pair> modules = new LinkedHashMap<>();
        for (String module : as.keySet()) {
            long[] sa = aShapes.get(module);
            long[] sb = bShapes.get(module);
            if (sa[0] != lora.r() || sb[1] != lora.r()) {
                throw new IllegalArgumentException(wPath + ": " + module + " has lora_A " + java.util.Arrays.toString(sa)
                        + " and lora_B " + java.util.Arrays.toString(sb) + ", expected rank r=" + lora.r() + " from "
                        + CONFIG_FILE);
            }
            modules.put(module, new LoraAdapter.Pair(lora.r(), (int) sa[1], (int) sb[0], as.get(module), bs.get(module)));
        }
        return new PeftAdapter(lora, new LoraAdapter(lora.scaling(), modules));
    }

    /**
     * Checks that every factor fits a model of shape {@code c}: module in range, A [r, in], B [out, r].
     *
     * @throws IllegalArgumentException naming the module and both shapes
     */
    public void checkFits(ModelConfig c) {
        for (Map.Entry<String, LoraAdapter.Pair> e : weights.modules().entrySet()) {
            String key = e.getKey();
            int layer = Integer.parseInt(key.split("\\.")[2]);
            String module = key.substring(key.lastIndexOf('.') + 1);
            if (layer >= c.numLayers()) {
                throw new IllegalArgumentException("adapter module " + key + " is beyond the model's " + c.numLayers() + " layers");
            }
            int[] io = moduleShape(c, module);
            LoraAdapter.Pair p = e.getValue();
            if (p.in() != io[0] || p.out() != io[1]) {
                throw new IllegalArgumentException("adapter module " + key + " maps " + p.in() + " → " + p.out()
                        + " but the model's " + module + " maps " + io[0] + " → " + io[1]);
            }
        }
    }

    /** Writes the adapter in PEFT's layout into {@code dir} (created if needed); each file replaced atomically. */
    public void save(Path dir, String baseModel) {
        try {
            Files.createDirectories(dir);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
            for (Map.Entry<String, LoraAdapter.Pair> e : weights.modules().entrySet()) {
                LoraAdapter.Pair p = e.getValue();
                w.add(PREFIX + e.getKey() + ".lora_A.weight", SafetensorsDType.F32, new long[] {p.r(), p.in()}, p.a());
                w.add(PREFIX + e.getKey() + ".lora_B.weight", SafetensorsDType.F32, new long[] {p.out(), p.r()}, p.b());
            }
            w.write(dir.resolve(WEIGHTS_FILE));
            Path tmp = dir.resolve(CONFIG_FILE + ".tmp");
            JSON.writeValue(tmp.toFile(), configJson(baseModel));
            Files.move(tmp, dir.resolve(CONFIG_FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write PEFT adapter to " + dir + ": " + e.getMessage(), e);
        }
    }

    private ObjectNode configJson(String baseModel) {
        ObjectNode o = JSON.createObjectNode();
        o.putObject("alpha_pattern");
        o.put("base_model_name_or_path", baseModel);
        o.put("bias", "none");
        o.put("fan_in_fan_out", false);
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        if (config.alpha() == Math.rint(config.alpha())) {
            o.put("lora_alpha", (long) config.alpha());
        } else {
            o.put("lora_alpha", config.alpha());
        }
        o.put("lora_dropout", config.dropout());
        o.putNull("modules_to_save");
        o.put("peft_type", "LORA");
        o.put("r", config.r());
        o.putObject("rank_pattern");
        o.putNull("revision");
        ArrayNode t = o.putArray("target_modules");
        config.targetModules().forEach(t::add);
        o.put("task_type", "CAUSAL_LM");
        o.put("use_dora", false);
        o.put("use_rslora", config.useRsLora());
        return o;
    }

    private static LoraConfig readConfig(Path cfgPath) {
        JsonNode n;
        try {
            n = JSON.readTree(cfgPath.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(cfgPath + ": not valid JSON: " + e.getMessage(), e);
        }
        String type = n.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw new IllegalArgumentException(cfgPath + ": field \"peft_type\" is " + type + "; only LORA adapters are supported");
        }
        if (n.path("use_dora").asBoolean(false)) {
            throw new IllegalArgumentException(cfgPath + ": field \"use_dora\" is true; DoRA adapters are not supported");
        }
        if (n.path("fan_in_fan_out").asBoolean(false)) {
            throw new IllegalArgumentException(cfgPath + ": field \"fan_in_fan_out\" is true; Llama adapters use false");
        }
        if (!n.path("bias").asText("none").equals("none")) {
            throw new IllegalArgumentException(cfgPath + ": field \"bias\" is " + n.path("bias").asText() + "; only \"none\" is supported");
        }
        for (String f : new String[] {"rank_pattern", "alpha_pattern"}) {
            if (n.path(f).isObject() && n.path(f).size() > 0) {
                throw new IllegalArgumentException(cfgPath + ": field \"" + f + "\" is not empty; per-module ranks are not supported");
            }
        }
        JsonNode r = n.get("r");
        JsonNode alpha = n.get("lora_alpha");
        if (r == null || !r.canConvertToInt()) {
            throw new IllegalArgumentException(cfgPath + ": field \"r\" must be an integer");
        }
        if (alpha == null || !alpha.isNumber()) {
            throw new IllegalArgumentException(cfgPath + ": field \"lora_alpha\" must be a number");
        }
        JsonNode targets = n.get("target_modules");
        List<String> mods = new ArrayList<>();
        if (targets != null && targets.isArray()) {
            targets.forEach(x -> mods.add(x.asText()));
        } else if (targets != null && targets.isTextual()) {
            mods.addAll(LoraConfig.parseTargets(targets.asText()));
        } else {
            throw new IllegalArgumentException(cfgPath + ": field \"target_modules\" must be a list of module names");
        }
        // PEFT writes target_modules as a set, in any order; keep the canonical Llama order.
        List<String> ordered = LoraConfig.ALL_LINEAR.stream().filter(mods::contains).toList();
        if (ordered.size() != mods.size()) {
            List<String> unknown = new ArrayList<>(mods);
            unknown.removeAll(LoraConfig.ALL_LINEAR);
            throw new IllegalArgumentException(cfgPath + ": field \"target_modules\" names modules this Llama"
                    + " implementation does not have: " + unknown);
        }
        return new LoraConfig(r.asInt(), alpha.asDouble(), n.path("lora_dropout").asDouble(0),
                n.path("use_rslora").asBoolean(false), ordered);
    }
}
