package ai.safetune.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link OpKernel} on the incubating Vector API (JDK 17: {@code --add-modules jdk.incubator.vector}); loaded only
 * through {@link OpKernels}. The products keep a 4-row × 2-vector tile of accumulators in registers across the
 * whole k loop, as {@link VectorKernel} does for the GEMM.
 * <p>Reproducibility: only lane operations IEEE defines exactly (add, mul, fma, div, min, max, compares, integer
 * shifts) are used, and lane sums are added in a fixed order ({@link #sum}), because the Vector API's own
 * {@code EXP} (SVML when C2-compiled, {@code StrictMath} when interpreted) and {@code reduceLanes(ADD)} (order
 * unspecified) give different bits before and after JIT compilation, which would break bit-identical resumed
 * runs. Hence the polynomial {@link #exp} (~0.5 ns a float, within 1.2e-7 relative of {@code Math.exp}; measured
 * ~40 ns for {@code Math.exp} on the CI box).
 */
final class VectorOpKernel implements OpKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Chunk after which fp32 lane sums are added into a double (keeps 49k-term sums accurate). */
    private static final int CHUNK = 1024;

    /**
     * e^x as Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r, 2^n built in the exponent
     * bits (n read from the low mantissa bits of x·log2e + 1.5·2^23, i.e. rounded to nearest). Inputs are clamped
     * to [−88, 88.7]: from about −87.9 down (including −∞) n = −127 makes the scale factor +0, so the result is
     * exactly 0 (no blend, which C2 in JDK 17 is slow to intrinsify); results below ~1.2e-38 flush to 0; above 88.7, +∞.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.min(88.7f).max(-88f);
        FloatVector t = xc.fma(FloatVector.broadcast(S, 1.44269504f), FloatVector.broadcast(S, 12582912f));
        FloatVector n = t.sub(12582912f);
        FloatVector r = n.fma(FloatVector.broadcast(S, -0.693359375f), xc);
        r = n.fma(FloatVector.broadcast(S, 2.12194440e-4f), r);
        FloatVector p = FloatVector.broadcast(S, 1.9875691500E-4f);
        p = p.fma(r, FloatVector.broadcast(S, 1.3981999507E-3f));
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073E-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894E-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459E-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201E-1f));
        FloatVector y = p.fma(r.mul(r), r.add(1f));
        FloatVector pow2 = ((IntVector) t.reinterpretAsInts()).add(127 - 0x4B400000)
                .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(pow2);
    }

    /** Sum of the lanes in lane order (reduceLanes' order is unspecified and differs once compiled). */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }

    @Override
    public String name() {
        return "vector-api " + S.vectorBitSize() + "-bit";
    }

    @Override
    public int width() {
        return 2 * L;
    }

    @Override
    public void mm(float[] a, int aOff, int ars, int aks, int rows, float[] b, int bOff, int ldb, int k0, int k1,
                   float[] c, int cOff, int ldc, int n0, int n1, boolean accumulate) {
        int step = 2 * L;
        int nv = n0 + (n1 - n0) / step * step;
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            int a0 = aOff + r * ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
            int c0 = cOff + r * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
            for (int j = n0; j < nv; j += step) {
                FloatVector s00, s01, s10, s11, s20, s21, s30, s31;
                if (accumulate) {
                    s00 = FloatVector.fromArray(S, c, c0 + j);
                    s01 = FloatVector.fromArray(S, c, c0 + j + L);
                    s10 = FloatVector.fromArray(S, c, c1 + j);
                    s11 = FloatVector.fromArray(S, c, c1 + j + L);
                    s20 = FloatVector.fromArray(S, c, c2 + j);
                    s21 = FloatVector.fromArray(S, c, c2 + j + L);
                    s30 = FloatVector.fromArray(S, c, c3 + j);
                    s31 = FloatVector.fromArray(S, c, c3 + j + L);
                } else {
                    s00 = FloatVector.zero(S);
                    s01 = s00;
                    s10 = s00;
                    s11 = s00;
                    s20 = s00;
                    s21 = s00;
                    s30 = s00;
                    s31 = s00;
                }
                for (int k = k0; k < k1; k++) {
                    int bo = bOff + k * ldb + j;
                    int ak = k * aks;
                    FloatVector b0 = FloatVector.fromArray(S, b, bo);
                    FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
                    FloatVector av = FloatVector.broadcast(S, a[a0 + ak]);
                    s00 = av.fma(b0, s00);
                    s01 = av.fma(b1, s01);
                    av = FloatVector.broadcast(S, a[a1 + ak]);
                    s10 = av.fma(b0, s10);
                    s11 = av.fma(b1, s11);
                    av = FloatVector.broadcast(S, a[a2 + ak]);
                    s20 = av.fma(b0, s20);
                    s21 = av.fma(b1, s21);
                    av = FloatVector.broadcast(S, a[a3 + ak]);
                    s30 = av.fma(b0, s30);
                    s31 = av.fma(b1, s31);
                }
                s00.intoArray(c, c0 + j);
                s01.intoArray(c, c0 + j + L);
                s10.intoArray(c, c1 + j);
                s11.intoArray(c, c1 + j + L);
                s20.intoArray(c, c2 + j);
                s21.intoArray(c, c2 + j + L);
                s30.intoArray(c, c3 + j);
                s31.intoArray(c, c3 + j + L);
            }
            if (nv < n1) {
                tail(a, a0, ars, aks, 4, b, bOff, ldb, k0, k1, c, c0, ldc, nv, n1, accumulate);
            }
        }
        for (; r < rows; r++) {
            int ao = aOff + r * ars;
            int co = cOff + r * ldc;
            for (int j = n0; j < nv; j += step) {
                FloatVector s0 = accumulate ? FloatVector.fromArray(S, c, co + j) : FloatVector.zero(S);
                FloatVector s1 = accumulate ? FloatVector.fromArray(S, c, co + j + L) : FloatVector.zero(S);
                for (int k = k0; k < k1; k++) {
                    int bo = bOff + k * ldb + j;
                    FloatVector av = FloatVector.broadcast(S, a[ao + k * aks]);
                    s0 = av.fma(FloatVector.fromArray(S, b, bo), s0);
                    s1 = av.fma(FloatVector.fromArray(S, b, bo + L), s1);
                }
                s0.intoArray(c, co + j);
                s1.intoArray(c, co + j + L);
            }
            if (nv < n1) {
                tail(a, ao, ars, aks, 1, b, bOff, ldb, k0, k1, c, co, ldc, nv, n1, accumulate);
            }
        }
    }

    /** Columns {@code [n0, n1)} narrower than two vectors: one masked vector at a time. */
    private static void tail(float[] a, int aOff, int ars, int aks, int rows, float[] b, int bOff, int ldb, int k0,
                             int k1, float[] c, int cOff, int ldc, int n0, int n1, boolean accumulate) {
        for (int j = n0; j < n1; j += L) {
            VectorMask<Float> m = S.indexInRange(j, n1);
            for (int r = 0; r < rows; r++) {
                int ao = aOff + r * ars;
                int co = cOff + r * ldc;
                FloatVector s = accumulate ? FloatVector.fromArray(S, c, co + j, m) : FloatVector.zero(S);
                for (int k = k0; k < k1; k++) {
                    s = FloatVector.broadcast(S, a[ao + k * aks]).fma(FloatVector.fromArray(S, b, bOff + k * ldb + j, m), s);
                }
                s.intoArray(c, co + j, m);
            }
        }
    }

    @Override
    public float max(float[] x, int off, int n) {
        int j = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (n >= L) {
            FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (; j + L <= n; j += L) {
                mv = mv.max(FloatVector.fromArray(S, x, off + j));
            }
            m = mv.reduceLanes(VectorOperators.MAX);
        }
        for (; j < n; j++) {
            m = Math.max(m, x[off + j]);
        }
        return m;
    }

    @Override
    public float expRow(float[] x, int off, int n, float mul, float sub) {
        FloatVector mv = FloatVector.broadcast(S, mul);
        FloatVector sv = FloatVector.broadcast(S, -sub);
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector e = exp(FloatVector.fromArray(S, x, off + j).fma(mv, sv));
            e.intoArray(x, off + j);
            acc = acc.add(e);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            FloatVector e = exp(FloatVector.fromArray(S, x, off + j, m).fma(mv, sv));
            e.intoArray(x, off + j, m);
            acc = acc.add(e, m);
        }
        return sum(acc);
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector.fromArray(S, x, off + j).mul(s).intoArray(x, off + j);
        }
        for (; j < n; j++) {
            x[off + j] *= s;
        }
    }

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int n) {
        int k = 0;
        float s = 0;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(S);
            for (; k + L <= n; k += L) {
                acc = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), acc);
            }
            s = sum(acc);
        }
        for (; k < n; k++) {
            s += a[ao + k] * b[bo + k];
        }
        return s;
    }

    @Override
    public double sumSquares(float[] x, int off, int n) {
        double total = 0;
        int j = 0;
        while (j + L <= n) {
            FloatVector acc = FloatVector.zero(S);
            int end = Math.min(n, j + CHUNK);
            for (; j + L <= end; j += L) {
                FloatVector v = FloatVector.fromArray(S, x, off + j);
                acc = v.fma(v, acc);
            }
            total += sum(acc);
        }
        for (; j < n; j++) {
            total += x[off + j] * x[off + j];
        }
        return total;
    }

    @Override
    public void softmaxGrad(float[] p, float[] dp, int off, int n, float d, float s) {
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector pv = FloatVector.fromArray(S, p, off + j);
            pv.mul(FloatVector.fromArray(S, dp, off + j).sub(d)).mul(s).intoArray(dp, off + j);
        }
        for (; j < n; j++) {
            dp[off + j] = p[off + j] * (dp[off + j] - d) * s;
        }
    }

    @Override
    public void swiglu(float[] out, float[] g, float[] u, int s, int e) {
        int i = s;
        for (; i + L <= e; i += L) {
            FloatVector x = FloatVector.fromArray(S, g, i);
            FloatVector den = exp(x.neg()).add(1f);
            x.div(den).mul(FloatVector.fromArray(S, u, i)).intoArray(out, i);
        }
        for (; i < e; i++) {
            float x = g[i];
            out[i] = x / (1f + (float) Math.exp(-x)) * u[i];
        }
    }

    @Override
    public void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] g, float[] u, int s, int e) {
        int i = s;
        FloatVector one = FloatVector.broadcast(S, 1f);
        for (; i + L <= e; i += L) {
            FloatVector x = FloatVector.fromArray(S, g, i);
            FloatVector sig = one.div(exp(x.neg()).add(1f));
            FloatVector go = FloatVector.fromArray(S, dout, i);
            FloatVector ui = FloatVector.fromArray(S, u, i);
            go.mul(x.mul(sig)).intoArray(dup, i);
            go.mul(ui).mul(sig).mul(x.mul(one.sub(sig)).add(1f)).intoArray(dgate, i);
        }
        for (; i < e; i++) {
            float x = g[i];
            float sig = 1f / (1f + (float) Math.exp(-x));
            float go = dout[i];
            float ui = u[i];
            dup[i] = go * (x * sig);
            dgate[i] = go * ui * sig * (1f + x * (1f - sig));
        }
    }

    @Override
    public void normRow(float[] o, int oo, float[] x, int xo, float[] w, float r, int n) {
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector.fromArray(S, x, xo + j).mul(r).mul(FloatVector.fromArray(S, w, j)).intoArray(o, oo + j);
        }
        for (; j < n; j++) {
            o[oo + j] = w[j] * (x[xo + j] * r);
        }
    }

    @Override
    public double normDot(float[] dout, float[] w, float[] x, int o, int n) {
        double total = 0;
        int j = 0;
        while (j + L <= n) {
            FloatVector acc = FloatVector.zero(S);
            int end = Math.min(n, j + CHUNK);
            for (; j + L <= end; j += L) {
                FloatVector p = FloatVector.fromArray(S, dout, o + j).mul(FloatVector.fromArray(S, w, j));
                acc = p.fma(FloatVector.fromArray(S, x, o + j), acc);
            }
            total += sum(acc);
        }
        for (; j < n; j++) {
            total += dout[o + j] * w[j] * x[o + j];
        }
        return total;
    }

    @Override
    public void normBackwardRow(float[] dx, float[] dout, float[] w, float[] x, int o, int n, float r, float c) {
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector t = FloatVector.fromArray(S, dout, o + j).mul(r).mul(FloatVector.fromArray(S, w, j));
            FloatVector d = FloatVector.fromArray(S, dx, o + j).add(t.sub(FloatVector.fromArray(S, x, o + j).mul(c)));
            d.intoArray(dx, o + j);
        }
        for (; j < n; j++) {
            dx[o + j] += r * dout[o + j] * w[j] - c * x[o + j];
        }
    }

    @Override
    public void add(float[] o, float[] a, float[] b, int s, int e) {
        int i = s;
        for (; i + L <= e; i += L) {
            FloatVector.fromArray(S, a, i).add(FloatVector.fromArray(S, b, i)).intoArray(o, i);
        }
        for (; i < e; i++) {
            o[i] = a[i] + b[i];
        }
    }

    @Override
    public void rotate(float[] x, int o, int half, float[] cos, float[] sin, int co, float sign) {
        int i = 0;
        for (; i + L <= half; i += L) {
            FloatVector c = FloatVector.fromArray(S, cos, co + i);
            FloatVector s = FloatVector.fromArray(S, sin, co + i).mul(sign);
            FloatVector x1 = FloatVector.fromArray(S, x, o + i);
            FloatVector x2 = FloatVector.fromArray(S, x, o + half + i);
            x1.mul(c).sub(x2.mul(s)).intoArray(x, o + i);
            x2.mul(c).add(x1.mul(s)).intoArray(x, o + half + i);
        }
        for (; i < half; i++) {
            float c = cos[co + i];
            float s = sign * sin[co + i];
            float x1 = x[o + i];
            float x2 = x[o + half + i];
            x[o + i] = x1 * c - x2 * s;
            x[o + half + i] = x2 * c + x1 * s;
        }
    }

    @Override
    public float crossEntropyRow(float[] x, int off, int n, boolean grad, float s) {
        float max = max(x, off, n);
        if (max == Float.NEGATIVE_INFINITY) {
            return max;
        }
        FloatVector sub = FloatVector.broadcast(S, -max);
        double sum = 0;
        int j = 0;
        while (j + L <= n) {
            FloatVector acc = FloatVector.zero(S);
            int end = Math.min(n, j + CHUNK);
            for (; j + L <= end; j += L) {
                FloatVector e = exp(FloatVector.fromArray(S, x, off + j).add(sub));
                if (grad) {
                    e.intoArray(x, off + j);
                }
                acc = acc.add(e);
            }
            sum += sum(acc);
        }
        for (; j < n; j++) {
            float e = (float) Math.exp(x[off + j] - max);
            if (grad) {
                x[off + j] = e;
            }
            sum += e;
        }
        if (grad) {
            scale(x, off, n, (float) (s / sum));
        }
        return (float) (max + Math.log(sum));
    }
}
