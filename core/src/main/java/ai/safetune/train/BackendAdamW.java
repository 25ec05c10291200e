package ai.safetune.train;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link AdamW} whose moments live on a {@link Backend} next to the parameters and gradients, updated by
 * {@link Backend#adamw} and measured by {@link Backend#sumOfSquares}: on a GPU backend nothing but the
 * gradient norm crosses to the host per step; on the CPU backend (the interface's host defaults) the
 * arithmetic is exactly {@link AdamW}'s, so results are bit-identical to the host optimizer.
 * <p>Moments are copied to the host only for checkpoints ({@link #firstMoments()}) and back on resume
 * ({@link #restore}). Closes its moment buffers. Not thread-safe.
 */
public final class BackendAdamW implements AutoCloseable {
    private final Backend backend;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final List<Tensor> m = new ArrayList<>();
    private final List<Tensor> v = new ArrayList<>();
    private final int[] sizes;
    private long step;

    /**
     * @param sizes the element count of every parameter tensor, in the order {@link #step} receives them
     */
    public BackendAdamW(Backend backend, int[] sizes, double beta1, double beta2, double eps, double weightDecay) {
        AdamW.checkArguments(beta1, beta2, eps, weightDecay);
        this.backend = backend;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.sizes = sizes.clone();
        try {
            for (int s : sizes) {
                m.add(backend.allocate(s));
                v.add(backend.allocate(s));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Steps taken so far. */
    public long stepCount() {
        return step;
    }

    /** The global L2 norm of {@code grads} (before clipping), as {@link AdamW#clipGradNorm} measures it. */
    public double gradNorm(List<Tensor> grads) {
        return Math.sqrt(backend.sumOfSquares(grads));
    }

    /**
     * The factor torch's {@code clip_grad_norm_} multiplies the gradients by: {@code maxNorm / (norm + 1e-6)}
     * when that is below 1, else 1 (also when {@code maxNorm <= 0} or the norm is not finite), rounded to
     * float exactly as {@link AdamW#clipGradNorm} applies it.
     */
    public static float clipScale(double norm, double maxNorm) {
        if (maxNorm > 0 && Double.isFinite(norm)) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                return (float) coef;
            }
        }
        return 1f;
    }

    /**
     * One update of {@code params} with learning rate {@code lr}, each gradient multiplied by
     * {@code gradScale} first (the clipping factor of {@link #clipScale}); the gradients are not changed.
     */
    public void step(List<Tensor> params, List<Tensor> grads, double lr, float gradScale) {
        if (params.size() != sizes.length || grads.size() != sizes.length) {
            throw new IllegalArgumentException("AdamW was built for " + sizes.length + " tensors, got " + params.size()
                    + " parameters and " + grads.size() + " gradients");
        }
        for (int t = 0; t < sizes.length; t++) {
            if (params.get(t).size() != sizes[t] || grads.get(t).size() != sizes[t]) {
                throw new IllegalArgumentException("AdamW tensor " + t + ": expected " + sizes[t] + " values, got "
                        + params.get(t).size() + " parameters and " + grads.get(t).size() + " gradients");
            }
        }
        step++;
        backend.adamw(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, step, gradScale);
    }

    /** Host copies of the first moments, for checkpoints. */
    public float[][] firstMoments() {
        return host(m);
    }

    /** Host copies of the second moments, for checkpoints. */
    public float[][] secondMoments() {
        return host(v);
    }

    /** Restores moments and the step count saved by a checkpoint. */
    public void restore(float[][] firstMoments, float[][] secondMoments, long stepCount) {
        if (firstMoments.length != sizes.length || secondMoments.length != sizes.length) {
            throw new IllegalArgumentException("checkpoint has moments for " + firstMoments.length
                    + " tensors, the optimizer has " + sizes.length);
        }
        for (int i = 0; i < sizes.length; i++) {
            if (firstMoments[i].length != sizes[i] || secondMoments[i].length != sizes[i]) {
                throw new IllegalArgumentException("checkpoint moment " + i + " has " + firstMoments[i].length
                        + " values, expected " + sizes[i]);
            }
        }
        if (stepCount < 0) {
            throw new IllegalArgumentException("step count must be >= 0, got " + stepCount);
        }
        for (int i = 0; i < sizes.length; i++) {
            backend.write(m.get(i), 0, firstMoments[i], 0, sizes[i]);
            backend.write(v.get(i), 0, secondMoments[i], 0, sizes[i]);
        }
        this.step = stepCount;
    }

    private float[][] host(List<Tensor> ts) {
        float[][] out = new float[ts.size()][];
        for (int i = 0; i < ts.size(); i++) {
            out[i] = new float[sizes[i]];
            backend.read(ts.get(i), 0, out[i], 0, sizes[i]);
        }
        return out;
    }

    @Override
    public void close() {
        for (Tensor t : m) {
            t.close();
        }
        for (Tensor t : v) {
            t.close();
        }
        m.clear();
        v.clear();
    }
}
