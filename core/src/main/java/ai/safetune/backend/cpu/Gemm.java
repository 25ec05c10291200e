package ai.safetune.backend.cpu;

/**
 * {@code out[n, M] (+)= scale · x[n, K] · W[M, K]ᵀ} in plain Java, written so that HotSpot C2 vectorizes the
 * inner loops (SuperWord): a block of W rows is expanded (dequantized) into a scratch tile, transposed to
 * {@code [K][nb]}, and each group of 4 x-rows accumulates {@code c[jj] += Σ_{4 k} a·b[jj]} over contiguous
 * {@code jj} — long unit-stride loops C2 turns into SIMD FMAs. Few rows (decode) use dot products on the
 * untransposed tile instead, since transposing would cost as much as the product.
 * Parallel over (W row blocks × x row chunks).
 */
final class Gemm {
    /** W rows per tile: the transposed tile (K × NB floats) stays in L2 for K up to a few thousand. */
    static final int NB = 64;
    /** Below this many x rows, dot products beat transposing the tile. */
    static final int SMALL_N = 4;

    /** Where W's rows come from (expanded per tile when quantized). */
    interface Rows {
        /** Dense fp32 [M, K] or null. */
        float[] dense();

        void rows(int row, int count, float[] dst, int off);
    }

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    private static float[] scratch(int which, int size) {
        float[][] s = SCRATCH.get();
        if (s[which].length < size) {
            s[which] = new float[size];
        }
        return s[which];
    }

    private Gemm() {
    }

    static void matmul(Parallel par, float[] out, float[] x, int n, int K, Rows w, int M, float scale,
                       boolean accumulate) {
        int blocks = (M + NB - 1) / NB;
        int rowChunks = 1;
        if (n >= SMALL_N * 8) {
            // enough row chunks that every thread has several tasks; each chunk re-expands its tile once
            int want = par.threads() * 4;
            rowChunks = Math.max(1, Math.min((want + blocks - 1) / blocks, n / (SMALL_N * 4)));
        }
        int chunks = rowChunks;
        par.forEach(blocks * chunks, task -> {
            int blk = task / chunks;
            int ch = task % chunks;
            int j0 = blk * NB;
            int nb = Math.min(NB, M - j0);
            int i0 = (int) ((long) n * ch / chunks);
            int i1 = (int) ((long) n * (ch + 1) / chunks);
            float[] dense = w.dense();
            float[] tile;
            int tileOff;
            if (dense != null) {
                tile = dense;
                tileOff = j0 * K;
            } else {
                tile = scratch(0, nb * K);
                tileOff = 0;
                w.rows(j0, nb, tile, 0);
            }
            if (i1 - i0 < SMALL_N) {
                dots(out, x, i0, i1, K, tile, tileOff, j0, nb, M, scale, accumulate);
            } else {
                float[] bt = scratch(1, K * nb);
                for (int jj = 0; jj < nb; jj++) {
                    int src = tileOff + jj * K;
                    for (int k = 0; k < K; k++) {
                        bt[k * nb + jj] = tile[src + k];
                    }
                }
                float[] c = scratch(2, 4 * nb);
                axpyRows(out, x, i0, i1, K, bt, j0, nb, M, scale, accumulate, c);
            }
        });
    }

    private static void dots(float[] out, float[] x, int i0, int i1, int K, float[] tile, int tileOff, int j0,
                             int nb, int M, float scale, boolean accumulate) {
        for (int i = i0; i < i1; i++) {
            int xo = i * K;
            int oo = i * M + j0;
            for (int jj = 0; jj < nb; jj++) {
                float s = scale * dot(x, xo, tile, tileOff + jj * K, K);
                out[oo + jj] = accumulate ? out[oo + jj] + s : s;
            }
        }
    }

