package ai.safetune.backend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Map;

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

    @Test
    void theOptionsNameWinsOverTheProperty() {
        System.setProperty(Backends.PROPERTY, "tpu");
        try (Backend b = Backends.select(new BackendOptions(1, " Cpu ", Map.of()))) {
            assertThat(b.name()).isEqualTo("cpu");
        }
        assertThatThrownBy(() -> Backends.select(new BackendOptions(1, "npu", Map.of())))
                .hasMessageContaining("'npu' forced by the backend option is unknown").hasMessageContaining("cpu");
        // "auto" (or blank) leaves the choice to the property: the unknown one fails
        assertThatThrownBy(() -> Backends.select(new BackendOptions(1, "auto", Map.of())))
                .hasMessageContaining("'tpu' forced by -Dsafetune.backend");
    }

    @Test
    void optionsAreCheckedAndCopied() {
        assertThat(new BackendOptions(3).backend()).isNull();
        assertThat(new BackendOptions(0, "AUTO", Map.of()).backend()).isNull();
        java.util.HashMap<String, String> settings = new java.util.HashMap<>(Map.of("cuda.precision", "bf16"));
        BackendOptions o = new BackendOptions(0, "cuda", settings);
        settings.clear();
        assertThat(o.settings()).containsEntry("cuda.precision", "bf16");
        assertThatThrownBy(() -> new BackendOptions(-1)).hasMessageContaining("threads");
        assertThatThrownBy(() -> new BackendOptions(0, "cpu", null)).hasMessageContaining("settings");
    }
}
