package ai.safetune.train;

import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.TokenizerSource;
import ai.safetune.model.Weight;
import ai.safetune.model.LoraAdapter;
import ai.safetune.model.safetensors.SafetensorsDType;
import ai.safetune.model.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Folds a LoRA adapter into its base ({@code W' = W + scaling·B·A}) and writes a Hugging Face model directory
 * that transformers loads with {@code AutoModelForCausalLM.from_pretrained}: {@code model.safetensors} (fp32, HF
 * names and row order), {@code config.json} and the tokenizer files. An HF-directory base has its config and
 * tokenizer files copied; a GGUF base gets them written from its metadata ({@code tokenizer.json} as
 * transformers' GGUF conversion builds it for byte-level BPE, {@code tokenizer_config.json},
 * {@code chat_template.jinja}).
 */
public final class ModelMerger {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> HF_TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "chat_template.jinja", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt");

    private ModelMerger() {
    }

    /** The merged fp32 weights of {@code name}: the base weight plus the adapter's update when it adapts it. */
    public static float[] mergedWeight(ModelWeights weights, String name, LoraAdapter adapter) {
        Weight w = weights.get(name);
        float[] v = w.toFloatArray();
        String module = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
        LoraAdapter.Pair p = adapter.modules().get(module);
        if (p == null) {
            return v;
        }
        if (p.out() != w.rows() || p.in() != w.cols()) {
            throw new IllegalArgumentException("LoRA module " + module + " is [" + p.out() + " x " + p.in()
                    + "], the base weight [" + w.rows() + " x " + w.cols() + "]");
        }
        float s = (float) adapter.scaling();
        float[] a = p.a();
        float[] b = p.b();
        int r = p.r();
        int in = p.in();
        float[] row = new float[in];
        for (int o = 0; o < p.out(); o++) {
            java.util.Arrays.fill(row, 0f);
            for (int k = 0; k < r; k++) {
                float bk = s * b[o * r + k];
                int ak = k * in;
                for (int i = 0; i < in; i++) {
                    row[i] += bk * a[ak + i];
                }
            }
            int off = o * in;
            for (int i = 0; i < in; i++) {
                v[off + i] += row[i];
            }
        }
        return v;
    }

    /**
     * Writes the merged model into {@code out} (created; existing files of the same names are replaced).
     *
     * @throws IllegalArgumentException when the adapter does not fit the model or a GGUF tokenizer is not
     *                                  byte-level BPE
     */
    public static void merge(ModelFiles base, PeftAdapter adapter, Path out) {
        ModelConfig c = base.config();
        adapter.checkFits(c);
        try {
            Files.createDirectories(out);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
            ModelWeights weights = base.weights();
            for (String name : new java.util.TreeSet<>(weights.names())) {
                Weight src = weights.get(name);
                // norms are 1-D in HF checkpoints
                long[] shape = name.endsWith("norm.weight") ? new long[] {(long) src.rows() * src.cols()}
                        : new long[] {src.rows(), src.cols()};
                w.add(name, SafetensorsDType.F32, shape, mergedWeight(weights, name, adapter.weights()));
            }
            w.write(out.resolve("model.safetensors"));
            TokenizerSource ts = base.tokenizerSource();
            if (ts instanceof TokenizerSource.HfFiles hf) {
                copyHfFiles(hf.directory(), out);
            } else if (ts instanceof TokenizerSource.Gguf g) {
                writeConfig(c, g.metadata(), out);
                writeTokenizerFiles(g, c, out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the merged model to " + out + ": " + e.getMessage(), e);
        }
    }

    private static void copyHfFiles(Path dir, Path out) throws IOException {
        ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        // the merged weights are fp32; a bf16 "dtype" would make transformers round them on load
        cfg.put(cfg.has("torch_dtype") && !cfg.has("dtype") ? "torch_dtype" : "dtype", "float32");
        JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), cfg);
        for (String f : HF_TOKENIZER_FILES) {
            if (Files.isRegularFile(dir.resolve(f))) {
                Files.copy(dir.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private static void writeConfig(ModelConfig c, Map<String, Object> md, Path out) throws IOException {
        ObjectNode cfg = JSON.createObjectNode();
        cfg.putArray("architectures").add("LlamaForCausalLM");
        cfg.put("model_type", "llama");
        cfg.put("vocab_size", c.vocabSize());
        cfg.put("hidden_size", c.hiddenSize());
        cfg.put("intermediate_size", c.intermediateSize());
        cfg.put("num_hidden_layers", c.numLayers());
        cfg.put("num_attention_heads", c.numHeads());
        cfg.put("num_key_value_heads", c.numKvHeads());
        cfg.put("head_dim", c.headDim());
        cfg.put("hidden_act", "silu");
        cfg.put("max_position_embeddings", c.maxPositions());
        cfg.put("rms_norm_eps", c.rmsNormEps());
        cfg.put("rope_theta", c.ropeTheta());
        ObjectNode rope = cfg.putObject("rope_parameters");
        rope.put("rope_theta", c.ropeTheta());
        rope.put("rope_type", "default");
        cfg.put("attention_bias", false);
        cfg.put("mlp_bias", false);
        cfg.put("tie_word_embeddings", c.tieWordEmbeddings());
        putId(cfg, "bos_token_id", md.get("tokenizer.ggml.bos_token_id"));
        putId(cfg, "eos_token_id", md.get("tokenizer.ggml.eos_token_id"));
        putId(cfg, "pad_token_id", md.get("tokenizer.ggml.padding_token_id"));
        cfg.put("dtype", "float32");
        JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), cfg);
    }

    private static void putId(ObjectNode o, String field, Object v) {
        if (v instanceof Number n) {
            o.put(field, n.longValue());
        }
    }

    /**
     * Writes {@code tokenizer.json}, {@code tokenizer_config.json} and (when the GGUF has one)
     * {@code chat_template.jinja} for a byte-level BPE GGUF tokenizer, as transformers' GGUF conversion builds
     * them: BPE vocab and merges, control tokens as special added tokens, user-defined ones as plain added
     * tokens, GPT-2 byte-level pre-tokenizer and decoder.
     */
    public static void writeTokenizerFiles(TokenizerSource.Gguf g, ModelConfig c, Path out) throws IOException {
        Map<String, Object> md = g.metadata();
        Object model = md.get("tokenizer.ggml.model");
        if (!"gpt2".equals(model)) {
            throw new IllegalArgumentException(g.file() + ": tokenizer.ggml.model '" + model
                    + "' cannot be exported to tokenizer.json yet (only byte-level BPE 'gpt2'); merge from the Hugging Face"
                    + " directory of this model instead");
        }
        List<?> tokens = (List<?>) md.get("tokenizer.ggml.tokens");
        List<?> merges = (List<?>) md.get("tokenizer.ggml.merges");
        Object types = md.get("tokenizer.ggml.token_type");
        if (tokens == null || merges == null) {
            throw new IllegalArgumentException(g.file() + ": tokenizer.ggml.tokens or tokenizer.ggml.merges is missing");
        }
        ObjectNode tj = JSON.createObjectNode();
        tj.put("version", "1.0");
        tj.putNull("truncation");
        tj.putNull("padding");
        ArrayNode added = tj.putArray("added_tokens");
        ObjectNode vocab = JSON.createObjectNode();
        for (int id = 0; id < tokens.size(); id++) {
            String t = (String) tokens.get(id);
            int type = types == null ? 1 : ((Number) Array.get(types, id)).intValue();
            if (type == 3 || type == 4) {
                ObjectNode a = added.addObject();
                a.put("id", id);
                a.put("content", t);
                a.put("single_word", false);
                a.put("lstrip", false);
                a.put("rstrip", false);
                a.put("normalized", type != 3);
                a.put("special", type == 3);
            }
            if (!vocab.has(t)) {
                vocab.put(t, id);
            }
        }
        tj.putNull("normalizer");
        ObjectNode pre = tj.putObject("pre_tokenizer");
        byteLevel(pre, false, true);
        ObjectNode post = tj.putObject("post_processor");
        byteLevel(post, true, false);
        ObjectNode dec = tj.putObject("decoder");
        byteLevel(dec, true, true);
        ObjectNode m = tj.putObject("model");
        m.put("type", "BPE");
        m.putNull("dropout");
        m.putNull("unk_token");
        m.putNull("continuing_subword_prefix");
        m.putNull("end_of_word_suffix");
        m.put("fuse_unk", false);
        m.put("byte_fallback", false);
        m.put("ignore_merges", false);
        m.set("vocab", vocab);
        ArrayNode mg = m.putArray("merges");
        for (Object s : merges) {
            mg.add((String) s);
        }
        Files.writeString(out.resolve("tokenizer.json"), JSON.writeValueAsString(tj), StandardCharsets.UTF_8);

        ObjectNode tc = JSON.createObjectNode();
        tc.put("tokenizer_class", "PreTrainedTokenizerFast");
        tc.put("add_bos_token", Boolean.TRUE.equals(md.get("tokenizer.ggml.add_bos_token")));
        tc.put("add_eos_token", Boolean.TRUE.equals(md.get("tokenizer.ggml.add_eos_token")));
        tc.put("clean_up_tokenization_spaces", false);
        tc.put("model_max_length", c.maxPositions());
        tokenName(tc, "bos_token", md.get("tokenizer.ggml.bos_token_id"), tokens);
        tokenName(tc, "eos_token", md.get("tokenizer.ggml.eos_token_id"), tokens);
        tokenName(tc, "pad_token", md.get("tokenizer.ggml.padding_token_id"), tokens);
        tokenName(tc, "unk_token", md.get("tokenizer.ggml.unknown_token_id"), tokens);
        JSON.writerWithDefaultPrettyPrinter().writeValue(out.resolve("tokenizer_config.json").toFile(), tc);
        Optional<String> template = g.chatTemplate();
        if (template.isPresent()) {
            Files.writeString(out.resolve("chat_template.jinja"), template.get(), StandardCharsets.UTF_8);
        }
    }

    private static void byteLevel(ObjectNode o, boolean addPrefixSpace, boolean trimOffsets) {
        o.put("type", "ByteLevel");
        o.put("add_prefix_space", addPrefixSpace);
        o.put("trim_offsets", trimOffsets);
        o.put("use_regex", true);
    }

    private static void tokenName(ObjectNode o, String field, Object id, List<?> tokens) {
        if (id instanceof Number n && n.longValue() >= 0 && n.longValue() < tokens.size()) {
            o.put(field, (String) tokens.get(n.intValue()));
        }
    }
}
