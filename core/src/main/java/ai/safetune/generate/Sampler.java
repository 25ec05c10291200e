package ai.safetune.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from one row of logits: arg-max, or temperature → top-k → top-p → draw. */
public final class Sampler {
    private final GenerationOptions options;
    private final SplittableRandom random;

    public Sampler(GenerationOptions options, long seed) {
        this.options = options;
        this.random = new SplittableRandom(seed);
    }

    /** Arg-max of {@code logits[off, off+n)}; ties go to the lowest id (as {@code torch.argmax}). */
    public static int argmax(float[] logits, int off, int n) {
        int best = 0;
        float bestV = logits[off];
        for (int i = 1; i < n; i++) {
            if (logits[off + i] > bestV) {
                bestV = logits[off + i];
                best = i;
            }
        }
        return best;
    }

    public int next(float[] logits, int off, int n) {
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(logits[off + i])) {
                throw new IllegalStateException("logit of token " + i + " is NaN");
            }
        }
        if (options.greedy()) {
            return argmax(logits, off, n);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[off + i]);
        }
        // candidates sorted by probability, descending: key = (probability bits, id), positive floats sort by bits
        double invT = 1.0 / options.temperature();
        long[] keys = new long[n];
        int m = 0;
        double total = 0;
        for (int i = 0; i < n; i++) {
            double p = Math.exp((logits[off + i] - max) * invT);
            total += p;
            float pf = (float) p;
            if (pf > 0f) {
                keys[m++] = ((long) Float.floatToIntBits(pf) << 32) | (Integer.MAX_VALUE - i);
            }
        }
        Arrays.sort(keys, 0, m);
        int keep = m;
        if (options.topK() > 0) {
            keep = Math.min(keep, options.topK());
        }
        // nucleus: the smallest prefix whose mass reaches topP (of the whole distribution, as HF does)
        double cum = 0;
        int nucleus = 0;
        double kept = 0;
        for (int j = 0; j < keep; j++) {
            double p = Float.intBitsToFloat((int) (keys[m - 1 - j] >>> 32));
            cum += p / total;
            kept += p;
            nucleus++;
            if (cum >= options.topP()) {
                break;
            }
        }
        double r = random.nextDouble() * kept;
        double acc = 0;
        for (int j = 0; j < nucleus; j++) {
            long key = keys[m - 1 - j];
            acc += Float.intBitsToFloat((int) (key >>> 32));
            if (r < acc || j == nucleus - 1) {
                return Integer.MAX_VALUE - (int) (key & 0xFFFFFFFFL);
            }
        }
        throw new AssertionError("unreachable");
    }
}
