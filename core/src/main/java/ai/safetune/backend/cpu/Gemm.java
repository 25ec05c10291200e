package ai.safetune.backend.cpu;

/**
 * Dense fp32 matrix products for the CPU backend, GotoBLAS style: {@code C[rows, cols] (+)= scale · A · B} with
 * A ({@code [rows, kdim]}, row-major or stored transposed) packed into {@link Kernel#mr()}-row panels and B
 * packed per {@link Kernel#nr()}-column panel from wherever it lives ({@link BSource}: the rows of a weight
 * {@code W[cols, kdim]} for {@code x·Wᵀ}, dense or expanded from a quantized tensor, or a row-major
 * {@code [kdim, cols]} matrix for {@code a·B}). The micro-kernel keeps an {@code mr × nr} tile in registers over a
 * K block of up to {@link #KC}; longer K runs continue the same accumulation chain, so every output element is
 * summed over k in increasing order whatever the thread count or task split: results do not depend on it.
 *
 * <p>Tasks are (row chunk × column-panel group); each packs its own A rows and B panels, and the split is chosen
 * to repack as little as possible. Products with very few rows (decode) or very few columns (LoRA rank r)
 * use dot products instead, where packing would cost as much as the product.
 */
final class Gemm {
    /** W rows per tile of the few-rows dot-product path. */
    static final int NB = 64;
    /** Below this many x rows per task, dot products on W's rows beat packing them. */
    static final int SMALL_N = 16;
    /** Outputs this narrow (LoRA rank) use dot products: a micro-tile would be mostly padding. */
    static final int THIN = 16;
    /**
     * Longest K block: an A micro-panel (mr × KC) stays in L1 and a B panel (KC × nr, 192 KiB at nr = 64) in L2;
     * 768 keeps the model's 576-deep products in one block.
     */
    static final int KC = 768;
    /** Cap on a task's pending partial sums (floats) when K is split into blocks. */
    private static final int MAX_PENDING = 1 << 20;
    /** Multiply-adds one packed float costs, about (scalar copy vs 2 × 16-lane FMA per cycle). */
    private static final double PACK_COST = 16;

    /** Where W's rows come from (expanded per tile when quantized). */
    interface Rows {
        /** Dense fp32 [M, K] or null. */
        float[] dense();

        void rows(int row, int count, float[] dst, int off);
    }

    /** The B operand, [kdim, cols]. */
    interface BSource {
        /**
         * {@code dst[k·nr + jj] = B[k0 + k, j0 + jj]} for {@code k < kc}, {@code jj < nb}, and 0 for
         * {@code nb ≤ jj < nr}.
         */
        void pack(int j0, int nb, int k0, int kc, float[] dst, int nr);
    }

    /** B = Wᵀ for W [cols, kdim] given by rows (dense, or expanded per panel when quantized). */
    static BSource transposedRows(Rows w, int kdim) {
        float[] dense = w.dense();
        if (dense != null) {
            return (j0, nb, k0, kc, dst, nr) -> transposeInto(dense, j0 * kdim + k0, kdim, nb, kc, dst, nr);
        }
        return (j0, nb, k0, kc, dst, nr) -> {
            float[] tile = scratch().get(Scratch.TILE, nb * kdim);
            w.rows(j0, nb, tile, 0);
            transposeInto(tile, k0, kdim, nb, kc, dst, nr);
        };
    }

    /**
     * B = W [kdim, cols] given by rows not stored as fp32 (bf16, quantized blocks), read as is (the frozen backward
     * dx = dout·W): each thread expands the K block's rows once and packs all its panels from them, instead of
     * expanding whole rows for every panel.
     */
    static BSource expandedRows(Rows w, int cols) {
        return (j0, nb, k0, kc, dst, nr) -> {
            float[] slab = scratch().slab(w, k0, kc, cols);
            for (int k = 0; k < kc; k++) {
                System.arraycopy(slab, k * cols + j0, dst, k * nr, nb);
                if (nb < nr) {
                    java.util.Arrays.fill(dst, k * nr + nb, (k + 1) * nr, 0f);
                }
            }
        };
    }

    /** B stored row-major with leading dimension {@code ldb} (e.g. a weight W [kdim, cols] read as is). */
    static BSource rowMajor(float[] b, int ldb) {
        return (j0, nb, k0, kc, dst, nr) -> {
            for (int k = 0; k < kc; k++) {
                System.arraycopy(b, (k0 + k) * ldb + j0, dst, k * nr, nb);
                if (nb < nr) {
                    java.util.Arrays.fill(dst, k * nr + nb, (k + 1) * nr, 0f);
                }
            }
        };
    }

