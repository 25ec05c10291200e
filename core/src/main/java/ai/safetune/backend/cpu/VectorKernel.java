package ai.safetune.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Inner loops on the incubating Vector API (JDK 17: {@code --add-modules jdk.incubator.vector}). Loaded only
 * through {@link Kernels}, which falls back to {@link ScalarKernel} when the module is absent. The GEMM
 * micro-kernel keeps a 6-row × 4-vector tile of accumulators (24 of the 32 AVX-512 registers) over the whole k
 * loop: per k it loads 4 B vectors and broadcasts 6 A values for 24 FMAs, so it is bound by the FMA ports
 * rather than by loads (what scalar Java cannot express and C2 does not derive).
 */
final class VectorKernel implements Kernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int MR = 6;
    private static final int NR = 4 * L;

    @Override
    public String name() {
        return "vector-api " + S.vectorBitSize() + "-bit";
    }

    @Override
    public int mr() {
        return MR;
    }

    @Override
    public int nr() {
        return NR;
    }

    @Override
    public void block(float[] a, int aOff, float[] b, int bOff, int kc, float[] t, int tOff, boolean load) {
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        if (load) {
            c00 = FloatVector.fromArray(S, t, tOff + 0 * NR + 0 * L);
            c01 = FloatVector.fromArray(S, t, tOff + 0 * NR + 1 * L);
            c02 = FloatVector.fromArray(S, t, tOff + 0 * NR + 2 * L);
            c03 = FloatVector.fromArray(S, t, tOff + 0 * NR + 3 * L);
            c10 = FloatVector.fromArray(S, t, tOff + 1 * NR + 0 * L);
            c11 = FloatVector.fromArray(S, t, tOff + 1 * NR + 1 * L);
            c12 = FloatVector.fromArray(S, t, tOff + 1 * NR + 2 * L);
            c13 = FloatVector.fromArray(S, t, tOff + 1 * NR + 3 * L);
            c20 = FloatVector.fromArray(S, t, tOff + 2 * NR + 0 * L);
            c21 = FloatVector.fromArray(S, t, tOff + 2 * NR + 1 * L);
            c22 = FloatVector.fromArray(S, t, tOff + 2 * NR + 2 * L);
            c23 = FloatVector.fromArray(S, t, tOff + 2 * NR + 3 * L);
            c30 = FloatVector.fromArray(S, t, tOff + 3 * NR + 0 * L);
            c31 = FloatVector.fromArray(S, t, tOff + 3 * NR + 1 * L);
            c32 = FloatVector.fromArray(S, t, tOff + 3 * NR + 2 * L);
            c33 = FloatVector.fromArray(S, t, tOff + 3 * NR + 3 * L);
            c40 = FloatVector.fromArray(S, t, tOff + 4 * NR + 0 * L);
            c41 = FloatVector.fromArray(S, t, tOff + 4 * NR + 1 * L);
            c42 = FloatVector.fromArray(S, t, tOff + 4 * NR + 2 * L);
            c43 = FloatVector.fromArray(S, t, tOff + 4 * NR + 3 * L);
            c50 = FloatVector.fromArray(S, t, tOff + 5 * NR + 0 * L);
            c51 = FloatVector.fromArray(S, t, tOff + 5 * NR + 1 * L);
            c52 = FloatVector.fromArray(S, t, tOff + 5 * NR + 2 * L);
            c53 = FloatVector.fromArray(S, t, tOff + 5 * NR + 3 * L);
        } else {
            FloatVector z = FloatVector.zero(S);
            c00 = z; c01 = z; c02 = z; c03 = z; c10 = z; c11 = z; c12 = z; c13 = z; c20 = z; c21 = z; c22 = z; c23 = z; c30 = z; c31 = z; c32 = z; c33 = z; c40 = z; c41 = z; c42 = z; c43 = z; c50 = z; c51 = z; c52 = z; c53 = z;
        }
        for (int k = 0; k < kc; k++) {
            int bo = bOff + k * NR;
            int ao = aOff + k * MR;
            FloatVector b0 = FloatVector.fromArray(S, b, bo + 0 * L);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + 1 * L);
            FloatVector b2 = FloatVector.fromArray(S, b, bo + 2 * L);
            FloatVector b3 = FloatVector.fromArray(S, b, bo + 3 * L);
            FloatVector a0 = FloatVector.broadcast(S, a[ao + 0]);
            c00 = a0.fma(b0, c00);
            c01 = a0.fma(b1, c01);
            c02 = a0.fma(b2, c02);
            c03 = a0.fma(b3, c03);
            FloatVector a1 = FloatVector.broadcast(S, a[ao + 1]);
            c10 = a1.fma(b0, c10);
            c11 = a1.fma(b1, c11);
            c12 = a1.fma(b2, c12);
            c13 = a1.fma(b3, c13);
            FloatVector a2 = FloatVector.broadcast(S, a[ao + 2]);
            c20 = a2.fma(b0, c20);
            c21 = a2.fma(b1, c21);
            c22 = a2.fma(b2, c22);
            c23 = a2.fma(b3, c23);
            FloatVector a3 = FloatVector.broadcast(S, a[ao + 3]);
            c30 = a3.fma(b0, c30);
            c31 = a3.fma(b1, c31);
            c32 = a3.fma(b2, c32);
            c33 = a3.fma(b3, c33);
            FloatVector a4 = FloatVector.broadcast(S, a[ao + 4]);
            c40 = a4.fma(b0, c40);
            c41 = a4.fma(b1, c41);
            c42 = a4.fma(b2, c42);
            c43 = a4.fma(b3, c43);
            FloatVector a5 = FloatVector.broadcast(S, a[ao + 5]);
            c50 = a5.fma(b0, c50);
            c51 = a5.fma(b1, c51);
            c52 = a5.fma(b2, c52);
            c53 = a5.fma(b3, c53);
        }
        c00.intoArray(t, tOff + 0 * NR + 0 * L);
        c01.intoArray(t, tOff + 0 * NR + 1 * L);
        c02.intoArray(t, tOff + 0 * NR + 2 * L);
        c03.intoArray(t, tOff + 0 * NR + 3 * L);
        c10.intoArray(t, tOff + 1 * NR + 0 * L);
        c11.intoArray(t, tOff + 1 * NR + 1 * L);
        c12.intoArray(t, tOff + 1 * NR + 2 * L);
        c13.intoArray(t, tOff + 1 * NR + 3 * L);
        c20.intoArray(t, tOff + 2 * NR + 0 * L);
        c21.intoArray(t, tOff + 2 * NR + 1 * L);
        c22.intoArray(t, tOff + 2 * NR + 2 * L);
        c23.intoArray(t, tOff + 2 * NR + 3 * L);
        c30.intoArray(t, tOff + 3 * NR + 0 * L);
        c31.intoArray(t, tOff + 3 * NR + 1 * L);
        c32.intoArray(t, tOff + 3 * NR + 2 * L);
        c33.intoArray(t, tOff + 3 * NR + 3 * L);
        c40.intoArray(t, tOff + 4 * NR + 0 * L);
        c41.intoArray(t, tOff + 4 * NR + 1 * L);
        c42.intoArray(t, tOff + 4 * NR + 2 * L);
        c43.intoArray(t, tOff + 4 * NR + 3 * L);
        c50.intoArray(t, tOff + 5 * NR + 0 * L);
        c51.intoArray(t, tOff + 5 * NR + 1 * L);
        c52.intoArray(t, tOff + 5 * NR + 2 * L);
        c53.intoArray(t, tOff + 5 * NR + 3 * L);
    }

    @Override
    public void store(float[] t, int tOff, float[] c, int cOff, int ldc, int rows, int cols, float scale,
                      boolean accumulate) {
        int jv = cols - cols % L;
        for (int r = 0; r < rows; r++) {
            int to = tOff + r * NR;
            int co = cOff + r * ldc;
            for (int j = 0; j < jv; j += L) {
                FloatVector v = FloatVector.fromArray(S, t, to + j);
                if (scale != 1f) {
                    v = v.mul(scale);
                }
                if (accumulate) {
                    v = FloatVector.fromArray(S, c, co + j).add(v);
                }
                v.intoArray(c, co + j);
            }
            for (int j = jv; j < cols; j++) {
                float v = scale * t[to + j];
                c[co + j] = accumulate ? c[co + j] + v : v;
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
