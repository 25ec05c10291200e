package ai.safetune.backend.cpu;

import java.util.Arrays;

/** Plain-Java inner loops: 4 rows × 4 k per step with independent partial sums for instruction-level parallelism. */
final class ScalarKernel implements Kernel {
    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void rows(float[] x, int i0, int i1, int K, float[] bt, int nb, float[] c) {
        Arrays.fill(c, 0, (i1 - i0) * nb, 0f);
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            int x0 = i * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
            int c0 = (i - i0) * nb, c1 = c0 + nb, c2 = c1 + nb, c3 = c2 + nb;
            int k = 0;
            for (; k + 4 <= K; k += 4) {
                float a00 = x[x0 + k], a01 = x[x0 + k + 1], a02 = x[x0 + k + 2], a03 = x[x0 + k + 3];
                float a10 = x[x1 + k], a11 = x[x1 + k + 1], a12 = x[x1 + k + 2], a13 = x[x1 + k + 3];
                float a20 = x[x2 + k], a21 = x[x2 + k + 1], a22 = x[x2 + k + 2], a23 = x[x2 + k + 3];
                float a30 = x[x3 + k], a31 = x[x3 + k + 1], a32 = x[x3 + k + 2], a33 = x[x3 + k + 3];
                int o0 = k * nb, o1 = o0 + nb, o2 = o1 + nb, o3 = o2 + nb;
                for (int j = 0; j < nb; j++) {
                    float b0 = bt[o0 + j], b1 = bt[o1 + j], b2 = bt[o2 + j], b3 = bt[o3 + j];
                    c[c0 + j] += a00 * b0 + a01 * b1 + a02 * b2 + a03 * b3;
                    c[c1 + j] += a10 * b0 + a11 * b1 + a12 * b2 + a13 * b3;
                    c[c2 + j] += a20 * b0 + a21 * b1 + a22 * b2 + a23 * b3;
                    c[c3 + j] += a30 * b0 + a31 * b1 + a32 * b2 + a33 * b3;
                }
            }
            for (; k < K; k++) {
                float a0 = x[x0 + k], a1 = x[x1 + k], a2 = x[x2 + k], a3 = x[x3 + k];
                int o = k * nb;
                for (int j = 0; j < nb; j++) {
                    float b = bt[o + j];
                    c[c0 + j] += a0 * b;
                    c[c1 + j] += a1 * b;
                    c[c2 + j] += a2 * b;
                    c[c3 + j] += a3 * b;
                }
            }
        }
        for (; i < i1; i++) {
            int xo = i * K;
            int co = (i - i0) * nb;
            for (int k = 0; k < K; k++) {
                float a = x[xo + k];
                int o = k * nb;
                for (int j = 0; j < nb; j++) {
                    c[co + j] += a * bt[o + j];
                }
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
