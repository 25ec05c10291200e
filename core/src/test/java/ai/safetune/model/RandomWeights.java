package ai.safetune.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/** In-memory random Llama weights for tests; {@code tiled} weights take the per-tile expansion path. */
public final class RandomWeights implements ModelWeights {
    private final Map<String, Weight> weights = new LinkedHashMap<>();

    /** A weight held as a float array; storage "F32" (dense path) or "TEST" (expanded per tile). */
    public record ArrayWeight(String name, int rows, int cols, float[] data, String storageType) implements Weight {
        @Override
        public void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset) {
            if (rowStart < 0 || rowCount < 0 || rowStart + rowCount > rows) {
                throw new IndexOutOfBoundsException(name + ": rows " + rowStart + "+" + rowCount + " of " + rows);
            }
            System.arraycopy(data, rowStart * cols, dst, dstOffset, rowCount * cols);
        }
    }

    public RandomWeights(ModelConfig cfg, long seed, boolean tiled) {
        Random rnd = new Random(seed);
        int c = cfg.hiddenSize();
        int q = cfg.numHeads() * cfg.headDim();
        int kv = cfg.numKvHeads() * cfg.headDim();
        int f = cfg.intermediateSize();
        String type = tiled ? "TEST" : "F32";
        put("model.embed_tokens.weight", cfg.vocabSize(), c, rnd, 1.0, 0, type);
        if (!cfg.tieWordEmbeddings()) {
            put("lm_head.weight", cfg.vocabSize(), c, rnd, 0.2, 0, type);
        }
        put("model.norm.weight", 1, c, rnd, 0.1, 1, "F32");
        for (int l = 0; l < cfg.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            put(p + "input_layernorm.weight", 1, c, rnd, 0.1, 1, "F32");
            put(p + "post_attention_layernorm.weight", 1, c, rnd, 0.1, 1, "F32");
            put(p + "self_attn.q_proj.weight", q, c, rnd, 0.3, 0, type);
            put(p + "self_attn.k_proj.weight", kv, c, rnd, 0.3, 0, type);
            put(p + "self_attn.v_proj.weight", kv, c, rnd, 0.3, 0, type);
            put(p + "self_attn.o_proj.weight", c, q, rnd, 0.3, 0, type);
            put(p + "mlp.gate_proj.weight", f, c, rnd, 0.3, 0, type);
            put(p + "mlp.up_proj.weight", f, c, rnd, 0.3, 0, type);
            put(p + "mlp.down_proj.weight", c, f, rnd, 0.3, 0, type);
        }
    }

    private void put(String name, int rows, int cols, Random rnd, double std, double mean, String type) {
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (mean + std * rnd.nextGaussian());
        }
        weights.put(name, new ArrayWeight(name, rows, cols, d, type));
    }

    /** Replaces a weight (e.g. with a merged LoRA delta). */
    public void replace(String name, float[] data) {
        Weight w = get(name);
        weights.put(name, new ArrayWeight(name, w.rows(), w.cols(), data, w.storageType()));
    }

    @Override
    public Optional<Weight> find(String hfName) {
        return Optional.ofNullable(weights.get(hfName));
    }

    @Override
    public Weight get(String hfName) {
        Weight w = weights.get(hfName);
        if (w == null) {
            throw new IllegalArgumentException("no tensor " + hfName + " in the random test weights");
        }
        return w;
    }

    @Override
    public Set<String> names() {
        return weights.keySet();
    }

    @Override
    public void close() {
    }
}
