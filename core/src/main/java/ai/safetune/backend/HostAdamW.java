package ai.safetune.backend;

/**
 * The AdamW element update on host arrays, shared by {@code ai.safetune.train.AdamW} and {@link Backend#adamw}'s
 * default so the two stay bit-identical (torch.optim.AdamW, non-amsgrad, double intermediates).
 */
public final class HostAdamW {
    private HostAdamW() {
    }

    /**
     * For {@code i < n}, with {@code g' = gradScale·g[i]}: {@code p ← p·decay; m ← β1·m + (1−β1)·g';
     * v ← β2·v + (1−β2)·g'²; p ← p − stepSize·m / (√v/bc2Sqrt + eps)}.
     */
    public static void update(float[] p, float[] g, float[] m, float[] v, int n, float gradScale, float decay,
                              double stepSize, double bc2Sqrt, double beta1, double beta2, double eps) {
        for (int i = 0; i < n; i++) {
            float gi = g[i] * gradScale;
            p[i] *= decay;
            m[i] = (float) (beta1 * m[i] + (1 - beta1) * gi);
            v[i] = (float) (beta2 * v[i] + (1 - beta2) * gi * gi);
            double denom = Math.sqrt(v[i]) / bc2Sqrt + eps;
            p[i] -= (float) (stepSize * m[i] / denom);
        }
    }
}
