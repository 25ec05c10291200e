package ai.safetune.backend.cpu;

/**
 * Plain-Java inner loops: the fallback when the Vector API is absent. The GEMM tile is 4 rows × 64 columns, updated
 * 4 k at a time with independent products (HotSpot vectorizes the j loop into SIMD multiplies and adds).
 */
final class ScalarKernel implements Kernel {
    private static final int MR = 4;
    private static final int NR = 64;

    @Override
    public String name() {
        return "scalar";
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
        if (!load) {
            java.util.Arrays.fill(t, tOff, tOff + MR * NR, 0f);
        }
        int k = 0;
        // 4 k per pass over the tile: a quarter of the accumulator loads/stores, and a j loop HotSpot vectorizes
        for (; k + 4 <= kc; k += 4) {
            int ao = aOff + k * MR;
            int b0 = bOff + k * NR, b1 = b0 + NR, b2 = b1 + NR, b3 = b2 + NR;
            for (int r = 0; r < MR; r++) {
                float a0 = a[ao + r], a1 = a[ao + MR + r], a2 = a[ao + 2 * MR + r], a3 = a[ao + 3 * MR + r];
                int to = tOff + r * NR;
                for (int j = 0; j < NR; j++) {
                    t[to + j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
                }
            }
        }
        for (; k < kc; k++) {
            int ao = aOff + k * MR;
            int bo = bOff + k * NR;
            for (int r = 0; r < MR; r++) {
                float av = a[ao + r];
                int to = tOff + r * NR;
                for (int j = 0; j < NR; j++) {
                    t[to + j] += av * b[bo + j];
                }
            }
        }
    }

    @Override
    public void store(float[] t, int tOff, float[] c, int cOff, int ldc, int rows, int cols, float scale,
                      boolean accumulate) {
        for (int r = 0; r < rows; r++) {
            int to = tOff + r * NR;
            int co = cOff + r * ldc;
            for (int j = 0; j < cols; j++) {
                float v = scale * t[to + j];
                c[co + j] = accumulate ? c[co + j] + v : v;
            }
        }
    }

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int n) {
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

    @Override
    public void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        for (int k = 0; k < n; k++) {
            y[yo + k] += alpha * x[xo + k];
        }
    }
}
