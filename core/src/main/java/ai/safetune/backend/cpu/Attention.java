package ai.safetune.backend.cpu;

import ai.safetune.backend.AttentionShape;
import java.util.Arrays;

/**
 * Causal grouped-query attention, forward and backward, as small dense products on {@link OpKernel#mm}: per
 * (row, head) the keys are packed transposed once ({@code Kᵀ [d][T]}), queries go in blocks of 4, and each
 * block computes only the key columns its last query can see (rounded up to the kernel's width), so masked
 * tiles cost nothing. The backward recomputes {@code P = exp(S·scale − lse)} from the saved log-sum-exp and
 * forms {@code dV = Pᵀ·dO}, {@code dP = dO·Vᵀ}, {@code dS = P∘(dP − rowsum(dO∘O))·scale}, {@code dQ = dS·K},
 * {@code dK = dSᵀ·Q}; the transposed products read P and dS through strides, no copies.
 * <p>Threads: the forward runs one task per (row, query head), the backward one per (row, kv head), which owns
 * that head's dK/dV and sums its query heads in a fixed order: results never depend on the thread count.
 */
final class Attention {
    /** Per-thread scratch, grown on demand (the backward needs two [T × T] matrices per task). */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[4][0]);

    /** Up to this many queries per row the forward scores keys by direct dot products (no packed Kᵀ). */
    static final int DIRECT_QUERIES = 2;

    private Attention() {
    }

    private static float[] scratch(int slot, int size) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < size) {
            s[slot] = new float[size];
        }
        return s[slot];
    }

    private static int roundUp(int x, int w) {
        return (x + w - 1) / w * w;
    }

    /** Slots {@code j < keyLen} of row {@code b} whose key mask is 0 (usually none, or a padded tail). */
    private static int[] maskedSlots(int[] keyMask, int b, int cap, int keyLen) {
        if (keyMask == null) {
            return new int[0];
        }
        int count = 0;
        for (int j = 0; j < keyLen; j++) {
            if (keyMask[b * cap + j] == 0) {
                count++;
            }
        }
        int[] m = new int[count];
        count = 0;
        for (int j = 0; j < keyLen; j++) {
            if (keyMask[b * cap + j] == 0) {
                m[count++] = j;
            }
        }
        return m;
    }

    /** {@code dst[c·ld + j] = src[base + j·stride + c]} for {@code j < len, c < d}; columns up to {@code ld} zeroed. */
    private static void packTransposed(float[] dst, int ld, float[] src, int base, int stride, int len, int d) {
        for (int c = 0; c < d; c++) {
            int o = c * ld;
            for (int j = 0; j < len; j++) {
                dst[o + j] = src[base + j * stride + c];
            }
            Arrays.fill(dst, o + len, o + ld, 0f);
        }
    }

    /** Sets the scores a query must not see to −∞: keys after {@code last} (up to {@code n1}) and masked slots. */
    private static void maskRow(float[] sc, int row, int last, int n1, int[] masked) {
        Arrays.fill(sc, row + last + 1, row + n1, Float.NEGATIVE_INFINITY);
        for (int j : masked) {
            if (j > last) {
                break;
            }
            sc[row + j] = Float.NEGATIVE_INFINITY;
        }
    }

    static void forward(Parallel par, OpKernel ker, float[] o, float[] lse, float[] q, float[] k, float[] v,
                        int[] keyMask, AttentionShape s) {
        int hq = s.numHeads();
        int hkv = s.numKvHeads();
        int d = s.headDim();
        int group = hq / hkv;
        int tq = s.queryLen();
        int tk = s.keyLen();
        int cap = s.capacity();
        int qs = s.queryStart();
        int w = ker.width();
        int tkPad = roundUp(tk, w);
        float scale = (float) (1.0 / Math.sqrt(d));
        par.forEach(s.batch() * hq, task -> {
            int b = task / hq;
            int h = task % hq;
            int kvh = h / group;
            int kvBase = (b * cap * hkv + kvh) * d;
            int[] masked = maskedSlots(keyMask, b, cap, tk);
            float[] sc = scratch(1, 4 * tkPad);
            // decode (a query or two per row): dot products straight off the cached key rows; packing Kᵀ for so
            // few queries cost more than the products themselves
            boolean direct = tq <= DIRECT_QUERIES;
            float[] kt = direct ? null : scratch(0, d * tkPad);
            if (!direct) {
                packTransposed(kt, tkPad, k, kvBase, hkv * d, tk, d);
            }
            for (int i0 = 0; i0 < tq; i0 += 4) {
                int rows = Math.min(4, tq - i0);
                int ncols = qs + i0 + rows;
                int n1 = Math.min(roundUp(ncols, w), tkPad);
                int qOff = ((b * tq + i0) * hq + h) * d;
                if (direct) {
                    for (int r = 0; r < rows; r++) {
                        int qr = qOff + r * hq * d;
                        for (int j = 0, last = qs + i0 + r; j <= last; j++) {
                            sc[r * tkPad + j] = ker.dot(q, qr, k, kvBase + j * hkv * d, d);
                        }
                    }
                } else {
                    ker.mm(q, qOff, hq * d, 1, rows, kt, 0, tkPad, 0, d, sc, 0, tkPad, 0, n1, false);
                }
                for (int r = 0; r < rows; r++) {
                    int row = r * tkPad;
                    int last = qs + i0 + r;
                    maskRow(sc, row, last, n1, masked);
                    float max = ker.max(sc, row, last + 1);
                    float l;
                    if (max == Float.NEGATIVE_INFINITY) {
                        Arrays.fill(sc, row, row + n1, 0f); // sees no key: zeros out, no gradient
                        l = Float.NEGATIVE_INFINITY;
                    } else {
                        float ms = max * scale;
                        float sum = ker.expRow(sc, row, n1, scale, ms);
                        ker.scale(sc, row, n1, 1f / sum);
                        l = ms + (float) Math.log(sum);
                    }
                    if (lse != null) {
                        lse[(b * tq + i0 + r) * hq + h] = l;
                    }
                }
                ker.mm(sc, 0, tkPad, 1, rows, v, kvBase, hkv * d, 0, ncols, o, qOff, hq * d, 0, d, false);
            }
        });
    }

    static void backward(Parallel par, OpKernel ker, float[] dq, float[] dk, float[] dv, float[] dout, float[] out,
                         float[] lse, float[] q, float[] k, float[] v, int[] keyMask, AttentionShape s) {
        int hq = s.numHeads();
        int hkv = s.numKvHeads();
        int d = s.headDim();
        int group = hq / hkv;
        int tq = s.queryLen();
        int tk = s.keyLen();
        int cap = s.capacity();
        int qs = s.queryStart();
        int w = ker.width();
        int tkPad = roundUp(tk, w);
        float scale = (float) (1.0 / Math.sqrt(d));
        par.forEach(s.batch() * hkv, task -> {
            int b = task / hkv;
            int kvh = task % hkv;
            int kvBase = (b * cap * hkv + kvh) * d;
            for (int j = 0; j < cap; j++) {
                int kOff = kvBase + j * hkv * d;
                Arrays.fill(dk, kOff, kOff + d, 0f);
                Arrays.fill(dv, kOff, kOff + d, 0f);
            }
            int[] masked = maskedSlots(keyMask, b, cap, tk);
            float[] kt = scratch(0, d * tkPad);
            float[] vt = scratch(1, d * tkPad);
            float[] p = scratch(2, tq * tkPad);
            float[] ds = scratch(3, tq * tkPad);
            packTransposed(kt, tkPad, k, kvBase, hkv * d, tk, d);
            packTransposed(vt, tkPad, v, kvBase, hkv * d, tk, d);
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                int qBase = (b * tq * hq + h) * d;
                for (int i0 = 0; i0 < tq; i0 += 4) {
                    int rows = Math.min(4, tq - i0);
                    int ncols = qs + i0 + rows;
                    int n1 = Math.min(roundUp(ncols, w), tkPad);
                    int qOff = qBase + i0 * hq * d;
                    int pOff = i0 * tkPad;
                    ker.mm(q, qOff, hq * d, 1, rows, kt, 0, tkPad, 0, d, p, pOff, tkPad, 0, n1, false);
                    ker.mm(dout, qOff, hq * d, 1, rows, vt, 0, tkPad, 0, d, ds, pOff, tkPad, 0, n1, false);
                    for (int r = 0; r < rows; r++) {
                        int row = pOff + r * tkPad;
                        int last = qs + i0 + r;
                        float l = lse[(b * tq + i0 + r) * hq + h];
                        if (l == Float.NEGATIVE_INFINITY) {
                            // a query that saw no key produced zeros: no gradient flows
                            Arrays.fill(p, row, row + tkPad, 0f);
                            Arrays.fill(ds, row, row + tkPad, 0f);
                            continue;
                        }
                        maskRow(p, row, last, n1, masked);
                        ker.expRow(p, row, n1, scale, l);
                        int oRow = qOff + r * hq * d;
                        float di = ker.dot(dout, oRow, out, oRow, d);
                        ker.softmaxGrad(p, ds, row, n1, di, scale);
                        Arrays.fill(p, row + n1, row + tkPad, 0f);
                        Arrays.fill(ds, row + n1, row + tkPad, 0f);
                    }
                    ker.mm(ds, pOff, tkPad, 1, rows, k, kvBase, hkv * d, 0, ncols, dq, qOff, hq * d, 0, d, false);
                }
                // dV[j] += Σ_i P[i][j]·dO[i], dK[j] += Σ_i dS[i][j]·Q[i]; only queries i >= j − qs see key j
                for (int j0 = 0; j0 < tk; j0 += 4) {
                    int rows = Math.min(4, tk - j0);
                    int i0 = Math.max(0, j0 - qs);
                    if (i0 >= tq) {
                        break;
                    }
                    int kOff = kvBase + j0 * hkv * d;
                    ker.mm(p, j0, 1, tkPad, rows, dout, qBase, hq * d, i0, tq, dv, kOff, hkv * d, 0, d, true);
                    ker.mm(ds, j0, 1, tkPad, rows, q, qBase, hq * d, i0, tq, dk, kOff, hkv * d, 0, d, true);
                }
            }
        });
    }
}
