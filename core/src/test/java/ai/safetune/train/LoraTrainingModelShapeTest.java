package ai.safetune.train;

import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.RandomWeights;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The training model loads its frozen base through the same checks as the inference model. */
class LoraTrainingModelShapeTest {
    private static final ModelConfig CFG = new ModelConfig(50, 32, 48, 2, 4, 2, 8, 10000, 1e-5, 128, false);

    @Test
    void aWeightThatDisagreesWithTheConfigIsNamed() {
        ModelConfig wrong = new ModelConfig(50, 32, 64, 2, 4, 2, 8, 10000, 1e-5, 128, false);
        LoraConfig lora = LoraConfig.builder().r(2).alpha(4).build();
        try (CpuBackend be = new CpuBackend(1); RandomWeights w = new RandomWeights(CFG, 1, false)) {
            assertThatThrownBy(() -> new LoraTrainingModel(wrong, w, be, PeftAdapter.init(wrong, lora, 3), false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("model.layers.0.mlp.gate_proj.weight").hasMessageContaining("[64, 32]");
        }
    }
}
