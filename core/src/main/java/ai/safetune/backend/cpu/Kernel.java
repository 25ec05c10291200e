package ai.safetune.backend.cpu;

/**
 * The inner loops of the CPU backend. {@link ScalarKernel} is plain Java and always works;
 * {@code VectorKernel} uses the incubating Vector API and is picked only when the JVM runs with
 * {@code --add-modules jdk.incubator.vector} (see {@link Kernels}).
 */
interface Kernel {
    String name();

    /**
     * {@code c[(i - i0)·nb + j] = Σ_k x[i·K + k] · bt[k·nb + j]} for rows {@code i ∈ [i0, i1)}, {@code j < nb}:
     * a block of x times a transposed weight tile {@code bt [K][nb]}.
     */
    void rows(float[] x, int i0, int i1, int K, float[] bt, int nb, float[] c);

    /** {@code Σ a[ao+k]·b[bo+k]} over {@code k < n}. */
    float dot(float[] a, int ao, float[] b, int bo, int n);

    /** {@code y[yo+k] += alpha · x[xo+k]} over {@code k < n}. */
    void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n);
}
