package ai.safetune.backend.cpu;

/**
 * {@code out[n, M] (+)= scale · x[n, K] · W[M, K]ᵀ}: a block of {@link #NB} W rows is expanded (dequantized) into a
 * scratch tile, transposed to {@code [K][nb]} and multiplied by row groups of x with the {@link Kernel}.
 * Few rows (decode) use dot products on the untransposed tile instead, since transposing would cost as much as
 * the product. Parallel over (W row blocks × x row chunks); each task expands its tile once.
 */
final class Gemm {
    /** W rows per tile: the transposed tile (K × NB floats) stays in L2 for K up to a few thousand. */
    static final int NB = 64;
    /** Below this many x rows per task, dot products beat transposing the tile. */
    static final int SMALL_N = 8;

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

    static void matmul(Parallel par, Kernel kernel, float[] out, float[] x, int n, int K, Rows w, int M, float scale,
                       boolean accumulate) {
        int blocks = (M + NB - 1) / NB;
        int rowChunks = 1;
        if (n >= SMALL_N * 8) {
            // enough row chunks that every thread has several tasks
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
                for (int i = i0; i < i1; i++) {
                    int oo = i * M + j0;
                    for (int jj = 0; jj < nb; jj++) {
                        float s = scale * kernel.dot(x, i * K, tile, tileOff + jj * K, K);
                        out[oo + jj] = accumulate ? out[oo + jj] + s : s;
                    }
                }
                return;
            }
            float[] bt = scratch(1, K * nb);
            for (int jj = 0; jj < nb; jj++) {
                int src = tileOff + jj * K;
                for (int k = 0; k < K; k++) {
                    bt[k * nb + jj] = tile[src + k];
                }
            }
            // row groups small enough that the block of results stays in L1
            int group = 64;
            float[] c = scratch(2, group * nb);
            for (int g0 = i0; g0 < i1; g0 += group) {
                int g1 = Math.min(i1, g0 + group);
                kernel.rows(x, g0, g1, K, bt, nb, c);
                for (int i = g0; i < g1; i++) {
                    int oo = i * M + j0;
                    int co = (i - g0) * nb;
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
        });
    }
}
