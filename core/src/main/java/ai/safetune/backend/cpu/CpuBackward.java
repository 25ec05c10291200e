package ai.safetune.backend.cpu;

/**
 * The backward ops of the CPU backend over plain arrays, each the derivative of the forward of the same
 * name in {@link CpuBackend}. Parallel only over independent outputs (row chunks, or one (row, kv-head)
 * group at a time for attention, see {@link Attention}), so results do not depend on the thread count.
 */
final class CpuBackward {
    private CpuBackward() {
    }

    /** {@code dx[n, K] (+)= dout[n, M] · W[M, K]}, W expanded per row block when quantized. */
    static void matmulFrozen(Parallel par, float[] dx, float[] dout, int n, Gemm.Rows w, int M, int K, boolean accumulate) {
        float[] dense = w.dense();
        int chunks = Math.max(1, Math.min(n, par.threads() * 2));
        par.forEach(chunks, c -> {
            int i0 = (int) ((long) n * c / chunks);
            int i1 = (int) ((long) n * (c + 1) / chunks);
            if (!accumulate) {
                java.util.Arrays.fill(dx, i0 * K, i1 * K, 0f);
            }
            float[] tile = dense != null ? dense : new float[Gemm.NB * K];
            for (int j0 = 0; j0 < M; j0 += Gemm.NB) {
                int nb = Math.min(Gemm.NB, M - j0);
                int tileOff;
                if (dense != null) {
                    tileOff = j0 * K;
                } else {
                    w.rows(j0, nb, tile, 0);
                    tileOff = 0;
                }
                for (int i = i0; i < i1; i++) {
                    int xo = i * K;
                    int go = i * M + j0;
                    for (int jj = 0; jj < nb; jj++) {
                        float g = dout[go + jj];
                        if (g == 0f) {
                            continue;
                        }
                        int wo = tileOff + jj * K;
                        for (int k = 0; k < K; k++) {
                            dx[xo + k] += g * tile[wo + k];
                        }
                    }
                }
            }
        });
    }

    /**
     * y = w ⊙ (x·r), r = 1/sqrt(mean(x²)+eps): with g = dout ⊙ w,
     * dx = r·g − x·r³·(g·x)/dim.
     */
    static void rmsnorm(Parallel par, OpKernel ops, float[] dx, float[] dout, float[] x, float[] w, float[] rstd, int n,
                        int dim) {
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * dim;
                float r = rstd[i];
                float c = (float) (ops.normDot(dout, w, x, off, dim) / dim) * r * r * r;
                ops.normBackwardRow(dx, dout, w, x, off, dim, r, c);
            }
        });
    }

    /**
     * Rotates pairs {@code (i, i + headDim/2)} of every head in place by {@code sign · positions[t]·θ^(−2i/d)}
     * (HF rotate-half; the inverse frequencies in fp32 as HF computes them): the forward RoPE with sign 1,
     * its transpose (the backward: the rotation by the opposite angle) with sign −1.
     */
    static void rotate(Parallel par, OpKernel ops, RopeTable table, float[] xs, int[] positions, int n, int numHeads,
                       int headDim, double theta, float sign) {
        int half = headDim / 2;
        RopeTable.Angles a = table.angles(positions, n, headDim, theta);
        par.forRange(n, (s, e) -> {
            for (int t = s; t < e; t++) {
                int co = t * half;
                for (int h = 0; h < numHeads; h++) {
                    ops.rotate(xs, (t * numHeads + h) * headDim, half, a.cos(), a.sin(), co, sign);
                }
            }
        });
    }

    /** silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
    static void swiglu(Parallel par, OpKernel ops, float[] dgate, float[] dup, float[] dout, float[] gate, float[] up,
                       int n) {
        par.forRange(n, (s, e) -> ops.swigluBackward(dgate, dup, dout, gate, up, s, e));
    }

    /**
     * dlogits = scale·(softmax − onehot(target)) per row, zero rows for ignored targets; returns nothing but, when
     * {@code losses} is not null, also writes each row's loss (lse − logit at the target), read before the
     * row is overwritten: the loss and its gradient in one sweep of the logits.
     */
    static void crossEntropy(Parallel par, OpKernel ops, float[] losses, float[] dlogits, float[] logits, int[] targets,
                             int n, int vocab, float scale) {
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * vocab;
                int t = targets[i];
                if (t < 0) {
                    java.util.Arrays.fill(dlogits, off, off + vocab, 0f);
                    if (losses != null) {
                        losses[i] = 0f;
                    }
                    continue;
                }
                float target = logits[off + t];
                if (dlogits != logits) {
                    System.arraycopy(logits, off, dlogits, off, vocab);
                }
                float lse = ops.crossEntropyRow(dlogits, off, vocab, true, scale);
                if (losses != null) {
                    losses[i] = lse - target;
                }
                dlogits[off + t] -= scale;
            }
        });
    }
}
