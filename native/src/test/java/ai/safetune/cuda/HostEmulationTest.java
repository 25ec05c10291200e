package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.safetune.backend.BackendProvider;
import org.junit.jupiter.api.Test;

/**
 * The host emulation of the kernel library (cuda-kernels/host), which the native module's second test run
 * ({@code host-emulation} in its pom) puts in place of the real library so CudaBackend's tests run without a GPU:
 * it must never pass for CUDA unless asked. Skips where the emulation is not the library loaded (the default test
 * run, a GPU machine).
 */
class HostEmulationTest {

    private static boolean emulationLoaded() {
        try {
            SafeTuneKernels.load();
        } catch (Throwable t) {
            return false;
        }
        return CudaBackendProvider.hostEmulation();
    }

    /**
     * In the {@code host-emulation} run (which sets {@code safetune.cuda.hostEmulation}) the emulation must be what
     * is loaded: if JavaCPP found the real library instead (the emulation missing or not first on the path), every
     * GPU test of that run would skip and the run would pass having checked nothing.
     */
    @Test
    void theHostEmulationRunReallyRunsOnTheEmulation() {
        assumeTrue(Boolean.getBoolean(CudaBackendProvider.HOST_EMULATION), "not the host-emulation test run");
        assertThat(emulationLoaded()).as("the kernel library loaded in the host-emulation run is the emulation"
                + " (cuda-kernels/target/host/libsafetune_kernels.so on java.library.path, JavaCPP pathsFirst)").isTrue();
        assertThat(new CudaBackendProvider().availability().available()).as("admitted").isTrue();
    }

    @Test
    void theProviderRefusesTheEmulationUnlessAdmittedAndABackendOnItSaysSo() {
        assumeTrue(emulationLoaded(), "the kernel library loaded here is not the host emulation");
        String before = System.getProperty(CudaBackendProvider.HOST_EMULATION);
        try {
            System.clearProperty(CudaBackendProvider.HOST_EMULATION);
            BackendProvider.Availability refused = CudaBackendProvider.probe();
            assertThat(refused.available()).as("refused without -D" + CudaBackendProvider.HOST_EMULATION).isFalse();
            assertThat(refused.reason()).contains("host emulation").contains(CudaBackendProvider.HOST_EMULATION);
            System.setProperty(CudaBackendProvider.HOST_EMULATION, "true");
            assertThat(CudaBackendProvider.probe().available()).as("admitted with the property").isTrue();
        } finally {
            if (before == null) {
                System.clearProperty(CudaBackendProvider.HOST_EMULATION);
            } else {
                System.setProperty(CudaBackendProvider.HOST_EMULATION, before);
            }
        }
        try (CudaBackend b = new CudaBackend(0, CudaPrecision.BF16)) {
            assertThat(b.hostEmulation()).isTrue();
            assertThat(b.description()).contains("host emulation").contains("not a GPU");
        }
    }
}
