package ai.safetune.backend.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the CPU inner loops: the Vector API kernel when the JVM has {@code jdk.incubator.vector} (started with
 * {@code --add-modules jdk.incubator.vector}) and {@code -Dsafetune.cpu.simd} is not {@code false}; else the
 * scalar kernel. Never fails: any problem loading the vector kernel means scalar.
 */
final class Kernels {
    private static final Logger LOG = LoggerFactory.getLogger(Kernels.class);
    /** {@code -Dsafetune.cpu.simd=false} forces the scalar kernel. */
    static final String PROPERTY = "safetune.cpu.simd";

    private Kernels() {
    }

    static Kernel pick(boolean allowVector) {
        if (!allowVector || "false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim())) {
            return new ScalarKernel();
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            LOG.info("cpu backend: scalar kernels; start the JVM with --add-modules jdk.incubator.vector for SIMD ones");
            return new ScalarKernel();
        }
        try {
            Kernel k = (Kernel) Class.forName("ai.safetune.backend.cpu.VectorKernel").getDeclaredConstructor().newInstance();
            // a quick self-check so a broken vector path can never give wrong numbers
            float[] a = new float[37];
            float[] b = new float[37];
            for (int i = 0; i < a.length; i++) {
                a[i] = i * 0.5f;
                b[i] = 1f - i * 0.25f;
            }
            float want = new ScalarKernel().dot(a, 0, b, 0, a.length);
            if (Math.abs(k.dot(a, 0, b, 0, a.length) - want) > 1e-3f * (1 + Math.abs(want))) {
                LOG.warn("cpu backend: vector kernel failed its self-check; using scalar kernels");
                return new ScalarKernel();
            }
            return k;
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            LOG.info("cpu backend: vector kernel unavailable ({}); using scalar kernels", e.toString());
            return new ScalarKernel();
        }
    }
}
