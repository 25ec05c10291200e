package ai.safetune.backend.cpu;

import java.util.function.Predicate;
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
        if (allowVector && simdAllowed() && !vectorModulePresent()) {
            LOG.info("cpu backend: scalar kernels; start the JVM with --add-modules jdk.incubator.vector for SIMD ones");
        }
        ScalarKernel scalar = new ScalarKernel();
        return load(Kernel.class, allowVector, "ai.safetune.backend.cpu.VectorKernel", scalar, k -> {
            float[] a = new float[37];
            float[] b = new float[37];
            for (int i = 0; i < a.length; i++) {
                a[i] = i * 0.5f;
                b[i] = 1f - i * 0.25f;
            }
            float want = scalar.dot(a, 0, b, 0, a.length);
            return Math.abs(k.dot(a, 0, b, 0, a.length) - want) <= 1e-3f * (1 + Math.abs(want));
        });
    }

    /**
     * The Vector API implementation {@code vectorClass} of a kernel interface when allowed ({@code allowVector},
     * {@link #PROPERTY}), the JVM has {@code jdk.incubator.vector} and it agrees with {@code scalar} on a quick
     * self-check (so a broken vector path can never give wrong numbers); else {@code scalar}. Never fails.
     */
    static <T> T load(Class<T> kind, boolean allowVector, String vectorClass, T scalar, Predicate<T> agreesWithScalar) {
        if (!allowVector || !simdAllowed() || !vectorModulePresent()) {
            return scalar;
        }
        String name = vectorClass.substring(vectorClass.lastIndexOf('.') + 1);
        try {
            T k = kind.cast(Class.forName(vectorClass).getDeclaredConstructor().newInstance());
            if (!agreesWithScalar.test(k)) {
                LOG.warn("cpu backend: {} failed its self-check against the scalar loops; using them", name);
                return scalar;
            }
            return k;
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            LOG.info("cpu backend: {} unavailable ({}); using the scalar loops", name, e.toString());
            return scalar;
        }
    }

    private static boolean simdAllowed() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim());
    }

    private static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }
}
