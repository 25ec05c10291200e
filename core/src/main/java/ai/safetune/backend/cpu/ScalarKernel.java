package ai.safetune.backend.cpu;

/** Plain-Java inner loops: the fallback when the Vector API is absent; simple loops HotSpot can unroll. */
final class ScalarKernel implements Kernel {
    private static final int MR = 4;
    private static final int NR = 16;

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
        for (int k = 0; k < kc; k++) {
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