    /** Dot product with 8 independent partial sums (breaks the add dependency chain). */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int k = 0;
        for (; k + 8 <= n; k += 8) {
            s0 += a[ao + k] * b[bo + k];
            s1 += a[ao + k + 1] * b[bo + k + 1];
            s2 += a[ao + k + 2] * b[bo + k + 2];
            s3 += a[ao + k + 3] * b[bo + k + 3];
            s4 += a[ao + k + 4] * b[bo + k + 4];
            s5 += a[ao + k + 5] * b[bo + k + 5];
            s6 += a[ao + k + 6] * b[bo + k + 6];
            s7 += a[ao + k + 7] * b[bo + k + 7];
        }
        for (; k < n; k++) {
            s0 += a[ao + k] * b[bo + k];
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    private static void axpyRows(float[] out, float[] x, int i0, int i1, int K, float[] bt, int j0, int nb, int M,
                                 float scale, boolean accumulate, float[] c) {
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            java.util.Arrays.fill(c, 0, 4 * nb, 0f);
            int x0 = i * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
            int k = 0;
            for (; k + 4 <= K; k += 4) {
                float a00 = x[x0 + k], a01 = x[x0 + k + 1], a02 = x[x0 + k + 2], a03 = x[x0 + k + 3];
                float a10 = x[x1 + k], a11 = x[x1 + k + 1], a12 = x[x1 + k + 2], a13 = x[x1 + k + 3];
                float a20 = x[x2 + k], a21 = x[x2 + k + 1], a22 = x[x2 + k + 2], a23 = x[x2 + k + 3];
                float a30 = x[x3 + k], a31 = x[x3 + k + 1], a32 = x[x3 + k + 2], a33 = x[x3 + k + 3];
                int o0 = k * nb, o1 = o0 + nb, o2 = o1 + nb, o3 = o2 + nb;
                int c1 = nb, c2 = 2 * nb, c3 = 3 * nb;
                for (int jj = 0; jj < nb; jj++) {
                    float b0 = bt[o0 + jj], b1 = bt[o1 + jj], b2 = bt[o2 + jj], b3 = bt[o3 + jj];
                    c[jj] += a00 * b0 + a01 * b1 + a02 * b2 + a03 * b3;
                    c[c1 + jj] += a10 * b0 + a11 * b1 + a12 * b2 + a13 * b3;
                    c[c2 + jj] += a20 * b0 + a21 * b1 + a22 * b2 + a23 * b3;
                    c[c3 + jj] += a30 * b0 + a31 * b1 + a32 * b2 + a33 * b3;
                }
            }
            for (; k < K; k++) {
                float a0 = x[x0 + k], a1 = x[x1 + k], a2 = x[x2 + k], a3 = x[x3 + k];
                int o = k * nb;
                for (int jj = 0; jj < nb; jj++) {
                    float b = bt[o + jj];
                    c[jj] += a0 * b;
                    c[nb + jj] += a1 * b;
                    c[2 * nb + jj] += a2 * b;
                    c[3 * nb + jj] += a3 * b;
                }
            }
            for (int r = 0; r < 4; r++) {
                store(out, (i + r) * M + j0, c, r * nb, nb, scale, accumulate);
            }
        }
        for (; i < i1; i++) {
            java.util.Arrays.fill(c, 0, nb, 0f);
            int xo = i * K;
            for (int k = 0; k < K; k++) {
                float a = x[xo + k];
                int o = k * nb;
                for (int jj = 0; jj < nb; jj++) {
                    c[jj] += a * bt[o + jj];
                }
            }
            store(out, i * M + j0, c, 0, nb, scale, accumulate);
        }
    }

    private static void store(float[] out, int oo, float[] c, int co, int nb, float scale, boolean accumulate) {
        if (accumulate) {
            for (int jj = 0; jj < nb; jj++) {
                out[oo + jj] += scale * c[co + jj];
            }
        } else if (scale == 1f) {
            System.arraycopy(c, co, out, oo, nb);
        } else {
            for (int jj = 0; jj < nb; jj++) {
                out[oo + jj] = scale * c[co + jj];
            }
        }
    }
}
