package ai.safetune.backend.cpu;

/** Plain-Java {@link OpKernel}: the loops as written, with a few independent partial sums where it helps. */
final class ScalarOpKernel implements OpKernel {
    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int width() {
        return 1;
    }

    @Override
    public void mm(float[] a, int aOff, int ars, int aks, int rows, float[] b, int bOff, int ldb, int k0, int k1,
                   float[] c, int cOff, int ldc, int n0, int n1, boolean accumulate) {
        for (int r = 0; r < rows; r++) {
            int co = cOff + r * ldc;
            if (!accumulate) {
                java.util.Arrays.fill(c, co + n0, co + n1, 0f);
            }
            int ao = aOff + r * ars;
            for (int k = k0; k < k1; k++) {
                float av = a[ao + k * aks];
                if (av == 0f) {
                    continue;
                }
                int bo = bOff + k * ldb;
                for (int j = n0; j < n1; j++) {
                    c[co + j] += av * b[bo + j];
                }
            }
        }
    }

    @Override
    public float max(float[] x, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int j = off; j < off + n; j++) {
            m = Math.max(m, x[j]);
        }
        return m;
    }

    @Override
    public float expRow(float[] x, int off, int n, float mul, float sub) {
        float sum = 0f;
        for (int j = off; j < off + n; j++) {
            float p = (float) Math.exp(x[j] * mul - sub);
            x[j] = p;
            sum += p;
        }
        return sum;
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        for (int j = off; j < off + n; j++) {
            x[j] *= s;
        }
    }

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = 0;
        for (; k + 4 <= n; k += 4) {
            s0 += a[ao + k] * b[bo + k];
            s1 += a[ao + k + 1] * b[bo + k + 1];
            s2 += a[ao + k + 2] * b[bo + k + 2];
            s3 += a[ao + k + 3] * b[bo + k + 3];
        }
        for (; k < n; k++) {
            s0 += a[ao + k] * b[bo + k];
        }
        return (s0 + s1) + (s2 + s3);
    }

    @Override
    public double sumSquares(float[] x, int off, int n) {
        double s = 0;
        for (int j = off; j < off + n; j++) {
            s += x[j] * x[j];
        }
        return s;
    }

    @Override
    public void softmaxGrad(float[] p, float[] dp, int off, int n, float d, float s) {
        for (int j = off; j < off + n; j++) {
            dp[j] = p[j] * (dp[j] - d) * s;
        }
    }

    @Override
    public void swiglu(float[] out, float[] g, float[] u, int s, int e) {
        for (int i = s; i < e; i++) {
            float x = g[i];
            out[i] = x / (1f + (float) Math.exp(-x)) * u[i];
        }
    }

    @Override
    public void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] g, float[] u, int s, int e) {
        for (int i = s; i < e; i++) {
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
        for (int j = 0; j < n; j++) {
            o[oo + j] = w[j] * (x[xo + j] * r);
        }
    }

    @Override
    public double normDot(float[] dout, float[] w, float[] x, int o, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) {
            s += dout[o + j] * w[j] * x[o + j];
        }
        return s;
    }

    @Override
    public void normBackwardRow(float[] dx, float[] dout, float[] w, float[] x, int o, int n, float r, float c) {
        for (int j = 0; j < n; j++) {
            dx[o + j] += r * dout[o + j] * w[j] - c * x[o + j];
        }
    }

    @Override
    public void add(float[] o, float[] a, float[] b, int s, int e) {
        for (int i = s; i < e; i++) {
            o[i] = a[i] + b[i];
        }
    }

    @Override
    public void rotate(float[] x, int o, int half, float[] cos, float[] sin, int co, float sign) {
        for (int i = 0; i < half; i++) {
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
        double sum = 0;
        if (grad) {
            for (int j = off; j < off + n; j++) {
                float e = (float) Math.exp(x[j] - max);
                x[j] = e;
                sum += e;
            }
            scale(x, off, n, (float) (s / sum));
        } else {
            for (int j = off; j < off + n; j++) {
                sum += Math.exp(x[j] - max);
            }
        }
        return (float) (max + Math.log(sum));
    }
}
