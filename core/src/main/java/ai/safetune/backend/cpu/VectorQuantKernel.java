package ai.safetune.backend.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Quantized products on the incubating Vector API: each block's quants are loaded as bytes, widened to floats in
 * registers, scaled ({@code q·d + m} as one FMA) and multiplied into per-row accumulators, so the weight is read
 * once in its compact form and never written back as fp32. Up to four x rows share each expanded block; from
 * {@link #EXPAND_ROWS} x rows on (batched decode), each weight row is expanded once to an L1-resident fp32 row
 * instead. Works for 256- and 512-bit float vectors (8 or 16 lanes: a nibble block is 16 bytes, an int8 block
 * 32). Loaded only through {@link QuantGemm#pickKernel(boolean)}.
 */
final class VectorQuantKernel implements QuantKernel {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Bytes that widen to one float vector. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Chunks of L bytes in the 16 nibble bytes of a Q4 block. */
    private static final int CH4 = 16 / Math.max(L, 1);

    VectorQuantKernel() {
        if (L != 8 && L != 16) {
            throw new UnsupportedOperationException("float vectors of " + L + " lanes (need 8 or 16)");
        }
    }

    @Override
    public String name() {
        return "vector-api " + F.vectorBitSize() + "-bit";
    }

    @Override
    public void tile(QuantFormat f, byte[] w, int wOff, int rows, int rowBytes, float[] x, int n, int K, float[] out, int outOff,
                     int outStride) {
        int blocks = K / QuantFormat.BLOCK;
        if (n >= EXPAND_ROWS) {
            expandedTile(f, w, wOff, rows, rowBytes, x, n, K, out, outOff, outStride);
            return;
        }
        for (int r = 0; r < rows; r++) {
            int p = wOff + r * rowBytes;
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                int o = i * outStride + outOff + r;
                if (f.nibbles) {
                    dot4Q4(f, w, p, blocks, x, i * K, K, out, o, outStride);
                } else {
                    dot4Q8(w, p, blocks, x, i * K, K, out, o, outStride);
                }
            }
            for (; i < n; i++) {
                out[i * outStride + outOff + r] = f.nibbles ? dotQ4(f, w, p, blocks, x, i * K) : dotQ8(w, p, blocks, x, i * K);
            }
        }
    }

    /**
     * From this many x rows on, each weight row is expanded once into an L1-resident fp32 row shared by all x rows
     * (cheaper than re-expanding the blocks in registers for every group of four rows).
     */
    static final int EXPAND_ROWS = 8;
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    private static void expandedTile(QuantFormat f, byte[] w, int wOff, int rows, int rowBytes, float[] x, int n, int K,
                                     float[] out, int outOff, int stride) {
        float[] row = ROW.get();
        if (row.length < K) {
            row = new float[K];
            ROW.set(row);
        }
        for (int r = 0; r < rows; r++) {
            expand(f, w, wOff + r * rowBytes, K / QuantFormat.BLOCK, row);
            dotExpanded(row, 0, x, 0, n, K, out, outOff + r, stride);
        }
    }

    /** {@code out[i·stride + o] = x_i · row} for the n rows of x: four x rows per pass share each row load. */
    private static void dotExpanded(float[] row, int ro, float[] x, int i0, int n, int K, float[] out, int o0, int stride) {
        int i = i0;
        for (; i + 4 <= n; i += 4) {
            int x0 = i * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
            FloatVector a = FloatVector.zero(F), b = a, c = a, d = a;
            for (int k = 0; k < K; k += L) {
                FloatVector wv = FloatVector.fromArray(F, row, ro + k);
                a = wv.fma(FloatVector.fromArray(F, x, x0 + k), a);
                b = wv.fma(FloatVector.fromArray(F, x, x1 + k), b);
                c = wv.fma(FloatVector.fromArray(F, x, x2 + k), c);
                d = wv.fma(FloatVector.fromArray(F, x, x3 + k), d);
            }
            int o = i * stride + o0;
            out[o] = a.reduceLanes(VectorOperators.ADD);
            out[o + stride] = b.reduceLanes(VectorOperators.ADD);
            out[o + 2 * stride] = c.reduceLanes(VectorOperators.ADD);
            out[o + 3 * stride] = d.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            int x0 = i * K;
            FloatVector a = FloatVector.zero(F), b = a;
            int k = 0;
            for (; k + 2 * L <= K; k += 2 * L) {
                a = FloatVector.fromArray(F, row, ro + k).fma(FloatVector.fromArray(F, x, x0 + k), a);
                b = FloatVector.fromArray(F, row, ro + k + L).fma(FloatVector.fromArray(F, x, x0 + k + L), b);
            }
            for (; k < K; k += L) {
                a = FloatVector.fromArray(F, row, ro + k).fma(FloatVector.fromArray(F, x, x0 + k), a);
            }
            out[i * stride + o0] = a.add(b).reduceLanes(VectorOperators.ADD);
        }
    }

    /**
     * Four expanded weight rows ({@code row[j·K ..]}) · four x rows: 16 accumulators, each loaded vector used four
     * times (batched decode is bound by loads when one weight row meets four x rows).
     */
    private static void dot4x4(float[] row, float[] x, int x0, int K, float[] out, int o, int stride) {
        int x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        for (int k = 0; k < K; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, row, k);
            FloatVector w1 = FloatVector.fromArray(F, row, K + k);
            FloatVector w2 = FloatVector.fromArray(F, row, 2 * K + k);
            FloatVector w3 = FloatVector.fromArray(F, row, 3 * K + k);
            FloatVector xv = FloatVector.fromArray(F, x, x0 + k);
            a0 = w0.fma(xv, a0);
            a1 = w1.fma(xv, a1);
            a2 = w2.fma(xv, a2);
            a3 = w3.fma(xv, a3);
            xv = FloatVector.fromArray(F, x, x1 + k);
            b0 = w0.fma(xv, b0);
            b1 = w1.fma(xv, b1);
            b2 = w2.fma(xv, b2);
            b3 = w3.fma(xv, b3);
            xv = FloatVector.fromArray(F, x, x2 + k);
            c0 = w0.fma(xv, c0);
            c1 = w1.fma(xv, c1);
            c2 = w2.fma(xv, c2);
            c3 = w3.fma(xv, c3);
            xv = FloatVector.fromArray(F, x, x3 + k);
            d0 = w0.fma(xv, d0);
            d1 = w1.fma(xv, d1);
            d2 = w2.fma(xv, d2);
            d3 = w3.fma(xv, d3);
        }
        out[o] = a0.reduceLanes(VectorOperators.ADD);
        out[o + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[o + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[o + 3] = a3.reduceLanes(VectorOperators.ADD);
        o += stride;
        out[o] = b0.reduceLanes(VectorOperators.ADD);
        out[o + 1] = b1.reduceLanes(VectorOperators.ADD);
        out[o + 2] = b2.reduceLanes(VectorOperators.ADD);
        out[o + 3] = b3.reduceLanes(VectorOperators.ADD);
        o += stride;
        out[o] = c0.reduceLanes(VectorOperators.ADD);
        out[o + 1] = c1.reduceLanes(VectorOperators.ADD);
        out[o + 2] = c2.reduceLanes(VectorOperators.ADD);
        out[o + 3] = c3.reduceLanes(VectorOperators.ADD);
        o += stride;
        out[o] = d0.reduceLanes(VectorOperators.ADD);
        out[o + 1] = d1.reduceLanes(VectorOperators.ADD);
        out[o + 2] = d2.reduceLanes(VectorOperators.ADD);
        out[o + 3] = d3.reduceLanes(VectorOperators.ADD);
    }

    /** Expands {@code blocks} blocks at {@code w[p]} to {@code dst[0 .. 32·blocks)} (q·d + m as one FMA). */
    private static void expand(QuantFormat f, byte[] w, int p, int blocks, float[] dst) {
        boolean min = f == QuantFormat.Q4_1;
        for (int b = 0, o = 0; b < blocks; b++, p += f.blockBytes, o += 32) {
            float d = half(w, p);
            FloatVector dv = FloatVector.broadcast(F, d);
            int q0 = p + f.quantOffset;
            if (f.nibbles) {
                FloatVector mv = FloatVector.broadcast(F, min ? half(w, p + 2) : -8f * d);
                for (int c = 0; c < CH4; c++) {
                    IntVector q = (IntVector) ByteVector.fromArray(B, w, q0 + c * L).convertShape(VectorOperators.B2I, I, 0);
                    ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).fma(dv, mv).intoArray(dst, o + c * L);
                    ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0x0F).convert(VectorOperators.I2F, 0))
                            .fma(dv, mv).intoArray(dst, o + 16 + c * L);
                }
            } else {
                for (int c = 0; c < 32; c += L) {
                    ((FloatVector) ByteVector.fromArray(B, w, q0 + c).convertShape(VectorOperators.B2F, F, 0)).mul(dv)
                            .intoArray(dst, o + c);
                }
            }
        }
    }

    // ---- packed weights (PackedQuant): scales already floats, quants back to back ------------------------------

    @Override
    public int group() {
        return L;
    }

    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[L]);

    /**
     * Products on the row-interleaved layout ({@link PackedQuant#group} = L): one load reads the same quant byte of L
     * rows, so each x element is broadcast once per L rows and the L results come out as one vector — no horizontal
     * sums, which cost about as much as the products themselves in the row-at-a-time form.
     */
    @Override
    public void packed(PackedQuant w, int r0, int r1, float[] x, int n, int K, float[] xs, float[] out, int stride) {
        if (w.group != L) {
            throw new IllegalArgumentException("weight packed in row groups of " + w.group + ", this kernel reads " + L);
        }
        float[] xq = x;
        if (w.mins != null) {
            // x with the high half of every block divided by 16 (exact): the high nibbles then need no shift, their
            // (q & 0xF0) = 16·hi meets x/16
            xq = X16.get();
            if (xq.length < n * K) {
                xq = new float[n * K];
                X16.set(xq);
            }
            FloatVector sixteenth = FloatVector.broadcast(F, 0.0625f);
            for (int k = 0; k < n * K; k += 32) {
                for (int c = 0; c < 16; c += L) {
                    FloatVector.fromArray(F, x, k + c).intoArray(xq, k + c);
                    FloatVector.fromArray(F, x, k + 16 + c).mul(sixteenth).intoArray(xq, k + 16 + c);
                }
            }
        }
        float[] lanes = LANES.get();
        int blocks = w.blocks;
        for (int g = r0 / L; g * L < r1; g++) {
            int valid = Math.min(L, r1 - g * L);
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                if (w.mins != null) {
                    group4Nibbles(w, g, xq, i * K, K, xs, i * blocks, out, i * stride + g * L, stride, valid, lanes);
                } else {
                    group4Int8(w, g, x, i * K, K, out, i * stride + g * L, stride, valid, lanes);
                }
            }
            for (; i < n; i++) {
                FloatVector acc = w.mins != null ? group1Nibbles(w, g, xq, i * K, xs, i * blocks) : group1Int8(w, g, x, i * K);
                store(acc, out, i * stride + g * L, valid, lanes);
            }
        }
    }

    /** The first {@code valid} lanes of v into {@code out[o ..]}. */
    private static void store(FloatVector v, float[] out, int o, int valid, float[] lanes) {
        if (valid == L) {
            v.intoArray(out, o);
        } else {
            v.intoArray(lanes, 0);
            System.arraycopy(lanes, 0, out, o, valid);
        }
    }

    /** Rows {@code g·L ..} · one x row, nibble format: per block Σ_j q·x in four chains, then {@code ·d + m·Σx}. */
    private static FloatVector group1Nibbles(PackedQuant w, int g, float[] x, int xo, float[] xs, int xso) {
        byte[] qs = w.quants;
        int blocks = w.blocks;
        int sb = g * blocks * L;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0, q0 = g * blocks * 16 * L; b < blocks; b++, q0 += 16 * L, xo += 32) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int j = 0; j < 16; j += 2) {
                IntVector q = (IntVector) ByteVector.fromArray(B, qs, q0 + j * L).convertShape(VectorOperators.B2I, I, 0);
                s0 = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, x[xo + j]), s0);
                s1 = ((FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + 16 + j]), s1);
                q = (IntVector) ByteVector.fromArray(B, qs, q0 + (j + 1) * L).convertShape(VectorOperators.B2I, I, 0);
                s2 = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + j + 1]), s2);
                s3 = ((FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + 17 + j]), s3);
            }
            int si = sb + b * L;
            acc = s0.add(s1).add(s2.add(s3)).fma(FloatVector.fromArray(F, w.scales, si), acc);
            acc = FloatVector.fromArray(F, w.mins, si).fma(FloatVector.broadcast(F, xs[xso + b]), acc);
        }
        return acc;
    }

    /** Rows {@code g·L ..} · four x rows ({@code xo + i·K}), nibble format: each widened load used four times. */
    private static void group4Nibbles(PackedQuant w, int g, float[] x, int xo, int K, float[] xs, int xso, float[] out,
                                      int o, int stride, int valid, float[] lanes) {
        byte[] qs = w.quants;
        int blocks = w.blocks;
        int sb = g * blocks * L;
        FloatVector a = FloatVector.zero(F), bb = a, c4 = a, dd = a;
        for (int b = 0, q0 = g * blocks * 16 * L; b < blocks; b++, q0 += 16 * L, xo += 32) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (int j = 0; j < 16; j++) {
                IntVector q = (IntVector) ByteVector.fromArray(B, qs, q0 + j * L).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = (FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0);
                FloatVector hi = (FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0);
                int xj = xo + j;
                a0 = lo.fma(FloatVector.broadcast(F, x[xj]), a0);
                a1 = hi.fma(FloatVector.broadcast(F, x[xj + 16]), a1);
                b0 = lo.fma(FloatVector.broadcast(F, x[xj + K]), b0);
                b1 = hi.fma(FloatVector.broadcast(F, x[xj + K + 16]), b1);
                c0 = lo.fma(FloatVector.broadcast(F, x[xj + 2 * K]), c0);
                c1 = hi.fma(FloatVector.broadcast(F, x[xj + 2 * K + 16]), c1);
                d0 = lo.fma(FloatVector.broadcast(F, x[xj + 3 * K]), d0);
                d1 = hi.fma(FloatVector.broadcast(F, x[xj + 3 * K + 16]), d1);
            }
            int si = sb + b * L;
            FloatVector dv = FloatVector.fromArray(F, w.scales, si);
            FloatVector mv = FloatVector.fromArray(F, w.mins, si);
            a = mv.fma(FloatVector.broadcast(F, xs[xso + b]), a0.add(a1).fma(dv, a));
            bb = mv.fma(FloatVector.broadcast(F, xs[xso + blocks + b]), b0.add(b1).fma(dv, bb));
            c4 = mv.fma(FloatVector.broadcast(F, xs[xso + 2 * blocks + b]), c0.add(c1).fma(dv, c4));
            dd = mv.fma(FloatVector.broadcast(F, xs[xso + 3 * blocks + b]), d0.add(d1).fma(dv, dd));
        }
        store(a, out, o, valid, lanes);
        store(bb, out, o + stride, valid, lanes);
        store(c4, out, o + 2 * stride, valid, lanes);
        store(dd, out, o + 3 * stride, valid, lanes);
    }

    /** Rows {@code g·L ..} · one x row, Q8_0: per block Σ_j q·x in four chains, then {@code ·d}. */
    private static FloatVector group1Int8(PackedQuant w, int g, float[] x, int xo) {
        byte[] qs = w.quants;
        int blocks = w.blocks;
        int sb = g * blocks * L;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0, q0 = g * blocks * 32 * L; b < blocks; b++, q0 += 32 * L, xo += 32) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int j = 0; j < 32; j += 4) {
                int p = q0 + j * L;
                s0 = ((FloatVector) ByteVector.fromArray(B, qs, p).convertShape(VectorOperators.B2F, F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + j]), s0);
                s1 = ((FloatVector) ByteVector.fromArray(B, qs, p + L).convertShape(VectorOperators.B2F, F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + j + 1]), s1);
                s2 = ((FloatVector) ByteVector.fromArray(B, qs, p + 2 * L).convertShape(VectorOperators.B2F, F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + j + 2]), s2);
                s3 = ((FloatVector) ByteVector.fromArray(B, qs, p + 3 * L).convertShape(VectorOperators.B2F, F, 0))
                        .fma(FloatVector.broadcast(F, x[xo + j + 3]), s3);
            }
            acc = s0.add(s1).add(s2.add(s3)).fma(FloatVector.fromArray(F, w.scales, sb + b * L), acc);
        }
        return acc;
    }

    private static void group4Int8(PackedQuant w, int g, float[] x, int xo, int K, float[] out, int o, int stride,
                                   int valid, float[] lanes) {
        byte[] qs = w.quants;
        int blocks = w.blocks;
        int sb = g * blocks * L;
        FloatVector a = FloatVector.zero(F), bb = a, c4 = a, dd = a;
        for (int b = 0, q0 = g * blocks * 32 * L; b < blocks; b++, q0 += 32 * L, xo += 32) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (int j = 0; j < 32; j += 2) {
                FloatVector q = (FloatVector) ByteVector.fromArray(B, qs, q0 + j * L).convertShape(VectorOperators.B2F, F, 0);
                FloatVector r = (FloatVector) ByteVector.fromArray(B, qs, q0 + (j + 1) * L)
                        .convertShape(VectorOperators.B2F, F, 0);
                int xj = xo + j;
                a0 = q.fma(FloatVector.broadcast(F, x[xj]), a0);
                a1 = r.fma(FloatVector.broadcast(F, x[xj + 1]), a1);
                b0 = q.fma(FloatVector.broadcast(F, x[xj + K]), b0);
                b1 = r.fma(FloatVector.broadcast(F, x[xj + K + 1]), b1);
                c0 = q.fma(FloatVector.broadcast(F, x[xj + 2 * K]), c0);
                c1 = r.fma(FloatVector.broadcast(F, x[xj + 2 * K + 1]), c1);
                d0 = q.fma(FloatVector.broadcast(F, x[xj + 3 * K]), d0);
                d1 = r.fma(FloatVector.broadcast(F, x[xj + 3 * K + 1]), d1);
            }
            FloatVector dv = FloatVector.fromArray(F, w.scales, sb + b * L);
            a = a0.add(a1).fma(dv, a);
            bb = b0.add(b1).fma(dv, bb);
            c4 = c0.add(c1).fma(dv, c4);
            dd = d0.add(d1).fma(dv, dd);
        }
        store(a, out, o, valid, lanes);
        store(bb, out, o + stride, valid, lanes);
        store(c4, out, o + 2 * stride, valid, lanes);
        store(dd, out, o + 3 * stride, valid, lanes);
    }

    /** The row-at-a-time products on a plain (group 1) packed layout: kept for comparison runs. */
    void packedRowMajor(PackedQuant w, int r0, int r1, float[] x, int n, int K, float[] xs, float[] out, int stride) {
        if (n >= EXPAND_ROWS) {
            float[] row = ROW.get();
            if (row.length < 4 * K) {
                row = new float[4 * K];
                ROW.set(row);
            }
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                for (int j = 0; j < 4; j++) {
                    expandPacked(w, r + j, row, j * K);
                }
                int i = 0;
                for (; i + 4 <= n; i += 4) {
                    dot4x4(row, x, i * K, K, out, i * stride + r, stride);
                }
                if (i < n) {
                    for (int j = 0; j < 4; j++) {
                        dotExpanded(row, j * K, x, i, n, K, out, r + j, stride);
                    }
                }
            }
            for (; r < r1; r++) {
                expandPacked(w, r, row, 0);
                dotExpanded(row, 0, x, 0, n, K, out, r, stride);
            }
            return;
        }
        int blocks = w.blocks;
        float[] xq = x;
        if (w.mins != null) {
            // x with the high half of every block divided by 16 (exact): the high nibbles then need no shift, their
            // (q & 0xF0) = 16·hi meets x/16
            xq = X16.get();
            if (xq.length < n * K) {
                xq = new float[n * K];
                X16.set(xq);
            }
            FloatVector sixteenth = FloatVector.broadcast(F, 0.0625f);
            for (int k = 0; k < n * K; k += 32) {
                for (int c = 0; c < 16; c += L) {
                    FloatVector.fromArray(F, x, k + c).intoArray(xq, k + c);
                    FloatVector.fromArray(F, x, k + 16 + c).mul(sixteenth).intoArray(xq, k + 16 + c);
                }
            }
        }
        for (int r = r0; r < r1; r++) {
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                if (w.mins != null) {
                    dot4Nibbles(w, r, xq, i * K, K, xs, i * blocks, out, i * stride + r, stride);
                } else {
                    dot4Int8(w, r, x, i * K, K, out, i * stride + r, stride);
                }
            }
            for (; i < n; i++) {
                out[i * stride + r] = w.mins != null ? dotNibbles(w, r, xq, i * K, xs, i * blocks) : dotInt8(w, r, x, i * K);
            }
        }
    }

    private static final ThreadLocal<float[]> X16 = ThreadLocal.withInitial(() -> new float[0]);

    /** Row r of a packed weight as fp32 ({@code q·d + m} as one FMA per vector). */
    private static void expandPacked(PackedQuant w, int r, float[] dst, int o0) {
        int blk = r * w.blocks;
        byte[] qs = w.quants;
        for (int b = 0, o = o0, p = blk * w.quantBytes; b < w.blocks; b++, blk++, p += w.quantBytes, o += 32) {
            FloatVector dv = FloatVector.broadcast(F, w.scales[blk]);
            if (w.mins != null) {
                FloatVector mv = FloatVector.broadcast(F, w.mins[blk]);
                for (int c = 0; c < CH4; c++) {
                    IntVector q = (IntVector) ByteVector.fromArray(B, qs, p + c * L).convertShape(VectorOperators.B2I, I, 0);
                    ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).fma(dv, mv).intoArray(dst, o + c * L);
                    ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0x0F).convert(VectorOperators.I2F, 0))
                            .fma(dv, mv).intoArray(dst, o + 16 + c * L);
                }
            } else {
                for (int c = 0; c < 32; c += L) {
                    ((FloatVector) ByteVector.fromArray(B, qs, p + c).convertShape(VectorOperators.B2F, F, 0)).mul(dv)
                            .intoArray(dst, o + c);
                }
            }
        }
    }

    /**
     * One x row · one nibble row as {@code Σ_b d_b·(Σ_j q_j x_j) + Σ_b m_b·(Σ_j x_j)}: per block the unscaled
     * products are summed in a vector and scaled once, and the min term uses the precomputed block sums of x — three
     * vector multiply-adds per 32 values instead of four, no per-element min.
     */
    private static float dotNibbles(PackedQuant w, int r, float[] x, int xo, float[] xs, int xso) {
        byte[] qs = w.quants;
        float[] ds = w.scales;
        float[] ms = w.mins;
        int blocks = w.blocks;
        int blk = r * blocks;
        FloatVector acc = FloatVector.zero(F);
        float macc = 0f;
        for (int b = 0, p = blk * 16; b < blocks; b++, p += 16, xo += 32) {
            IntVector q = (IntVector) ByteVector.fromArray(B, qs, p).convertShape(VectorOperators.B2I, I, 0);
            FloatVector sum = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, x, xo));
            sum = ((FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0))
                    .fma(FloatVector.fromArray(F, x, xo + 16), sum);
            for (int c = 1; c < CH4; c++) {
                q = (IntVector) ByteVector.fromArray(B, qs, p + c * L).convertShape(VectorOperators.B2I, I, 0);
                sum = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.fromArray(F, x, xo + c * L), sum);
                sum = ((FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.fromArray(F, x, xo + 16 + c * L), sum);
            }
            acc = sum.fma(FloatVector.broadcast(F, ds[blk + b]), acc);
            macc += ms[blk + b] * xs[xso + b];
        }
        return acc.reduceLanes(VectorOperators.ADD) + macc;
    }

    /** Four x rows ({@code xo + i·K}) · one nibble row, each widened block used four times. */
    private static void dot4Nibbles(PackedQuant w, int r, float[] x, int xo, int K, float[] xs, int xso, float[] out,
                                    int o, int stride) {
        byte[] qs = w.quants;
        float[] ds = w.scales;
        float[] ms = w.mins;
        int blocks = w.blocks;
        int blk = r * blocks;
        FloatVector a = FloatVector.zero(F), bb = a, c4 = a, dd = a;
        float ma = 0f, mb = 0f, mc = 0f, md = 0f;
        for (int b = 0, p = blk * 16; b < blocks; b++, p += 16, xo += 32) {
            IntVector q = (IntVector) ByteVector.fromArray(B, qs, p).convertShape(VectorOperators.B2I, I, 0);
            FloatVector lo = (FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0);
            FloatVector hi = (FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0);
            FloatVector sa = hi.fma(FloatVector.fromArray(F, x, xo + 16), lo.mul(FloatVector.fromArray(F, x, xo)));
            FloatVector sb = hi.fma(FloatVector.fromArray(F, x, xo + K + 16), lo.mul(FloatVector.fromArray(F, x, xo + K)));
            FloatVector sc = hi.fma(FloatVector.fromArray(F, x, xo + 2 * K + 16),
                    lo.mul(FloatVector.fromArray(F, x, xo + 2 * K)));
            FloatVector sd = hi.fma(FloatVector.fromArray(F, x, xo + 3 * K + 16),
                    lo.mul(FloatVector.fromArray(F, x, xo + 3 * K)));
            for (int c = 1; c < CH4; c++) {
                q = (IntVector) ByteVector.fromArray(B, qs, p + c * L).convertShape(VectorOperators.B2I, I, 0);
                lo = (FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0);
                hi = (FloatVector) q.and(0xF0).convert(VectorOperators.I2F, 0);
                int x0 = xo + c * L;
                sa = hi.fma(FloatVector.fromArray(F, x, x0 + 16), lo.fma(FloatVector.fromArray(F, x, x0), sa));
                sb = hi.fma(FloatVector.fromArray(F, x, x0 + K + 16), lo.fma(FloatVector.fromArray(F, x, x0 + K), sb));
                sc = hi.fma(FloatVector.fromArray(F, x, x0 + 2 * K + 16), lo.fma(FloatVector.fromArray(F, x, x0 + 2 * K), sc));
                sd = hi.fma(FloatVector.fromArray(F, x, x0 + 3 * K + 16), lo.fma(FloatVector.fromArray(F, x, x0 + 3 * K), sd));
            }
            FloatVector dv = FloatVector.broadcast(F, ds[blk + b]);
            a = sa.fma(dv, a);
            bb = sb.fma(dv, bb);
            c4 = sc.fma(dv, c4);
            dd = sd.fma(dv, dd);
            float m = ms[blk + b];
            ma += m * xs[xso + b];
            mb += m * xs[xso + blocks + b];
            mc += m * xs[xso + 2 * blocks + b];
            md += m * xs[xso + 3 * blocks + b];
        }
        out[o] = a.reduceLanes(VectorOperators.ADD) + ma;
        out[o + stride] = bb.reduceLanes(VectorOperators.ADD) + mb;
        out[o + 2 * stride] = c4.reduceLanes(VectorOperators.ADD) + mc;
        out[o + 3 * stride] = dd.reduceLanes(VectorOperators.ADD) + md;
    }

    /** One x row · one Q8_0 row: per block the unscaled products summed in a vector, then scaled once. */
    private static float dotInt8(PackedQuant w, int r, float[] x, int xo) {
        byte[] qs = w.quants;
        float[] ds = w.scales;
        int blocks = w.blocks;
        int blk = r * blocks;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0, p = blk * 32; b < blocks; b++, p += 32, xo += 32) {
            FloatVector sum = ((FloatVector) ByteVector.fromArray(B, qs, p).convertShape(VectorOperators.B2F, F, 0))
                    .mul(FloatVector.fromArray(F, x, xo));
            for (int c = L; c < 32; c += L) {
                sum = ((FloatVector) ByteVector.fromArray(B, qs, p + c).convertShape(VectorOperators.B2F, F, 0))
                        .fma(FloatVector.fromArray(F, x, xo + c), sum);
            }
            acc = sum.fma(FloatVector.broadcast(F, ds[blk + b]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    private static void dot4Int8(PackedQuant w, int r, float[] x, int xo, int K, float[] out, int o, int stride) {
        byte[] qs = w.quants;
        float[] ds = w.scales;
        int blocks = w.blocks;
        int blk = r * blocks;
        FloatVector a = FloatVector.zero(F), bb = a, c4 = a, dd = a;
        for (int b = 0, p = blk * 32; b < blocks; b++, p += 32, xo += 32) {
            FloatVector q = (FloatVector) ByteVector.fromArray(B, qs, p).convertShape(VectorOperators.B2F, F, 0);
            FloatVector sa = q.mul(FloatVector.fromArray(F, x, xo));
            FloatVector sb = q.mul(FloatVector.fromArray(F, x, xo + K));
            FloatVector sc = q.mul(FloatVector.fromArray(F, x, xo + 2 * K));
            FloatVector sd = q.mul(FloatVector.fromArray(F, x, xo + 3 * K));
            for (int c = L; c < 32; c += L) {
                q = (FloatVector) ByteVector.fromArray(B, qs, p + c).convertShape(VectorOperators.B2F, F, 0);
                int x0 = xo + c;
                sa = q.fma(FloatVector.fromArray(F, x, x0), sa);
                sb = q.fma(FloatVector.fromArray(F, x, x0 + K), sb);
                sc = q.fma(FloatVector.fromArray(F, x, x0 + 2 * K), sc);
                sd = q.fma(FloatVector.fromArray(F, x, x0 + 3 * K), sd);
            }
            FloatVector dv = FloatVector.broadcast(F, ds[blk + b]);
            a = sa.fma(dv, a);
            bb = sb.fma(dv, bb);
            c4 = sc.fma(dv, c4);
            dd = sd.fma(dv, dd);
        }
        out[o] = a.reduceLanes(VectorOperators.ADD);
        out[o + stride] = bb.reduceLanes(VectorOperators.ADD);
        out[o + 2 * stride] = c4.reduceLanes(VectorOperators.ADD);
        out[o + 3 * stride] = dd.reduceLanes(VectorOperators.ADD);
    }

    private static float half(byte[] w, int p) {
        return ScalarQuantKernel.half(w, p);
    }

    /** One x row · one Q4_0/Q4_1 row. */
    private static float dotQ4(QuantFormat f, byte[] w, int p, int blocks, float[] x, int xo) {
        boolean min = f == QuantFormat.Q4_1;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int b = 0; b < blocks; b++, p += f.blockBytes, xo += 32) {
            float d = half(w, p);
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, min ? half(w, p + 2) : -8f * d);
            int q0 = p + f.quantOffset;
            for (int c = 0; c < CH4; c++) {
                IntVector q = (IntVector) ByteVector.fromArray(B, w, q0 + c * L).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                FloatVector hi = ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0x0F)
                        .convert(VectorOperators.I2F, 0)).fma(dv, mv);
                a0 = lo.fma(FloatVector.fromArray(F, x, xo + c * L), a0);
                a1 = hi.fma(FloatVector.fromArray(F, x, xo + 16 + c * L), a1);
            }
        }
        return a0.add(a1).reduceLanes(VectorOperators.ADD);
    }

    /** Four x rows ({@code xo, xo+K, xo+2K, xo+3K}) · one Q4 row, each expanded block used four times. */
    private static void dot4Q4(QuantFormat f, byte[] w, int p, int blocks, float[] x, int xo, int K, float[] out, int o,
                               int stride) {
        boolean min = f == QuantFormat.Q4_1;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int b = 0; b < blocks; b++, p += f.blockBytes, xo += 32) {
            float d = half(w, p);
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, min ? half(w, p + 2) : -8f * d);
            int q0 = p + f.quantOffset;
            for (int c = 0; c < CH4; c++) {
                IntVector q = (IntVector) ByteVector.fromArray(B, w, q0 + c * L).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = ((FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                FloatVector hi = ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0x0F)
                        .convert(VectorOperators.I2F, 0)).fma(dv, mv);
                int x0 = xo + c * L;
                a0 = lo.fma(FloatVector.fromArray(F, x, x0), a0);
                a1 = hi.fma(FloatVector.fromArray(F, x, x0 + 16), a1);
                b0 = lo.fma(FloatVector.fromArray(F, x, x0 + K), b0);
                b1 = hi.fma(FloatVector.fromArray(F, x, x0 + K + 16), b1);
                c0 = lo.fma(FloatVector.fromArray(F, x, x0 + 2 * K), c0);
                c1 = hi.fma(FloatVector.fromArray(F, x, x0 + 2 * K + 16), c1);
                d0 = lo.fma(FloatVector.fromArray(F, x, x0 + 3 * K), d0);
                d1 = hi.fma(FloatVector.fromArray(F, x, x0 + 3 * K + 16), d1);
            }
        }
        out[o] = a0.add(a1).reduceLanes(VectorOperators.ADD);
        out[o + stride] = b0.add(b1).reduceLanes(VectorOperators.ADD);
        out[o + 2 * stride] = c0.add(c1).reduceLanes(VectorOperators.ADD);
        out[o + 3 * stride] = d0.add(d1).reduceLanes(VectorOperators.ADD);
    }

    /** One x row · one Q8_0 row: 32 int8 per block, in 32/L chunks alternating between two accumulators. */
    private static float dotQ8(byte[] w, int p, int blocks, float[] x, int xo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int b = 0; b < blocks; b++, p += 34, xo += 32) {
            FloatVector dv = FloatVector.broadcast(F, half(w, p));
            for (int c = 0; c < 32; c += 2 * L) {
                FloatVector v0 = ((FloatVector) ByteVector.fromArray(B, w, p + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(dv);
                FloatVector v1 = ((FloatVector) ByteVector.fromArray(B, w, p + 2 + c + L)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(dv);
                a0 = v0.fma(FloatVector.fromArray(F, x, xo + c), a0);
                a1 = v1.fma(FloatVector.fromArray(F, x, xo + c + L), a1);
            }
        }
        return a0.add(a1).reduceLanes(VectorOperators.ADD);
    }

    private static void dot4Q8(byte[] w, int p, int blocks, float[] x, int xo, int K, float[] out, int o, int stride) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int b = 0; b < blocks; b++, p += 34, xo += 32) {
            FloatVector dv = FloatVector.broadcast(F, half(w, p));
            for (int c = 0; c < 32; c += 2 * L) {
                FloatVector v0 = ((FloatVector) ByteVector.fromArray(B, w, p + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(dv);
                FloatVector v1 = ((FloatVector) ByteVector.fromArray(B, w, p + 2 + c + L)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(dv);
                int x0 = xo + c;
                a0 = v0.fma(FloatVector.fromArray(F, x, x0), a0);
                a1 = v1.fma(FloatVector.fromArray(F, x, x0 + L), a1);
                b0 = v0.fma(FloatVector.fromArray(F, x, x0 + K), b0);
                b1 = v1.fma(FloatVector.fromArray(F, x, x0 + K + L), b1);
                c0 = v0.fma(FloatVector.fromArray(F, x, x0 + 2 * K), c0);
                c1 = v1.fma(FloatVector.fromArray(F, x, x0 + 2 * K + L), c1);
                d0 = v0.fma(FloatVector.fromArray(F, x, x0 + 3 * K), d0);
                d1 = v1.fma(FloatVector.fromArray(F, x, x0 + 3 * K + L), d1);
            }
        }
        out[o] = a0.add(a1).reduceLanes(VectorOperators.ADD);
        out[o + stride] = b0.add(b1).reduceLanes(VectorOperators.ADD);
        out[o + 2 * stride] = c0.add(c1).reduceLanes(VectorOperators.ADD);
        out[o + 3 * stride] = d0.add(d1).reduceLanes(VectorOperators.ADD);
    }
}