    /**
     * {@code dst[k·nr + jj] = src[off + jj·ld + k]}: 8 source rows at a time, each read with unit stride (hoisted
     * range checks) and written as 8 adjacent floats.
     */
    private static void transposeInto(float[] src, int off, int ld, int nb, int kc, float[] dst, int nr) {
        int jj = 0;
        for (; jj + 8 <= nb; jj += 8) {
            int s0 = off + jj * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
            int s4 = s3 + ld, s5 = s4 + ld, s6 = s5 + ld, s7 = s6 + ld;
            for (int k = 0; k < kc; k++) {
                int d = k * nr + jj;
                dst[d] = src[s0 + k];
                dst[d + 1] = src[s1 + k];
                dst[d + 2] = src[s2 + k];
                dst[d + 3] = src[s3 + k];
                dst[d + 4] = src[s4 + k];
                dst[d + 5] = src[s5 + k];
                dst[d + 6] = src[s6 + k];
                dst[d + 7] = src[s7 + k];
            }
        }
        for (; jj < nb; jj++) {
            int s0 = off + jj * ld;
            for (int k = 0; k < kc; k++) {
                dst[k * nr + jj] = src[s0 + k];
            }
        }
        if (nb < nr) {
            for (int k = 0; k < kc; k++) {
                java.util.Arrays.fill(dst, k * nr + nb, (k + 1) * nr, 0f);
            }
        }
    }

    /** Per-thread packing buffers, grown on demand and reused across calls. */
    private static final class Scratch {
        static final int A = 0, B = 1, T = 2, TILE = 3, SLAB = 4;
        private final float[][] bufs = new float[5][0];
        // which rows the SLAB buffer holds (of a frozen weight: its rows never change)
        private java.lang.ref.WeakReference<Rows> slabOf = new java.lang.ref.WeakReference<>(null);
        private int slabRow = -1;
        private int slabCount;

        float[] get(int which, int size) {
            if (bufs[which].length < size) {
                bufs[which] = new float[size];
                if (which == SLAB) {
                    slabRow = -1;
                }
            }
            return bufs[which];
        }

