package ai.safetune.backend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BackendsTest {
    @AfterEach
    void clear() {
        System.clearProperty(Backends.PROPERTY);
    }

    @Test
    void serviceLoaderFindsTheCpuBackend() {
        assertThat(Backends.providers()).extracting(BackendProvider::name).contains("cpu");
        try (Backend b = Backends.select(new BackendOptions(1))) {
            assertThat(b.name()).isNotBlank();
        }
    }

    @Test
    void propertyForcesABackendAndUnknownNamesFail() {
        System.setProperty(Backends.PROPERTY, "CPU");
        try (Backend b = Backends.select(new BackendOptions(2))) {
            assertThat(b.name()).isEqualTo("cpu");
            assertThat(b.description()).contains("2 thread");
        }
        System.setProperty(Backends.PROPERTY, "tpu");
        assertThatThrownBy(Backends::select).hasMessageContaining("'tpu'").hasMessageContaining("unknown")
                .hasMessageContaining("cpu");
    }
}
