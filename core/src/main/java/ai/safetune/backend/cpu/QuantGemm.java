package ai.safetune.backend.cpu;

import ai.safetune.model.QuantizedWeight;
import ai.safetune.model.Weight;
import ai.safetune.model.io.Float16;

/**
 * {@code out[n, M] = x[n, K] · W[M, K]ᵀ} on a quantized weight (Q4_0, Q4_1, Q8_0) without expanding W to fp32:
 * W's rows are copied a few KiB at a time as raw blocks (from the mapped file) into a per-thread buffer and the
 * {@link QuantKernel} widens each block in registers. For few x rows (decode) that reads 5–6× fewer bytes than
 * the fp32 tile path and skips the tile write; with many rows (prefill) the fp32 tile GEMM of {@link Gemm},
 * whose expansion cost is shared by all rows, is faster, so {@link #applies} hands those back.
 * Parallel over blocks of output rows.
 */
final class QuantGemm {
    /**
     * Up to this many x rows the fused product beats expanding 64-row fp32 tiles (measured on Q4_1 576 → 1536, one
     * thread: 34 vs 15 GFLOP per CPU-second at 16 rows, 26 vs 20 at 48; see benchmarks/RESULTS.md).
     */
    static final int MAX_ROWS = 48;
    /** Raw bytes copied per step: a few rows that stay in L1 while every x row passes. */
    private static final int TILE_BYTES = 8 << 10;

