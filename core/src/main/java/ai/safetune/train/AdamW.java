package ai.safetune.train;

import ai.safetune.backend.HostAdamW;

import java.util.Arrays;
import java.util.List;

/**
 * AdamW exactly as {@code torch.optim.AdamW} (non-amsgrad, non-fused) updates each parameter tensor:
 * <pre>
 * p ← p − lr·wd·p                      (decoupled weight decay)
 * m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
 * p ← p − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps)
 * </pre>
 * The moments are kept here (one pair of arrays per parameter tensor) so checkpoints can save and
 * restore them; nothing is allocated per step.
 */
public final class AdamW {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final float[][] m;
    private final float[][] v;
    private long step;

    /**
     * @param sizes the element count of every parameter tensor, in the order {@link #step} receives them
     */
    public AdamW(int[] sizes, double beta1, double beta2, double eps, double weightDecay) {
        checkArguments(beta1, beta2, eps, weightDecay);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = new float[sizes.length][];
        this.v = new float[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            m[i] = new float[sizes[i]];
            v[i] = new float[sizes[i]];
        }
    }

    /** The hyper-parameter checks shared with {@link BackendAdamW}. */
    static void checkArguments(double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("AdamW betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("AdamW eps must be > 0, got " + eps);
        }
        if (!(weightDecay >= 0) || !Double.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }
    }

    /** torch's defaults: betas (0.9, 0.999), eps 1e-8, the given weight decay. */
    public static AdamW withDefaults(int[] sizes, double weightDecay) {
        return new AdamW(sizes, 0.9, 0.999, 1e-8, weightDecay);
    }

    /** Steps taken so far. */
    public long stepCount() {
        return step;
    }

    /** Applies one update with learning rate {@code lr} to {@code params} given {@code grads} (same order as the sizes). */
    public void step(List<float[]> params, List<float[]> grads, double lr) {
        if (params.size() != m.length || grads.size() != m.length) {
            throw new IllegalArgumentException("AdamW was built for " + m.length + " tensors, got " + params.size()
                    + " parameters and " + grads.size() + " gradients");
        }
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        double stepSize = lr / bc1;
        float decay = (float) (1 - lr * weightDecay);
        for (int t = 0; t < m.length; t++) {
            float[] p = params.get(t);
            float[] g = grads.get(t);
            float[] mt = m[t];
            float[] vt = v[t];
            if (p.length != mt.length || g.length != mt.length) {
                throw new IllegalArgumentException("AdamW tensor " + t + ": expected " + mt.length + " values, got "
                        + p.length + " parameters and " + g.length + " gradients");
            }
            HostAdamW.update(p, g, mt, vt, p.length, 1f, decay, stepSize, bc2Sqrt, beta1, beta2, eps);
        }
    }

    /** Copies of the first and second moments, for checkpoints. */
    public float[][] firstMoments() {
        return deepCopy(m);
    }

    public float[][] secondMoments() {
        return deepCopy(v);
    }

    /** Restores moments and the step count saved by a checkpoint. */
    public void restore(float[][] firstMoments, float[][] secondMoments, long stepCount) {
        if (firstMoments.length != m.length || secondMoments.length != v.length) {
            throw new IllegalArgumentException("checkpoint has moments for " + firstMoments.length
                    + " tensors, the optimizer has " + m.length);
        }
        for (int i = 0; i < m.length; i++) {
            if (firstMoments[i].length != m[i].length || secondMoments[i].length != v[i].length) {
                throw new IllegalArgumentException("checkpoint moment " + i + " has " + firstMoments[i].length
                        + " values, expected " + m[i].length);
            }
            System.arraycopy(firstMoments[i], 0, m[i], 0, m[i].length);
            System.arraycopy(secondMoments[i], 0, v[i], 0, v[i].length);
        }
        if (stepCount < 0) {
            throw new IllegalArgumentException("step count must be >= 0, got " + stepCount);
        }
        this.step = stepCount;
    }

    /**
     * Scales every gradient so their total L2 norm is at most {@code maxNorm} (torch's
     * {@code clip_grad_norm_}: factor {@code maxNorm / (norm + 1e-6)} clamped to 1) and returns the norm
     * before clipping. {@code maxNorm <= 0} only measures.
     */
    public static double clipGradNorm(List<float[]> grads, double maxNorm) {
        double sum = 0;
        for (float[] g : grads) {
            for (float x : g) {
                sum += (double) x * x;
            }
        }
        double norm = Math.sqrt(sum);
        if (maxNorm > 0 && Double.isFinite(norm)) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                float c = (float) coef;
                for (float[] g : grads) {
                    for (int i = 0; i < g.length; i++) {
                        g[i] *= c;
                    }
                }
            }
        }
        return norm;
    }

    private static float[][] deepCopy(float[][] a) {
        float[][] out = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            out[i] = Arrays.copyOf(a[i], a[i].length);
        }
        return out;
    }
}