        /** Rows {@code [row, row+count)} of {@code w} (each {@code ld} floats) expanded to fp32, reused while they last. */
        float[] slab(Rows w, int row, int count, int ld) {
            float[] b = get(SLAB, count * ld);
            if (slabOf.get() != w || slabRow != row || slabCount != count) {
                slabRow = -1;  // unknown content if the expansion fails
                w.rows(row, count, b, 0);
                slabOf = new java.lang.ref.WeakReference<>(w);
                slabRow = row;
                slabCount = count;
            }
            return b;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static Scratch scratch() {
        return SCRATCH.get();
    }

    private Gemm() {
    }

    /** {@code out[n, M] (+)= scale · x[n, K] · W[M, K]ᵀ}. */
    static void matmul(Parallel par, Kernel kernel, float[] out, float[] x, int n, int K, Rows w, int M, float scale,
                       boolean accumulate) {
        if (n < SMALL_N || M <= THIN) {
            dots(par, kernel, out, x, n, K, w, M, scale, accumulate);
            return;
        }
        gemm(par, kernel, out, M, n, M, K, x, K, false, transposedRows(w, K), scale, accumulate);
    }

    /**
     * {@code C[rows, cols] (+)= scale · A · B}: A is {@code a[i·lda + k]}, or {@code a[k·lda + i]} when
     * {@code aTransposed}; C is {@code c[i·ldc + j]}.
     */
    static void gemm(Parallel par, Kernel kernel, float[] c, int ldc, int rows, int cols, int kdim, float[] a, int lda,
                     boolean aTransposed, BSource b, float scale, boolean accumulate) {
        if (rows == 0 || cols == 0) {
            return;
        }
        if (kdim == 0) {
            if (!accumulate) {
                for (int i = 0; i < rows; i++) {
                    java.util.Arrays.fill(c, i * ldc, i * ldc + cols, 0f);
                }
            }
            return;
        }
        int mr = kernel.mr();
        int nr = kernel.nr();
        int rowBlocks = (rows + mr - 1) / mr;
        int panels = (cols + nr - 1) / nr;
        int nkb = (kdim + KC - 1) / KC;
        int kc0 = (kdim + nkb - 1) / nkb;
        int[] split = split(par.threads(), rowBlocks * mr, panels * nr, rowBlocks, panels, nkb > 1);
        int rc = split[0];
        int pg = split[1];
        par.forEach(rc * pg, task -> {
            int rb0 = (int) ((long) rowBlocks * (task / pg) / rc);
            int rb1 = (int) ((long) rowBlocks * (task / pg + 1) / rc);
            int p0 = (int) ((long) panels * (task % pg) / pg);
            int p1 = (int) ((long) panels * (task % pg + 1) / pg);
            int nrb = rb1 - rb0;
            if (nrb == 0 || p1 == p0) {
                return;
            }
            Scratch s = scratch();
            float[] ap = s.get(Scratch.A, nrb * mr * kc0);
            float[] bp = s.get(Scratch.B, kc0 * nr);
            int tile = mr * nr;
            // one K block: each micro-tile goes straight to C; several: partial sums wait in t for the next block
            float[] t = s.get(Scratch.T, nkb == 1 ? tile : nrb * (p1 - p0) * tile);
            for (int kb = 0; kb < nkb; kb++) {
                int k0 = kb * kc0;
                int kc = Math.min(kc0, kdim - k0);
                for (int rb = rb0; rb < rb1; rb++) {
                    packA(a, lda, aTransposed, rb * mr, Math.min(mr, rows - rb * mr), k0, kc, ap, (rb - rb0) * kc * mr, mr);
                }
                for (int p = p0; p < p1; p++) {
                    int j0 = p * nr;
                    int nb = Math.min(nr, cols - j0);
                    b.pack(j0, nb, k0, kc, bp, nr);
                    for (int rb = rb0; rb < rb1; rb++) {
                        int tOff = nkb == 1 ? 0 : ((p - p0) * nrb + (rb - rb0)) * tile;
                        kernel.block(ap, (rb - rb0) * kc * mr, bp, 0, kc, t, tOff, kb > 0);
                        if (kb == nkb - 1) {
                            int i0 = rb * mr;
                            kernel.store(t, tOff, c, i0 * ldc + j0, ldc, Math.min(mr, rows - i0), nb, scale, accumulate);
                        }
                    }
                }
            }
        });
    }

    /**
     * Chooses (row chunks, panel groups) for the thread count: at least one task per thread, the split that
     * wastes least, counting both repacking (each panel group packs all its A rows, each row chunk all its B
     * panels; a packed float costs about as much as {@link #PACK_COST} multiply-adds) and the threads' idle share
     * when the tasks are uneven.
     */
    static int[] split(int threads, int rows, int cols, int rowBlocks, int panels, boolean pending) {
        int bestRc = 1;
        int bestPg = 1;
        double best = Double.MAX_VALUE;
        int maxRc = Math.min(rowBlocks, 4 * threads);
        int maxPg = Math.min(panels, 4 * threads);
        double total = (double) rowBlocks * panels;
        for (int pg = 1; pg <= maxPg; pg++) {
            for (int rc = 1; rc <= maxRc; rc++) {
                int tasks = rc * pg;
                if (tasks < Math.min(threads, rowBlocks * panels)) {
                    continue;
                }
                if (pending && (long) rows / rc * (cols / pg) > MAX_PENDING && rc < maxRc) {
                    continue; // with K blocks, the pending partial sums must stay bounded
                }
                double maxTask = Math.ceil((double) rowBlocks / rc) * Math.ceil((double) panels / pg);
                double rounds = Math.ceil((double) tasks / threads);
                double busy = total / (Math.min(threads, tasks) * rounds * maxTask);
                double cost = PACK_COST * ((double) pg * rows + (double) rc * cols)
                        + (1 - busy) * (double) rows * cols;
                if (cost < best) {
                    best = cost;
                    bestRc = rc;
                    bestPg = pg;
                }
            }
        }
        return new int[] {bestRc, bestPg};
    }

    /** {@code dst[off + k·mr + r] = A[i0 + r, k0 + k]} for {@code r < cnt}, zero for {@code cnt ≤ r < mr}. */
    private static void packA(float[] a, int lda, boolean transposed, int i0, int cnt, int k0, int kc, float[] dst,
                              int off, int mr) {
        if (transposed) {
            for (int k = 0; k < kc; k++) {
                int s = (k0 + k) * lda + i0;
                int d = off + k * mr;
                for (int r = 0; r < cnt; r++) {
                    dst[d + r] = a[s + r];
                }
                for (int r = cnt; r < mr; r++) {
                    dst[d + r] = 0f;
                }
            }
            return;
        }
        int r = 0;
        if (mr == 6 && cnt == 6) {
            // the common full block: six unit-stride row streams, six adjacent floats written per k
            int s0 = i0 * lda + k0, s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
            for (int k = 0; k < kc; k++) {
                int d = off + k * 6;
                dst[d] = a[s0 + k];
                dst[d + 1] = a[s1 + k];
                dst[d + 2] = a[s2 + k];
                dst[d + 3] = a[s3 + k];
                dst[d + 4] = a[s4 + k];
                dst[d + 5] = a[s5 + k];
            }
            return;
        }
        for (; r < cnt; r++) {
            int s = (i0 + r) * lda + k0;
            for (int k = 0, d = off + r; k < kc; k++, d += mr) {
                dst[d] = a[s + k];
            }
        }
        for (; r < mr; r++) {
            for (int k = 0, d = off + r; k < kc; k++, d += mr) {
                dst[d] = 0f;
            }
        }
    }

    /**
     * {@code out[n, M] (+)= scale · x · Wᵀ} by dot products on W's rows (expanded per {@link #NB}-row tile when
     * quantized): for few x rows or few W rows. Parallel over (W row blocks × x row chunks).
     */
    static void dots(Parallel par, Kernel kernel, float[] out, float[] x, int n, int K, Rows w, int M, float scale,
                     boolean accumulate) {
        int blocks = (M + NB - 1) / NB;
        int rowChunks = Math.max(1, Math.min(n / 8, (par.threads() * 4 + blocks - 1) / blocks));
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
                tile = scratch().get(Scratch.TILE, nb * K);
                tileOff = 0;
                w.rows(j0, nb, tile, 0);
            }
            // W row outer: it stays in L1 while the x rows stream past it
            for (int jj = 0; jj < nb; jj++) {
                for (int i = i0; i < i1; i++) {
                    int o = i * M + j0 + jj;
                    float s = scale * kernel.dot(x, i * K, tile, tileOff + jj * K, K);
                    out[o] = accumulate ? out[o] + s : s;
                }
            }
        });
    }

    /**
     * {@code out[n, M] (+)= scale · a[n, K] · b[K, M]} (b row-major): the packed GEMM, or dot products against a
     * transposed copy of b when M is thin.
     */
    static void matmulNN(Parallel par, Kernel kernel, float[] out, float[] a, float[] b, int n, int K, int M,
                         float scale, boolean accumulate) {
        if (M <= THIN) {
            float[] bt = new float[M * K];
            for (int k = 0; k < K; k++) {
                for (int m = 0; m < M; m++) {
                    bt[m * K + k] = b[k * M + m];
                }
            }
            dots(par, kernel, out, a, n, K, denseRows(bt, K), M, scale, accumulate);
            return;
        }
        gemm(par, kernel, out, M, n, M, K, a, K, false, rowMajor(b, M), scale, accumulate);
    }

    /**
     * {@code out[K, M] += scale · a[n, K]ᵀ · b[n, M]} (weight gradients, summed over the n rows in order). A thin
     * M is computed transposed ({@code bᵀ·a}, M rows × K columns) and added back transposed.
     */
    static void matmulTN(Parallel par, Kernel kernel, float[] out, float[] a, float[] b, int n, int K, int M,
                         float scale) {
        if (M <= THIN && K > THIN) {
            float[] tmp = new float[M * K];
            gemm(par, kernel, tmp, K, M, K, n, b, M, true, rowMajor(a, K), 1f, false);
            for (int k = 0; k < K; k++) {
                for (int m = 0; m < M; m++) {
                    out[k * M + m] += scale * tmp[m * K + k];
                }
            }
            return;
        }
        gemm(par, kernel, out, M, K, M, n, a, K, true, rowMajor(b, M), scale, true);
    }

    /** A dense row-major {@code [*, cols]} matrix as {@link Rows}. */
    static Rows denseRows(float[] w, int cols) {
        return new Rows() {
            @Override
            public float[] dense() {
                return w;
            }

            @Override
            public void rows(int row, int count, float[] dst, int off) {
                System.arraycopy(w, row * cols, dst, off, count * cols);
            }
        };
    }
}
