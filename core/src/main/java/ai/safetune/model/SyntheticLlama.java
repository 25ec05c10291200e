package ai.safetune.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Llama models with random weights in real shapes, for benchmarks on machines the real files cannot reach (a GPU
 * machine gets the shapes, not the gigabytes): the named shapes below and seeded weights, uniform with HF's
 * initializer std 0.02, norms at 1, optionally rounded to bf16 and reported as BF16 storage (so a GPU backend keeps
 * them as bf16, as a bf16 checkpoint would be kept).
 */
public final class SyntheticLlama {
    /** The shape names {@link #shape} knows. */
    public static final List<String> SHAPES = List.of("smollm2-135m", "llama-1b", "llama-1b-128k", "tiny");

    private SyntheticLlama() {
    }

    /**
     * {@code smollm2-135m}; {@code llama-1b}: Llama-3.2-1B widths with SmolLM2's 49152 vocabulary (tied head, as
     * Llama-3.2-1B ties it); {@code llama-1b-128k}: the same with Llama 3's 128256 vocabulary; {@code tiny}: a
     * 2-layer toy for dry runs.
     */
    public static ModelConfig shape(String name) {
        return switch (name) {
            case "smollm2-135m" -> new ModelConfig(49152, 576, 1536, 30, 9, 3, 64, 100000, 1e-5, 8192, true);
            case "llama-1b" -> new ModelConfig(49152, 2048, 8192, 16, 32, 8, 64, 500000, 1e-5, 8192, true);
            case "llama-1b-128k" -> new ModelConfig(128256, 2048, 8192, 16, 32, 8, 64, 500000, 1e-5, 8192, true);
            case "tiny" -> new ModelConfig(512, 64, 128, 2, 4, 2, 16, 10000, 1e-5, 512, true);
            default -> throw new IllegalArgumentException("unknown shape " + name
                    + " (expected smollm2-135m, llama-1b, llama-1b-128k or tiny)");
        };
    }

    /** Every tensor {@link LlamaLayout#expectedShapes} lists for {@code c}, seeded; generated in parallel. */
    public static ModelWeights weights(ModelConfig c, boolean bf16, long seed) {
        Map<String, int[]> shapes = LlamaLayout.expectedShapes(c);
        List<String> names = new ArrayList<>(shapes.keySet());
        Weight[] ws = new Weight[names.size()];
        IntStream.range(0, names.size()).parallel().forEach(i -> {
            String n = names.get(i);
            int[] s = shapes.get(n);
            float[] v = new float[s[0] * s[1]];
            if (s[0] == 1) {
                Arrays.fill(v, 1f);  // norms
            } else {
                SplittableRandom r = new SplittableRandom(seed * 1000003L + i);
                double bound = 0.02 * Math.sqrt(3);
                for (int j = 0; j < v.length; j++) {
                    float x = (float) ((r.nextDouble() * 2 - 1) * bound);
                    v[j] = bf16 ? Float.intBitsToFloat(Float.floatToRawIntBits(x) & 0xffff0000) : x;
                }
            }
            FloatWeight f = new FloatWeight(n, s[0], s[1], v);
            ws[i] = bf16 && s[0] > 1 ? new Bf16Weight(f) : f;
        });
        Map<String, Weight> m = new LinkedHashMap<>();
        for (int i = 0; i < ws.length; i++) {
            m.put(names.get(i), ws[i]);
        }
        return new MapWeights("random " + c, m, () -> { });
    }

    /** {@code batch} full rows of {@code seq} uniformly random token ids (positions 0..seq-1, no padding), seeded. */
    public static TokenBatch randomBatch(ModelConfig c, int batch, int seq, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = batch * seq;
        int[] ids = new int[n];
        int[] pos = new int[n];
        int[] mask = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(c.vocabSize());
            pos[i] = i % seq;
            mask[i] = 1;
        }
        return new TokenBatch(batch, seq, ids, pos, mask);
    }

    /** A weight whose values are exact in bf16 and that says so ({@code storageType() = "BF16"}). */
    public record Bf16Weight(FloatWeight f) implements Weight {
        public String name() {
            return f.name();
        }

        public int rows() {
            return f.rows();
        }

        public int cols() {
            return f.cols();
        }

        public String storageType() {
            return "BF16";
        }

        public void dequantizeRows(int rowStart, int rowCount, float[] dst, int dstOffset) {
            f.dequantizeRows(rowStart, rowCount, dst, dstOffset);
        }
    }
}
