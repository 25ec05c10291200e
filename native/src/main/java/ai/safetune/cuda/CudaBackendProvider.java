package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.BackendProvider;

/**
 * Finds the CUDA backend through {@link java.util.ServiceLoader}. Unavailable, with the reason, when the
 * native library is missing from the jar (built without nvcc), cannot be loaded (e.g. cuBLAS not on the
 * library path), or CUDA reports no driver or no device; {@link ai.safetune.backend.Backends} then uses the
 * CPU backend unless {@code SAFETUNE_BACKEND=cuda} forces this one. The host emulation of the kernel library
 * (cuda-kernels/host, for tests) is refused unless {@code -Dsafetune.cuda.hostEmulation=true}.
 */
public final class CudaBackendProvider implements BackendProvider {
    private static volatile Availability cached;

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Availability availability() {
        Availability a = cached;
        if (a == null) {
            a = probe();
            cached = a;
        }
        return a;
    }

    static Availability probe() {
        try {
            SafeTuneKernels.load();
        } catch (Throwable t) {  // UnsatisfiedLinkError, NoClassDefFoundError after a failed first load
            String platform = org.bytedeco.javacpp.Loader.getPlatform();
            if (SafeTuneKernels.class.getResource(platform + "/libjniSafeTuneKernels.so") == null) {
                return Availability.no("this build has no CUDA backend for " + platform
                        + " (nvcc was not found when safetune-native was built)");
            }
            return Availability.no("the CUDA kernel library is in the jar but could not be loaded; it needs"
                    + " libcublas.so.13 on LD_LIBRARY_PATH (a CUDA 13 toolkit's lib64 or the nvidia-cublas wheel's"
                    + " nvidia/cu13/lib): " + t.getClass().getSimpleName() + ": " + t.getMessage());
        }
        int[] n = new int[1];
        int rc = SafeTuneKernels.st_device_count(n);
        if (rc != SafeTuneKernels.ST_OK) {
            return Availability.no(SafeTuneKernels.st_last_error().getString());
        }
        if (n[0] == 0) {
            return Availability.no("no CUDA device");
        }
        if (hostEmulation() && !Boolean.getBoolean(HOST_EMULATION)) {
            return Availability.no("the kernel library loaded is SafeTune's host emulation of its C API (CPU"
                    + " references, for tests of this backend without a GPU), not CUDA; -D" + HOST_EMULATION
                    + "=true admits it");
        }
        return Availability.yes();
    }

    /** The system property that admits the host emulation of the kernel library (the native module's tests). */
    static final String HOST_EMULATION = "safetune.cuda.hostEmulation";

    /** Whether the loaded kernel library is the host emulation (cuda-kernels/host), which names itself so. */
    static boolean hostEmulation() {
        try {
            return isHostEmulation(CudaBackend.deviceName(0));
        } catch (CudaException e) {
            return false;
        }
    }

    /** Whether a device name is the host emulation's ("SafeTune host emulation (CPU references, not a GPU)"). */
    static boolean isHostEmulation(String deviceName) {
        return deviceName.contains("host emulation");
    }

    @Override
    public Backend create(BackendOptions options) {
        Availability a = availability();
        if (!a.available()) {
            throw new IllegalStateException("cuda backend not available: " + a.reason());
        }
        return new CudaBackend(0, precision(options));
    }

    /** The {@code cuda.precision} setting of the options if given, else {@link CudaPrecision#configured()}. */
    static CudaPrecision precision(BackendOptions options) {
        String p = options.settings().get(CudaPrecision.SETTING);
        return p != null ? CudaPrecision.parse(p, "backend setting " + CudaPrecision.SETTING) : CudaPrecision.configured();
    }
}
