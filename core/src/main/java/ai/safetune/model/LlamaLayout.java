package ai.safetune.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The Hugging Face tensor names and shapes of a Llama-family decoder, and a check of loaded weights against them. */
public final class LlamaLayout {
    public static final String EMBED = "model.embed_tokens.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    private LlamaLayout() {
    }

    /** {@code model.layers.<layer>.<suffix>}, e.g. {@code layer(3, "self_attn.q_proj.weight")}. */
    public static String layer(int layer, String suffix) {
        return "model.layers." + layer + "." + suffix;
    }

    /** Expected {@code [rows, cols]} of every tensor the config implies (norms as {@code [1, n]}), in model order. */
    public static Map<String, int[]> expectedShapes(ModelConfig c) {
        Map<String, int[]> m = new LinkedHashMap<>();
        int h = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.numKvHeads() * c.headDim();
        m.put(EMBED, new int[] {c.vocabSize(), h});
        for (int l = 0; l < c.numLayers(); l++) {
            m.put(layer(l, "input_layernorm.weight"), new int[] {1, h});
            m.put(layer(l, "self_attn.q_proj.weight"), new int[] {q, h});
            m.put(layer(l, "self_attn.k_proj.weight"), new int[] {kv, h});
            m.put(layer(l, "self_attn.v_proj.weight"), new int[] {kv, h});
            m.put(layer(l, "self_attn.o_proj.weight"), new int[] {h, q});
            m.put(layer(l, "post_attention_layernorm.weight"), new int[] {1, h});
            m.put(layer(l, "mlp.gate_proj.weight"), new int[] {c.intermediateSize(), h});
            m.put(layer(l, "mlp.up_proj.weight"), new int[] {c.intermediateSize(), h});
            m.put(layer(l, "mlp.down_proj.weight"), new int[] {h, c.intermediateSize()});
        }
        m.put(FINAL_NORM, new int[] {1, h});
        if (!c.tieWordEmbeddings()) {
            m.put(LM_HEAD, new int[] {c.vocabSize(), h});
        }
        return m;
    }

    /**
     * Checks that every tensor the config implies is present with the right shape.
     *
     * @throws ModelFileException listing the first few missing or mis-shaped tensors
     */
    public static void check(java.nio.file.Path source, ModelConfig c, ModelWeights w) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, int[]> e : expectedShapes(c).entrySet()) {
            int[] s = e.getValue();
            w.find(e.getKey()).ifPresentOrElse(t -> {
                if (t.rows() != s[0] || t.cols() != s[1]) {
                    problems.add(e.getKey() + " is [" + t.rows() + ", " + t.cols() + "], expected [" + s[0] + ", " + s[1] + "]");
                }
            }, () -> problems.add(e.getKey() + " is missing (expected [" + s[0] + ", " + s[1] + "])"));
        }
        if (!problems.isEmpty()) {
            throw new ModelFileException(source, "weights do not match the model config " + c + ": "
                    + String.join("; ", problems.subList(0, Math.min(5, problems.size())))
                    + (problems.size() > 5 ? "; and " + (problems.size() - 5) + " more" : ""));
        }
    }
}
