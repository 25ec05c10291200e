package ai.safetune.backend.cpu;

import ai.safetune.backend.AttentionShape;

/**
 * The backward ops of the CPU backend over plain arrays, each the derivative of the forward of the same
 * name in {@link CpuBackend}. Parallel only over independent outputs (row chunks, or one (row, kv-head)
 * group at a time for attention), so results do not depend on the thread count.
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
    static void rmsnorm(Parallel par, float[] dx, float[] dout, float[] x, float[] w, float[] rstd, int n, int dim) {
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * dim;
                float r = rstd[i];
                double dot = 0;
                for (int j = 0; j < dim; j++) {
                    dot += (double) dout[off + j] * w[j] * x[off + j];
                }
                float c = (float) (dot / dim) * r * r * r;
                for (int j = 0; j < dim; j++) {
                    dx[off + j] += r * dout[off + j] * w[j] - c * x[off + j];
                }
            }
        });
    }

    /** The transpose of the rotation is the rotation by the opposite angle. */
    static void rope(Parallel par, float[] dx, int[] positions, int n, int numHeads, int headDim, double theta) {
        rotate(par, dx, positions, n, numHeads, headDim, theta, -1f);
    }

    /**
     * Rotates pairs {@code (i, i + headDim/2)} of every head in place by {@code sign · positions[t]·θ^(−2i/d)}
     * (HF rotate-half; the inverse frequencies in fp32 as HF computes them): the forward RoPE with sign 1,
     * its transpose (the backward) with sign −1.
     */
    static void rotate(Parallel par, float[] xs, int[] positions, int n, int numHeads, int headDim, double theta,
                       float sign) {
        int half = headDim / 2;
        float[] invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = (float) (1.0 / (float) Math.pow(theta, (float) (2 * i) / headDim));
        }
        par.forRange(n, (s, e) -> {
            float[] cos = new float[half];
            float[] sin = new float[half];
            for (int t = s; t < e; t++) {
                for (int i = 0; i < half; i++) {
                    float angle = positions[t] * invFreq[i];
                    cos[i] = (float) Math.cos(angle);
                    sin[i] = sign * (float) Math.sin(angle);
                }
                for (int h = 0; h < numHeads; h++) {
                    int base = (t * numHeads + h) * headDim;
                    for (int i = 0; i < half; i++) {
                        float x1 = xs[base + i];
                        float x2 = xs[base + half + i];
                        xs[base + i] = x1 * cos[i] - x2 * sin[i];
                        xs[base + half + i] = x2 * cos[i] + x1 * sin[i];
                    }
                }
            }
        });
    }

    /**
     * p_ij = exp(s_ij − lse_i); dp_ij = dout_i·v_j; D_i = dout_i·out_i; ds_ij = p_ij(dp_ij − D_i);
     * dq_i = scale·Σ_j ds_ij k_j; dk_j += scale·ds_ij q_i; dv_j += p_ij dout_i. One task per (row, kv head)
     * owns that head's dk/dv, so no two threads write the same element.
     */
    static void attention(Parallel par, float[] dq, float[] dk, float[] dv, float[] dout, float[] out, float[] lse,
                          float[] q, float[] k, float[] v, int[] keyMask, AttentionShape s) {
        int hq = s.numHeads();
        int hkv = s.numKvHeads();
        int d = s.headDim();
        int group = hq / hkv;
        int tq = s.queryLen();
        int cap = s.capacity();
        float scale = (float) (1.0 / Math.sqrt(d));
        par.forEach(s.batch() * hkv, task -> {
            int b = task / hkv;
            int kvh = task % hkv;
            for (int j = 0; j < cap; j++) {
                int kOff = ((b * cap + j) * hkv + kvh) * d;
                java.util.Arrays.fill(dk, kOff, kOff + d, 0f);
                java.util.Arrays.fill(dv, kOff, kOff + d, 0f);
            }
            float[] p = new float[s.keyLen()];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int i = 0; i < tq; i++) {
                    int qOff = ((b * tq + i) * hq + h) * d;
                    float l = lse[(b * tq + i) * hq + h];
                    int last = s.queryStart() + i;
                    java.util.Arrays.fill(dq, qOff, qOff + d, 0f);
                    if (l == Float.NEGATIVE_INFINITY) {
                        continue; // a query that saw no key produced zeros: no gradient flows
                    }
                    float di = 0f;
                    for (int c = 0; c < d; c++) {
                        di += dout[qOff + c] * out[qOff + c];
                    }
                    for (int j = 0; j <= last; j++) {
                        if (keyMask != null && keyMask[b * cap + j] == 0) {
                            p[j] = 0f;
                            continue;
                        }
                        int kOff = ((b * cap + j) * hkv + kvh) * d;
                        float dot = 0f;
                        for (int c = 0; c < d; c++) {
                            dot += q[qOff + c] * k[kOff + c];
                        }
                        p[j] = (float) Math.exp(dot * scale - l);
                    }
                    for (int j = 0; j <= last; j++) {
                        float pj = p[j];
                        if (pj == 0f) {
                            continue;
                        }
                        int kOff = ((b * cap + j) * hkv + kvh) * d;
                        float dp = 0f;
                        for (int c = 0; c < d; c++) {
                            dp += dout[qOff + c] * v[kOff + c];
                            dv[kOff + c] += pj * dout[qOff + c];
                        }
                        float ds = pj * (dp - di) * scale;
                        for (int c = 0; c < d; c++) {
                            dq[qOff + c] += ds * k[kOff + c];
                            dk[kOff + c] += ds * q[qOff + c];
                        }
                    }
                }
            }
        });
    }

    /** silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
    static void swiglu(Parallel par, float[] dgate, float[] dup, float[] dout, float[] gate, float[] up, int n) {
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                float g = gate[i];
                float sig = (float) (1.0 / (1.0 + Math.exp(-g)));
                float silu = g * sig;
                float go = dout[i];
                float u = up[i];
                dup[i] = go * silu;
                dgate[i] = go * u * sig * (1f + g * (1f - sig));
            }
        });
    }

    static void crossEntropy(Parallel par, float[] dlogits, float[] logits, int[] targets, int n, int vocab, float scale) {
        par.forRange(n, (s, e) -> {
            for (int i = s; i < e; i++) {
                int off = i * vocab;
                int t = targets[i];
                if (t < 0) {
                    java.util.Arrays.fill(dlogits, off, off + vocab, 0f);
                    continue;
                }
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < vocab; j++) {
                    max = Math.max(max, logits[off + j]);
                }
                double sum = 0;
                for (int j = 0; j < vocab; j++) {
                    sum += Math.exp(logits[off + j] - max);
                }
                float lse = (float) (max + Math.log(sum));
                for (int j = 0; j < vocab; j++) {
                    dlogits[off + j] = scale * (float) Math.exp(logits[off + j] - lse);
                }
                dlogits[off + t] -= scale;
            }
        });
    }
}
