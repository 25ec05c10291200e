package ai.safetune.cli;

/** Top-k selection and log-sum-exp over one row of logits. */
final class TopK {
    private TopK() {
    }

    /** Ids of the {@code k} largest values of {@code x[off, off+n)}, largest first (ties: lower id first). */
    static int[] of(float[] x, int off, int n, int k) {
        int[] best = new int[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            if (size == k && v <= x[off + best[k - 1]]) {
                continue;
            }
            int j = size < k ? size++ : k - 1;
            while (j > 0 && v > x[off + best[j - 1]]) {
                best[j] = best[j - 1];
                j--;
            }
            best[j] = i;
        }
        return best;
    }

    /** log Σ exp, accumulated in double. */
    static float logSumExp(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.exp(x[off + i] - max);
        }
        return (float) (max + Math.log(s));
    }
}
