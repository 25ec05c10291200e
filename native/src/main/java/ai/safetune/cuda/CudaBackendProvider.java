package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.BackendProvider;

/**
 * Finds the CUDA backend through {@link java.util.ServiceLoader}. Unavailable, with the reason, when the
 * native library is missing from the jar (built without nvcc), cannot be loaded (e.g. cuBLAS not on the
 * library path), or CUDA reports no driver or no device; {@link ai.safetune.backend.Backends} then uses the
 * CPU backend unless {@code SAFETUNE_BACKEND=cuda} forces this one.
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
            return Availability.no("CUDA kernel library not loadable (" + t.getClass().getSimpleName() + ": "
                    + t.getMessage() + "); the jar holds it only when nvcc was found at build time, and it needs"
                    + " libcublas.so.13 on the library path");
        }
        int[] n = new int[1];
        int rc = SafeTuneKernels.st_device_count(n);
        if (rc != SafeTuneKernels.ST_OK) {
            return Availability.no(SafeTuneKernels.st_last_error().getString());
        }
        if (n[0] == 0) {
            return Availability.no("no CUDA device");
        }
        return Availability.yes();
    }

    @Override
    public Backend create(BackendOptions options) {
        Availability a = availability();
        if (!a.available()) {
            throw new IllegalStateException("cuda backend not available: " + a.reason());
        }
        return new CudaBackend(0);
    }
}
