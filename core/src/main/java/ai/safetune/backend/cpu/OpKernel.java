package ai.safetune.backend.cpu;

/**
 * The non-GEMM inner loops of the CPU backend: the small products of the attention tiles, exp rows and the
 * elementwise ops. {@link ScalarOpKernel} is plain Java and always works; {@code VectorOpKernel} uses the
 * incubating Vector API and is picked only when the JVM has {@code jdk.incubator.vector} (see {@link OpKernels}).
 * Each method is sequential and its result depends only on its arguments (never on threads), which keeps a
 * seeded training run bit-reproducible.
 */
interface OpKernel {
    String name();

    /**
     * Column granularity the products run fastest at: callers may round a column range up to a multiple of it
     * when the buffers have the room (the extra columns are computed and ignored).
     */
    int width();

    /**
     * {@code C[cOff + r·ldc + j] (+)= Σ_{k ∈ [k0, k1)} A[aOff + r·ars + k·aks] · B[bOff + k·ldb + j]} for
     * {@code r < rows}, {@code j ∈ [n0, n1)}. A is read through two strides, so a transposed A costs nothing;
     * B rows are contiguous along {@code j}. With an empty k range and {@code accumulate = false}, C gets zeros.
     */
    void mm(float[] a, int aOff, int ars, int aks, int rows, float[] b, int bOff, int ldb, int k0, int k1,
            float[] c, int cOff, int ldc, int n0, int n1, boolean accumulate);

    /** {@code max x[off..off+n)}; {@code −∞} for n = 0. */
    float max(float[] x, int off, int n);

    /** {@code x[j] = exp(x[j]·mul − sub)} over {@code [off, off+n)}, returning their sum ({@code exp(−∞) = 0}). */
    float expRow(float[] x, int off, int n, float mul, float sub);

    /** {@code x[j] *= s} over {@code [off, off+n)}. */
    void scale(float[] x, int off, int n, float s);

    /** {@code Σ a[ao+k]·b[bo+k]}, {@code k < n}. */
    float dot(float[] a, int ao, float[] b, int bo, int n);

    /** {@code Σ x[off+k]²} in double (per-lane fp32 partial sums added in double). */
    double sumSquares(float[] x, int off, int n);

    /** {@code dp[j] = p[j]·(dp[j] − d)·s} over {@code [off, off+n)} (the softmax backward of attention). */
    void softmaxGrad(float[] p, float[] dp, int off, int n, float d, float s);

    /** {@code out[i] = silu(g[i])·u[i]} over {@code [s, e)}. */
    void swiglu(float[] out, float[] g, float[] u, int s, int e);

    /** {@code dgate = dout·u·silu'(g)}, {@code dup = dout·silu(g)} over {@code [s, e)}; outputs may alias dout. */
    void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] g, float[] u, int s, int e);

    /** {@code o[oo+j] = w[j]·(x[xo+j]·r)} over {@code j < n} (rounding as HF: x·r first). */
    void normRow(float[] o, int oo, float[] x, int xo, float[] w, float r, int n);

    /** {@code Σ dout[o+j]·w[j]·x[o+j]} over {@code j < n}, in double (per-lane fp32 partial sums added in double). */
    double normDot(float[] dout, float[] w, float[] x, int o, int n);

    /** {@code dx[o+j] += r·dout[o+j]·w[j] − c·x[o+j]} over {@code j < n}. */
    void normBackwardRow(float[] dx, float[] dout, float[] w, float[] x, int o, int n, float r, float c);

    /** {@code o[j] = a[j] + b[j]} over {@code [s, e)}. */
    void add(float[] o, float[] a, float[] b, int s, int e);

    /**
     * Rotates pairs {@code (x[o+i], x[o+half+i])} by the angle whose cosine/sine are {@code cos[co+i]},
     * {@code sign·sin[co+i]}, {@code i < half}.
     */
    void rotate(float[] x, int o, int half, float[] cos, float[] sin, int co, float sign);

    /**
     * One fused cross-entropy row over {@code x[off..off+n)} (the logits): returns {@code logsumexp} (sum in
     * double over fp32 chunk sums) and, when {@code grad}, overwrites {@code x[j]} with
     * {@code s·exp(x[j] − lse)} (the caller subtracts {@code s} at the target).
     */
    float crossEntropyRow(float[] x, int off, int n, boolean grad, float s);
}
