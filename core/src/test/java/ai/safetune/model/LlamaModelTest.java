package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Forward-pass invariants on random weights: padding, batching, KV cache and LoRA must not change results. */
class LlamaModelTest {
    static final ModelConfig CFG = new ModelConfig(50, 32, 48, 2, 4, 2, 8, 10000, 1e-5, 128, false);
    static final ModelConfig TIED = new ModelConfig(50, 32, 48, 2, 4, 2, 8, 10000, 1e-5, 128, true);
    private static Backend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    static int[] tokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }

    static void assertRowsClose(float[] actual, int aOff, float[] expected, int eOff, int n, double tol, String what) {
        double worst = 0;
        int at = -1;
        for (int i = 0; i < n; i++) {
            double err = Math.abs(actual[aOff + i] - expected[eOff + i]);
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        assertThat(worst).as("%s: worst element %d", what, at).isLessThanOrEqualTo(tol);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void leftAndRightPaddedBatchesEqualUnpaddedRows(boolean tied) {
        ModelConfig cfg = tied ? TIED : CFG;
        Random rnd = new Random(1);
        try (RandomWeights w = new RandomWeights(cfg, 7, true); LlamaModel m = LlamaModel.load(cfg, w, be, false)) {
            List<int[]> rows = List.of(tokens(rnd, 5, 50), tokens(rnd, 9, 50), tokens(rnd, 1, 50));
            int v = cfg.vocabSize();
            TokenBatch left = TokenBatch.leftPadded(rows, 0);
            TokenBatch right = TokenBatch.rightPadded(rows, 0);
            float[] l = m.logits(left);
            float[] r = m.logits(right);
            for (int b = 0; b < rows.size(); b++) {
                int len = rows.get(b).length;
                float[] alone = m.logits(TokenBatch.of(rows.get(b)));
                int pad = left.length() - len;
                assertRowsClose(l, (b * left.length() + pad) * v, alone, 0, len * v, 1e-4, "left-padded row " + b);
                assertRowsClose(r, b * right.length() * v, alone, 0, len * v, 1e-4, "right-padded row " + b);
            }
        }
    }

    @Test
    void kvCacheDecodeEqualsFullRecompute() {
        Random rnd = new Random(2);
        try (RandomWeights w = new RandomWeights(CFG, 8, false); LlamaModel m = LlamaModel.load(CFG, w, be, false)) {
            int v = CFG.vocabSize();
            List<int[]> prompts = List.of(tokens(rnd, 4, 50), tokens(rnd, 7, 50));
            int steps = 5;
            int[][] full = {new int[4 + steps], new int[7 + steps]};
            try (KvCache cache = m.newCache(2, 7 + steps)) {
                TokenBatch prompt = TokenBatch.leftPadded(prompts, 0);
                float[] last = m.forward(cache, prompt, LlamaModel.Logits.LAST);
                for (int b = 0; b < 2; b++) {
                    System.arraycopy(prompts.get(b), 0, full[b], 0, prompts.get(b).length);
                }
                for (int s = 0; s < steps; s++) {
                    int[] next = tokens(rnd, 2, 50);
                    // every decoded step's logits equal a full recompute of the whole sequence
                    for (int b = 0; b < 2; b++) {
                        int len = prompts.get(b).length + s;
                        float[] ref = m.logits(TokenBatch.of(java.util.Arrays.copyOf(full[b], len)));
                        assertRowsClose(last, b * v, ref, (len - 1) * v, v, 1e-4, "step " + s + " row " + b);
                        full[b][len] = next[b];
                    }
                    int[] pos = {cache.nextPosition(0), cache.nextPosition(1)};
                    assertThat(pos).containsExactly(4 + s, 7 + s);
                    last = m.forward(cache, new TokenBatch(2, 1, next, pos, new int[] {1, 1}), LlamaModel.Logits.LAST);
                }
                assertThatThrownBy(() -> m.forward(cache, new TokenBatch(2, 1, new int[2], new int[2], new int[] {1, 1}),
                        LlamaModel.Logits.LAST)).hasMessageContaining("KV cache full");
            }
        }
    }

    @Test
    void loraEqualsMergedWeightsAndZeroBIsTheBase() {
        Random rnd = new Random(3);
        int r = 3;
        double scaling = 1.7;
        try (RandomWeights w = new RandomWeights(CFG, 9, false); LlamaModel m = LlamaModel.load(CFG, w, be, false)) {
            int[] ids = tokens(rnd, 6, 50);
            float[] base = m.logits(TokenBatch.of(ids));
            Map<String, LoraAdapter.Pair> zero = new HashMap<>();
            Map<String, LoraAdapter.Pair> real = new HashMap<>();
            for (int l = 0; l < CFG.numLayers(); l++) {
                for (String mod : List.of("self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.down_proj")) {
                    String name = "model.layers." + l + "." + mod;
                    Weight wt = w.get(name + ".weight");
                    float[] a = new float[r * wt.cols()];
                    float[] b = new float[wt.rows() * r];
                    for (int i = 0; i < a.length; i++) {
                        a[i] = (float) (0.3 * rnd.nextGaussian());
                    }
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (float) (0.3 * rnd.nextGaussian());
                    }
                    zero.put(name, new LoraAdapter.Pair(r, wt.cols(), wt.rows(), a, new float[b.length]));
                    real.put(name, new LoraAdapter.Pair(r, wt.cols(), wt.rows(), a, b));
                }
            }
            m.setAdapter(new LoraAdapter(scaling, zero));
            assertRowsClose(m.logits(TokenBatch.of(ids)), 0, base, 0, base.length, 0, "B = 0 adapter");
            m.setAdapter(new LoraAdapter(scaling, real));
            float[] withLora = m.logits(TokenBatch.of(ids));

            // merge W' = W + s·B·A and run the plain model
            try (RandomWeights merged = new RandomWeights(CFG, 9, false)) {
                for (Map.Entry<String, LoraAdapter.Pair> e : real.entrySet()) {
                    LoraAdapter.Pair p = e.getValue();
                    float[] wd = merged.get(e.getKey() + ".weight").toFloatArray();
                    for (int o = 0; o < p.out(); o++) {
                        for (int i = 0; i < p.in(); i++) {
                            double s = 0;
                            for (int k = 0; k < r; k++) {
                                s += (double) p.b()[o * r + k] * p.a()[k * p.in() + i];
                            }
                            wd[o * p.in() + i] += (float) (scaling * s);
                        }
                    }
                    merged.replace(e.getKey() + ".weight", wd);
                }
                try (LlamaModel mm = LlamaModel.load(CFG, merged, be, false)) {
                    float[] ref = mm.logits(TokenBatch.of(ids));
                    assertRowsClose(withLora, 0, ref, 0, ref.length, 1e-3, "LoRA vs merged");
                    assertThat(maxAbsDiff(withLora, base)).as("the adapter changes the logits").isGreaterThan(1e-2);
                }
            }
            m.setAdapter(null);
            assertRowsClose(m.logits(TokenBatch.of(ids)), 0, base, 0, base.length, 0, "adapter removed");
        }
    }

    @Test
    void quantizedPathAndDequantizedOnceAgree() {
        Random rnd = new Random(4);
        int[] ids = tokens(rnd, 11, 50);
        try (RandomWeights w = new RandomWeights(CFG, 10, true);
             LlamaModel tiled = LlamaModel.load(CFG, w, be, false);
             LlamaModel dense = LlamaModel.load(CFG, w, be, true)) {
            float[] a = tiled.logits(TokenBatch.of(ids));
            float[] b = dense.logits(TokenBatch.of(ids));
            assertRowsClose(a, 0, b, 0, a.length, 0, "per-tile vs dequantized once");
        }
    }

    @Test
    void shapeMismatchNamesTheTensor() {
        ModelConfig wrong = new ModelConfig(50, 32, 64, 2, 4, 2, 8, 10000, 1e-5, 128, false);
        try (RandomWeights w = new RandomWeights(CFG, 1, false)) {
            assertThatThrownBy(() -> LlamaModel.load(wrong, w, be, false))
                    .hasMessageContaining("model.layers.0.mlp.gate_proj.weight").hasMessageContaining("[64, 32]");
        }
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
