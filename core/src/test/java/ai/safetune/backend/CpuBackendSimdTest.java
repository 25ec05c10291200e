package ai.safetune.backend;

import ai.safetune.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import static org.assertj.core.api.Assertions.assertThat;

/** The op tests of {@link CpuBackendTest} on the Vector API kernels (surefire runs with jdk.incubator.vector). */
class CpuBackendSimdTest extends CpuBackendTest {
    @BeforeAll
    static void setUpSimd() {
        be.close();
        be = new CpuBackend(2, true);
        assertThat(((CpuBackend) be).kernelName()).startsWith("vector-api");
    }

    @AfterAll
    static void tearDownSimd() {
        be.close();
    }
}
