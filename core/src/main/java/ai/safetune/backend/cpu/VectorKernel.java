package ai.safetune.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Inner loops on the incubating Vector API (JDK 17: {@code --add-modules jdk.incubator.vector}). Loaded only
 * through {@link Kernels}, which falls back to {@link ScalarKernel} when the module is absent. The GEMM block
 * keeps a 4-row × 2-vector tile of accumulators in registers across the whole k loop (what scalar Java cannot
 * express and C2 does not derive), so it runs near the FMA peak instead of at load/store speed.
 */
final class VectorKernel implements Kernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    @Override
    public String name() {
        return "vector-api " + S.vectorBitSize() + "-bit";
    }

    @Override
    public void rows(float[] x, int i0, int i1, int K, float[] bt, int nb, float[] c) {
        int step = 2 * L;
        int jv = nb - nb % step;
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            int x0 = i * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
            int c0 = (i - i0) * nb, c1 = c0 + nb, c2 = c1 + nb, c3 = c2 + nb;
            for (int j = 0; j < jv; j += step) {
                FloatVector s00 = FloatVector.zero(S), s01 = s00, s10 = s00, s11 = s00;
                FloatVector s20 = s00, s21 = s00, s30 = s00, s31 = s00;
                for (int k = 0, o = j; k < K; k++, o += nb) {
                    FloatVector b0 = FloatVector.fromArray(S, bt, o);
                    FloatVector b1 = FloatVector.fromArray(S, bt, o + L);
                    FloatVector a = FloatVector.broadcast(S, x[x0 + k]);
                    s00 = a.fma(b0, s00);
                    s01 = a.fma(b1, s01);
                    a = FloatVector.broadcast(S, x[x1 + k]);
                    s10 = a.fma(b0, s10);
                    s11 = a.fma(b1, s11);
                    a = FloatVector.broadcast(S, x[x2 + k]);
                    s20 = a.fma(b0, s20);
                    s21 = a.fma(b1, s21);
                    a = FloatVector.broadcast(S, x[x3 + k]);
                    s30 = a.fma(b0, s30);
                    s31 = a.fma(b1, s31);
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
            for (int j = jv; j < nb; j++) {
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (int k = 0, o = j; k < K; k++, o += nb) {
                    float b = bt[o];
                    s0 += x[x0 + k] * b;
                    s1 += x[x1 + k] * b;
                    s2 += x[x2 + k] * b;
                    s3 += x[x3 + k] * b;
                }
                c[c0 + j] = s0;
                c[c1 + j] = s1;
                c[c2 + j] = s2;
                c[c3 + j] = s3;
            }
        }
        for (; i < i1; i++) {
            int xo = i * K;
            int co = (i - i0) * nb;
            for (int j = 0; j < jv; j += step) {
                FloatVector s0 = FloatVector.zero(S), s1 = s0;
                for (int k = 0, o = j; k < K; k++, o += nb) {
                    FloatVector a = FloatVector.broadcast(S, x[xo + k]);
                    s0 = a.fma(FloatVector.fromArray(S, bt, o), s0);
                    s1 = a.fma(FloatVector.fromArray(S, bt, o + L), s1);
                }
                s0.intoArray(c, co + j);
                s1.intoArray(c, co + j + L);
            }
            for (int j = jv; j < nb; j++) {
                float s = 0;
                for (int k = 0, o = j; k < K; k++, o += nb) {
                    s += x[xo + k] * bt[o];
                }
                c[co + j] = s;
            }
        }
    }

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int n) {
        int k = 0;
        float s = 0;
        if (n >= 4 * L) {
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (; k + 4 * L <= n; k += 4 * L) {
                s0 = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), s0);
                s1 = FloatVector.fromArray(S, a, ao + k + L).fma(FloatVector.fromArray(S, b, bo + k + L), s1);
                s2 = FloatVector.fromArray(S, a, ao + k + 2 * L).fma(FloatVector.fromArray(S, b, bo + k + 2 * L), s2);
                s3 = FloatVector.fromArray(S, a, ao + k + 3 * L).fma(FloatVector.fromArray(S, b, bo + k + 3 * L), s3);
            }
            s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        }
        for (; k + L <= n; k += L) {
            s += FloatVector.fromArray(S, a, ao + k).mul(FloatVector.fromArray(S, b, bo + k)).reduceLanes(VectorOperators.ADD);
        }
        for (; k < n; k++) {
            s += a[ao + k] * b[bo + k];
        }
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int k = 0;
        FloatVector av = FloatVector.broadcast(S, alpha);
        for (; k + L <= n; k += L) {
            av.fma(FloatVector.fromArray(S, x, xo + k), FloatVector.fromArray(S, y, yo + k)).intoArray(y, yo + k);
        }
        for (; k < n; k++) {
            y[yo + k] += alpha * x[xo + k];
        }
    }
}
