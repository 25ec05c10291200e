package ai.safetune.backend.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Quantized products on the incubating Vector API. On a {@link PackedQuant} with rows interleaved by the lane count
 * ({@link #packed}, what decode uses): one load reads the same quant byte of L rows, widened to floats in registers and
 * multiplied by broadcast x elements, so L results accumulate lane-wise — no horizontal sums; up to four x rows share
 * each widened load. On raw GGUF blocks ({@link #tile}, with {@code -Dsafetune.cpu.packQuant=false} or unpackable
 * weights): each block widened and scaled ({@code q·d + m} as one FMA) into per-row accumulators, up to four x rows
 * per block; from {@link #EXPAND_ROWS} x rows on each weight row is expanded once to an L1-resident fp32 row. Works
 * for 256- and 512-bit float vectors (8 or 16 lanes: a nibble block is 16 bytes, an int8 block 32). Loaded only
 * through {@link QuantGemm#pickKernel(boolean)}.
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

    private static final ThreadLocal<float[]> X16 = ThreadLocal.withInitial(() -> new float[0]);

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
