package ai.safetune.model.gguf;

import ai.safetune.model.LlamaLayout;
import ai.safetune.model.MapWeights;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import ai.safetune.model.io.MappedWeight;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Llama-family model in a GGUF file: the {@link ModelConfig} from {@code llama.*} metadata and the weights
 * under their Hugging Face names, in Hugging Face layout. llama.cpp's converter permutes the rows of
 * {@code attn_q}/{@code attn_k} for its RoPE convention; they are un-permuted here through a row index map
 * (quant blocks run along columns, so rows move without dequantizing). Embeddings are tied when the file has no
 * {@code output.weight}.
 */
public final class GgufModel implements AutoCloseable {
    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.(\\w+)\\.weight");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "attn_norm", "input_layernorm.weight",
            "attn_q", "self_attn.q_proj.weight",
            "attn_k", "self_attn.k_proj.weight",
            "attn_v", "self_attn.v_proj.weight",
            "attn_output", "self_attn.o_proj.weight",
            "ffn_norm", "post_attention_layernorm.weight",
            "ffn_gate", "mlp.gate_proj.weight",
            "ffn_up", "mlp.up_proj.weight",
            "ffn_down", "mlp.down_proj.weight");

    private final GgufFile file;
    private final ModelConfig config;
    private final ModelWeights weights;

    private GgufModel(GgufFile file, ModelConfig config, ModelWeights weights) {
        this.file = file;
        this.config = config;
        this.weights = weights;
    }

    public static GgufModel open(Path path) {
        GgufFile f = GgufFile.open(path);
        try {
            return of(f);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** Builds the model view of an open file; closing the model closes the file. */
    public static GgufModel of(GgufFile f) {
        ModelConfig config = config(f);
        Map<String, Weight> m = new LinkedHashMap<>();
        List<String> unknown = new ArrayList<>();
        for (GgufTensorInfo t : f.tensors().values()) {
            Optional<String> hf = hfName(t.name());
            if (hf.isEmpty()) {
                unknown.add(t.name());
                continue;
            }
            MappedWeight w = f.weight(t.name(), hf.get());
            if (hf.get().endsWith("q_proj.weight")) {
                w = unpermuted(f, w, config.numHeads(), config.headDim());
            } else if (hf.get().endsWith("k_proj.weight")) {
                w = unpermuted(f, w, config.numKvHeads(), config.headDim());
            }
            m.put(hf.get(), w);
        }
        if (!unknown.isEmpty()) {
            throw new ModelFileException(f.path(), "tensors this Llama reader does not know: " + unknown
                    + " (expected token_embd, output_norm, output, blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,"
                    + "ffn_norm,ffn_gate,ffn_up,ffn_down})");
        }
        ModelWeights weights = new MapWeights(f.path().toString(), m, f::close);
        LlamaLayout.check(f.path(), config, weights);
        return new GgufModel(f, config, weights);
    }

    private static MappedWeight unpermuted(GgufFile f, MappedWeight w, int nHead, int headDim) {
        if (w.rows() != nHead * headDim) {
            throw new ModelFileException(f.path(), w.name() + " has " + w.rows() + " rows, expected " + nHead + " heads × "
                    + headDim);
        }
        return w.withRowMap(unpermuteRowMap(nHead, headDim));
    }

    /**
     * Row map from HF order to GGUF order for a Q or K projection: {@code map[hfRow] = ggufRow}. The converter
     * stored {@code w.reshape(nHead, 2, headDim/2, in).swapaxes(1, 2)}, so HF row {@code h·hd + j·hd/2 + i}
     * (half j, index i) sits at GGUF row {@code h·hd + 2i + j}.
     */
    public static int[] unpermuteRowMap(int nHead, int headDim) {
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim must be even, got " + headDim);
        }
        int half = headDim / 2;
        int[] map = new int[nHead * headDim];
        for (int h = 0; h < nHead; h++) {
            for (int j = 0; j < 2; j++) {
                for (int i = 0; i < half; i++) {
                    map[h * headDim + j * half + i] = h * headDim + 2 * i + j;
                }
            }
        }
        return map;
    }

    /** The HF name of a llama GGUF tensor ({@code blk.3.attn_q.weight} → {@code model.layers.3.self_attn.q_proj.weight}). */
    public static Optional<String> hfName(String ggufName) {
        switch (ggufName) {
            case "token_embd.weight": return Optional.of(LlamaLayout.EMBED);
            case "output_norm.weight": return Optional.of(LlamaLayout.FINAL_NORM);
            case "output.weight": return Optional.of(LlamaLayout.LM_HEAD);
            default: break;
        }
        Matcher m = BLOCK.matcher(ggufName);
        if (m.matches() && LAYER_NAMES.containsKey(m.group(2))) {
            return Optional.of("model.layers." + Integer.parseInt(m.group(1)) + "." + LAYER_NAMES.get(m.group(2)));
        }
        return Optional.empty();
    }

    /** The config from {@code <arch>.*} metadata; architectures other than llama are rejected. */
    public static ModelConfig config(GgufFile f) {
        String arch = f.findString("general.architecture").orElseThrow(() ->
                new ModelFileException(f.path(), "missing metadata key 'general.architecture'"));
        if (!arch.equals("llama")) {
            throw new ModelFileException(f.path(), "unsupported architecture '" + arch + "'; supported: llama");
        }
        String p = arch + ".";
        f.findString(p + "rope.scaling.type").filter(t -> !t.equals("none")).ifPresent(t -> {
            throw new ModelFileException(f.path(), "unsupported " + p + "rope.scaling.type '" + t + "'; supported: none");
        });
        int hidden = f.getInt(p + "embedding_length");
        int heads = f.getInt(p + "attention.head_count");
        int kvHeads = f.findInt(p + "attention.head_count_kv").orElse(heads);
        if (heads <= 0 || hidden % heads != 0 && !f.contains(p + "attention.key_length")) {
            throw new ModelFileException(f.path(), p + "embedding_length " + hidden + " is not divisible by "
                    + p + "attention.head_count " + heads);
        }
        int headDim = f.findInt(p + "attention.key_length").orElse(hidden / heads);
        int rotDim = f.findInt(p + "rope.dimension_count").orElse(headDim);
        if (rotDim != headDim) {
            throw new ModelFileException(f.path(), p + "rope.dimension_count " + rotDim + " != head dim " + headDim
                    + " (partial rotary embeddings are not supported)");
        }
        int vocab;
        if (f.contains(p + "vocab_size")) {
            vocab = f.getInt(p + "vocab_size");
        } else {
            GgufTensorInfo embd = f.tensor("token_embd.weight");
            vocab = (int) Math.min(Integer.MAX_VALUE, embd.rows());
        }
        try {
            return new ModelConfig(
                    vocab,
                    hidden,
                    f.getInt(p + "feed_forward_length"),
                    f.getInt(p + "block_count"),
                    heads,
                    kvHeads,
                    headDim,
                    f.findDouble(p + "rope.freq_base").orElse(10000.0),
                    f.findDouble(p + "attention.layer_norm_rms_epsilon").orElse(1e-5),
                    f.getInt(p + "context_length"),
                    f.findTensor("output.weight").isEmpty());
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(f.path(), "invalid model metadata: " + e.getMessage(), e);
        }
    }

    public GgufFile file() {
        return file;
    }

    public Path path() {
        return file.path();
    }

    public ModelConfig config() {
        return config;
    }

    /** Weights by HF name in HF layout; quantized ones stay quantized (mapped). */
    public ModelWeights weights() {
        return weights;
    }

    /** The file's metadata (tokenizer, chat template, ...), see {@link GgufFile#metadata()}. */
    public Map<String, Object> metadata() {
        return file.metadata();
    }

    @Override
    public void close() {
        weights.close();
    }
}
