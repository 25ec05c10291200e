package ai.safetune.backend.cpu;

/**
 * The inner loops of the CPU backend. {@link ScalarKernel} is plain Java and always works;
 * {@code VectorKernel} uses the incubating Vector API and is picked only when the JVM runs with
 * {@code --add-modules jdk.incubator.vector} (see {@link Kernels}).
 *
 * <p>The GEMM micro-kernel works on packed panels (see {@link Gemm}): an A panel holds {@link #mr()} rows
 * interleaved per k ({@code a[k·mr + r]}), a B panel {@link #nr()} columns per k ({@code b[k·nr + j]}), so both
 * are read with unit stride and constant-stride indices whose range checks the JIT can hoist.
 */
interface Kernel {
    String name();

    /** Rows of the GEMM micro-tile (A panel width). */
    int mr();

    /** Columns of the GEMM micro-tile (B panel width). */
    int nr();

    /**
     * {@code t[tOff + r·nr + j] = (load ? t[tOff + r·nr + j] : 0) + Σ_{k<kc} a[aOff + k·mr + r] · b[bOff + k·nr + j]}
     * for every {@code r < mr}, {@code j < nr}, summing k in increasing order (continuing the chain when
     * {@code load}, so K-blocking does not change the result).
     */
    void block(float[] a, int aOff, float[] b, int bOff, int kc, float[] t, int tOff, boolean load);

    /**
     * {@code c[cOff + r·ldc + j] = (accumulate ? c[…] : 0) + scale · t[tOff + r·nr + j]} for {@code r < rows},
     * {@code j < cols} (the micro-tile's epilogue).
     */
    void store(float[] t, int tOff, float[] c, int cOff, int ldc, int rows, int cols, float scale, boolean accumulate);

    /** {@code Σ a[ao+k]·b[bo+k]} over {@code k < n}. */
    float dot(float[] a, int ao, float[] b, int bo, int n);

    /** {@code y[yo+k] += alpha · x[xo+k]} over {@code k < n}. */
    void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n);
}