    /** {@code -Dsafetune.cpu.fusedQuant=false} turns the fused path off (A/B against the fp32 tile path). */
    static final String PROPERTY = "safetune.cpu.fusedQuant";
    private static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim());

    /**
     * {@code -Dsafetune.cpu.packQuant=false} keeps the raw-block path (no {@link PackedQuant} copy on the heap), for
     * A/B runs and for very large models where ~1/4 more memory per quantized weight matters more than speed.
     */
    static final String PACK_PROPERTY = "safetune.cpu.packQuant";
    static final boolean PACK = !"false".equalsIgnoreCase(System.getProperty(PACK_PROPERTY, "true").trim());

    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[0]);

    private QuantGemm() {
    }

    /** The weight's format when the fused product should run for {@code n} x rows, else null. */
    static QuantFormat applies(Weight w, int n) {
        if (!ENABLED || n > MAX_ROWS || !(w instanceof QuantizedWeight) || w.cols() % QuantFormat.BLOCK != 0) {
            return null;
        }
        QuantFormat f = QuantFormat.of(w.storageType());
        if (f == null || ((QuantizedWeight) w).rowBytes() != w.cols() / QuantFormat.BLOCK * f.blockBytes) {
            return null;
        }
        return f;
    }

    static void matmul(Parallel par, QuantKernel kernel, QuantFormat f, float[] out, float[] x, int n, int K,
                       QuantizedWeight w, int M) {
        int rowBytes = w.rowBytes();
        int tileRows = Math.max(1, TILE_BYTES / rowBytes);
        // two contiguous shares per thread: fewer tasks to hand out than forRange's four (decode calls this ~200
        // times per token, so per-call overhead counts), yet a stalled thread's share can still be taken over
        int parts = Math.max(1, Math.min(par.threads() * 2, M / tileRows));
        Parallel.RangeBody body = (s, e) -> {
            byte[] buf = SCRATCH.get();
            int need = Math.min(tileRows, e - s) * rowBytes;
            if (buf.length < need) {
                buf = new byte[Math.max(need, TILE_BYTES)];
                SCRATCH.set(buf);
            }
            for (int j = s; j < e; j += tileRows) {
                int cnt = Math.min(tileRows, e - j);
                w.copyRawRows(j, cnt, buf, 0);
                kernel.tile(f, buf, 0, cnt, rowBytes, x, n, K, out, j, M);
            }
        };
        par.forEach(parts, c -> body.run((int) ((long) M * c / parts), (int) ((long) M * (c + 1) / parts)));
    }

    /** {@code out[n, M] = x[n, K] · W[M, K]ᵀ} on a packed weight; parallel over contiguous shares of its rows. */
    static void matmul(Parallel par, QuantKernel kernel, PackedQuant w, float[] out, float[] x, int n, int K, int M) {
        if (w.rows != M) {
            throw new IllegalArgumentException("packed weight is [" + w.rows + ", " + w.blocks * QuantFormat.BLOCK
                    + "], the product needs [" + M + ", " + K + "]");
        }
        matmul(par, kernel, new PackedQuant[] {w}, new float[][] {out}, x, n, K);
    }

    /**
     * {@code outs[i][n, rows_i] = x[n, K] · W_iᵀ} for packed weights sharing the input, as one parallel job: the
     * concatenated row groups of all weights are cut into a few contiguous shares (two per thread), so decode hands
     * work to the other threads once per projection group (q/k/v, gate/up) instead of once per weight.
     */
    static void matmul(Parallel par, QuantKernel kernel, PackedQuant[] ws, float[][] outs, float[] x, int n, int K) {
        int total = 0;
        boolean mins = false;
        for (PackedQuant w : ws) {
            if (w.blocks * QuantFormat.BLOCK != K) {
                throw new IllegalArgumentException("packed weight is [" + w.rows + ", " + w.blocks * QuantFormat.BLOCK
                        + "], the product needs K = " + K);
            }
            total += w.rows;
            mins |= w.mins != null;
        }
        float[] sums = null;
        if (mins) {
            int blocks = K / QuantFormat.BLOCK;
            sums = new float[n * blocks];
            for (int i = 0; i < n * blocks; i++) {
                float s = 0f;
                for (int j = i * QuantFormat.BLOCK, e = j + QuantFormat.BLOCK; j < e; j++) {
                    s += x[j];
                }
                sums[i] = s;
            }
        }
        float[] blockSums = sums;
        // shares are whole row groups of the packed layout (a vector kernel reads a group of rows per load)
        int gs = kernel.group();
        int count = 0;
        for (PackedQuant w : ws) {
            if (w.group != gs) {
                throw new IllegalArgumentException("weight packed in row groups of " + w.group + ", the kernel reads " + gs);
            }
            count += (w.rows + gs - 1) / gs;
        }
        int groups = count;
        int parts = Math.max(1, Math.min(par.threads() * 2, Math.min(groups, total / 16)));
        par.forEach(parts, c -> {
            int s = (int) ((long) groups * c / parts);
            int e = (int) ((long) groups * (c + 1) / parts);
            for (int i = 0, base = 0; i < ws.length && base < e; base += (ws[i].rows + gs - 1) / gs, i++) {
                int lo = Math.max(s, base) - base;
                int hi = Math.min(e, base + (ws[i].rows + gs - 1) / gs) - base;
                if (lo < hi) {
                    kernel.packed(ws[i], lo * gs, Math.min(hi * gs, ws[i].rows), x, n, K, blockSums, outs[i], ws[i].rows);
                }
            }
        });
    }

    /**
     * The vector kernel when {@code simd} is allowed, the JVM has {@code jdk.incubator.vector} and it passes a
     * self-check against the scalar kernel; else the scalar kernel. Never fails.
     */
    static QuantKernel pickKernel(boolean simd) {
        QuantKernel scalar = new ScalarQuantKernel();
        return Kernels.load(QuantKernel.class, simd, "ai.safetune.backend.cpu.VectorQuantKernel", scalar, k -> {
            for (QuantFormat f : QuantFormat.values()) {
                if (!agrees(k, scalar, f)) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * Two blocks, five x rows (the four-row and the one-row loops) against the scalar kernel, on raw blocks and on
     * the packed layout (17 rows: a full and a partial row group of a 16-lane kernel).
     */
    private static boolean agrees(QuantKernel k, QuantKernel ref, QuantFormat f) {
        int K = 64;
        int n = 5;
        int rows = 17;
        int rowBytes = 2 * f.blockBytes;
        byte[] w = new byte[rows * rowBytes];
        for (int i = 0; i < w.length; i++) {
            w[i] = (byte) (i * 37 + 11);
        }
        for (int b = 0; b < 2 * rows; b++) {
            short d = Float16.floatToHalf(0.01f * (b % 5 + 1));
            w[b * f.blockBytes] = (byte) d;
            w[b * f.blockBytes + 1] = (byte) (d >> 8);
            if (f == QuantFormat.Q4_1) {
                short m = Float16.floatToHalf(-0.05f);
                w[b * f.blockBytes + 2] = (byte) m;
                w[b * f.blockBytes + 3] = (byte) (m >> 8);
            }
        }
        float[] x = new float[n * K];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % 13) * 0.25f - 1.5f;
        }
        float[] got = new float[n];
        float[] want = new float[n];
        k.tile(f, w, 0, 1, rowBytes, x, n, K, got, 0, 1);
        ref.tile(f, w, 0, 1, rowBytes, x, n, K, want, 0, 1);
        if (!close(got, want)) {
            return false;
        }
        float[] sums = new float[n * 2];
        for (int i = 0; i < sums.length; i++) {
            for (int j = 0; j < 32; j++) {
                sums[i] += x[i * 32 + j];
            }
        }
        got = new float[n * rows];
        want = new float[n * rows];
        k.packed(PackedQuant.ofRaw(w, rows, 2, f, k.group()), 0, rows, x, n, K, sums, got, rows);
        ref.packed(PackedQuant.ofRaw(w, rows, 2, f, ref.group()), 0, rows, x, n, K, sums, want, rows);
        return close(got, want);
    }

    private static boolean close(float[] got, float[] want) {
        for (int i = 0; i < got.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= 1e-4f * (1 + Math.abs(want[i])))) {
                return false;
            }
        }
        return true;
    }
}
