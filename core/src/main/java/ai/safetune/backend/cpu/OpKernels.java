package ai.safetune.backend.cpu;

/**
 * Picks the {@link OpKernel} the way {@link Kernels} picks the GEMM kernel: the Vector API one when the JVM has
 * {@code jdk.incubator.vector} and {@code -Dsafetune.cpu.simd} is not {@code false}, else the scalar one. Never
 * fails: any problem loading or self-checking the vector kernel means scalar.
 */
final class OpKernels {
    private OpKernels() {
    }

    static OpKernel pick(boolean allowVector) {
        return Kernels.load(OpKernel.class, allowVector, "ai.safetune.backend.cpu.VectorOpKernel", new ScalarOpKernel(),
                OpKernels::selfCheck);
    }

    /** A small product and an exp row against the scalar kernel, so a broken vector path never gives wrong numbers. */
    private static boolean selfCheck(OpKernel k) {
        OpKernel ref = new ScalarOpKernel();
        int rows = 5, kk = 7, n = 45;
        float[] a = new float[rows * kk];
        float[] b = new float[kk * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = (i % 7) * 0.25f - 0.5f;
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (i % 11) * 0.125f - 0.6f;
        }
        float[] c1 = new float[rows * n];
        float[] c2 = new float[rows * n];
        k.mm(a, 0, kk, 1, rows, b, 0, n, 0, kk, c1, 0, n, 0, n, false);
        ref.mm(a, 0, kk, 1, rows, b, 0, n, 0, kk, c2, 0, n, 0, n, false);
        for (int i = 0; i < c1.length; i++) {
            if (Math.abs(c1[i] - c2[i]) > 1e-4f * (1 + Math.abs(c2[i]))) {
                return false;
            }
        }
        float[] e1 = b.clone();
        float[] e2 = b.clone();
        e1[3] = Float.NEGATIVE_INFINITY;
        e2[3] = Float.NEGATIVE_INFINITY;
        float s1 = k.expRow(e1, 0, 37, 2f, 0.5f);
        float s2 = ref.expRow(e2, 0, 37, 2f, 0.5f);
        return Math.abs(s1 - s2) <= 1e-4f * s2 && e1[3] == 0f && Math.abs(e1[10] - e2[10]) <= 1e-5f * e2[10];
    }
}
