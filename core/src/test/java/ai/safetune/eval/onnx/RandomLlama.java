package ai.safetune.eval.onnx;

import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * A small random Llama (HF names and layout) and a plain float64 forward pass written straight from the
 * HF modeling code, independent of the ONNX graph, to test the export against.
 */
public final class RandomLlama implements ModelWeights {

    record ArrayWeight(String name, int rows, int cols, float[] data) implements Weight {
        @Override
        public String storageType() {
            return "F32";
        }

        @Override
        public void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset) {
            System.arraycopy(data, rowStart * cols, dst, dstOffset, rowCount * cols);
        }
    }

    public final ModelConfig cfg;
    final Map<String, ArrayWeight> w = new LinkedHashMap<>();

    public RandomLlama(ModelConfig cfg, long seed) {
        this.cfg = cfg;
        Random r = new Random(seed);
        int h = cfg.hiddenSize();
        add("model.embed_tokens.weight", cfg.vocabSize(), h, r, 0.5, 0);
        for (int l = 0; l < cfg.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            add(p + "input_layernorm.weight", 1, h, r, 0.1, 1);
            add(p + "post_attention_layernorm.weight", 1, h, r, 0.1, 1);
            add(p + "self_attn.q_proj.weight", cfg.numHeads() * cfg.headDim(), h, r, 0.3, 0);
            add(p + "self_attn.k_proj.weight", cfg.numKvHeads() * cfg.headDim(), h, r, 0.3, 0);
            add(p + "self_attn.v_proj.weight", cfg.numKvHeads() * cfg.headDim(), h, r, 0.3, 0);
            add(p + "self_attn.o_proj.weight", h, cfg.numHeads() * cfg.headDim(), r, 0.3, 0);
            add(p + "mlp.gate_proj.weight", cfg.intermediateSize(), h, r, 0.3, 0);
            add(p + "mlp.up_proj.weight", cfg.intermediateSize(), h, r, 0.3, 0);
            add(p + "mlp.down_proj.weight", h, cfg.intermediateSize(), r, 0.3, 0);
        }
        add("model.norm.weight", 1, h, r, 0.1, 1);
        if (!cfg.tieWordEmbeddings()) {
            add("lm_head.weight", cfg.vocabSize(), h, r, 0.5, 0);
        }
    }

    public static ModelConfig config(boolean tied) {
        return config(tied, 4);
    }

    /** The same shape with another head size (ONNX Runtime's GroupQueryAttention needs a multiple of 8). */
    public static ModelConfig config(boolean tied, int headDim) {
        return new ModelConfig(61, 16, 40, 2, 4, 2, headDim, 10000, 1e-6, 64, tied);
    }

    private void add(String name, int rows, int cols, Random r, double std, double mean) {
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (mean + std * r.nextGaussian());
        }
        w.put(name, new ArrayWeight(name, rows, cols, d));
    }

    @Override
    public Optional<Weight> find(String hfName) {
        return Optional.ofNullable(w.get(hfName));
    }

    @Override
    public Weight get(String hfName) {
        return find(hfName).orElseThrow(() -> new IllegalArgumentException("no tensor " + hfName));
    }

    @Override
    public Set<String> names() {
        return w.keySet();
    }

    @Override
    public void close() {
    }

    /** Logits [T][V] of one unpadded sequence with positions 0..T-1. */
    /** log p(continuation | context) in float64: the reference for the ONNX scorers. */
    public double logLikelihood(int[] context, int[] continuation) {
        int[] all = new int[context.length + continuation.length];
        System.arraycopy(context, 0, all, 0, context.length);
        System.arraycopy(continuation, 0, all, context.length, continuation.length);
        double[][] lg = forward(all);
        double ll = 0;
        for (int j = 0; j < continuation.length; j++) {
            double[] r = lg[context.length - 1 + j];
            double max = java.util.Arrays.stream(r).max().orElseThrow();
            double z = 0;
            for (double x : r) {
                z += Math.exp(x - max);
            }
            ll += r[continuation[j]] - max - Math.log(z);
        }
        return ll;
    }

    public double[][] forward(int[] ids) {
        int t = ids.length;
        int h = cfg.hiddenSize();
        int nH = cfg.numHeads();
        int kvH = cfg.numKvHeads();
        int d = cfg.headDim();
        double[][] x = new double[t][h];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < h; j++) {
                x[i][j] = w.get("model.embed_tokens.weight").data[ids[i] * h + j];
            }
        }
        for (int l = 0; l < cfg.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] hn = rms(x, p + "input_layernorm.weight");
            double[][] q = lin(hn, p + "self_attn.q_proj.weight");
            double[][] k = lin(hn, p + "self_attn.k_proj.weight");
            double[][] v = lin(hn, p + "self_attn.v_proj.weight");
            for (int i = 0; i < t; i++) {
                rope(q[i], nH, i);
                rope(k[i], kvH, i);
            }
            double[][] o = new double[t][nH * d];
            for (int head = 0; head < nH; head++) {
                int kv = head / (nH / kvH);
                for (int i = 0; i < t; i++) {
                    double[] s = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += q[i][head * d + c] * k[j][kv * d + c];
                        }
                        s[j] = dot / Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        for (int c = 0; c < d; c++) {
                            o[i][head * d + c] += s[j] / sum * v[j][kv * d + c];
                        }
                    }
                }
            }
            add(x, lin(o, p + "self_attn.o_proj.weight"));
            double[][] h2 = rms(x, p + "post_attention_layernorm.weight");
            double[][] g = lin(h2, p + "mlp.gate_proj.weight");
            double[][] u = lin(h2, p + "mlp.up_proj.weight");
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < g[i].length; j++) {
                    g[i][j] = g[i][j] / (1 + Math.exp(-g[i][j])) * u[i][j];
                }
            }
            add(x, lin(g, p + "mlp.down_proj.weight"));
        }
        double[][] xn = rms(x, "model.norm.weight");
        return lin(xn, cfg.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight");
    }

    private void rope(double[] vec, int heads, int pos) {
        int d = cfg.headDim();
        for (int hd = 0; hd < heads; hd++) {
            for (int i = 0; i < d / 2; i++) {
                double a = pos * Math.pow(cfg.ropeTheta(), -2.0 * i / d);
                double x1 = vec[hd * d + i];
                double x2 = vec[hd * d + i + d / 2];
                vec[hd * d + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                vec[hd * d + i + d / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
            }
        }
    }

    private double[][] rms(double[][] x, String name) {
        float[] g = w.get(name).data;
        double[][] out = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double ss = 0;
            for (double v : x[i]) {
                ss += v * v;
            }
            double inv = 1 / Math.sqrt(ss / x[i].length + cfg.rmsNormEps());
            out[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                out[i][j] = x[i][j] * inv * g[j];
            }
        }
        return out;
    }

    private double[][] lin(double[][] x, String name) {
        ArrayWeight m = w.get(name);
        double[][] out = new double[x.length][m.rows];
        for (int i = 0; i < x.length; i++) {
            for (int r = 0; r < m.rows; r++) {
                double s = 0;
                for (int c = 0; c < m.cols; c++) {
                    s += x[i][c] * m.data[r * m.cols + c];
                }
                out[i][r] = s;
            }
        }
        return out;
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[i].length; j++) {
                x[i][j] += y[i][j];
            }
        }
    }
}
