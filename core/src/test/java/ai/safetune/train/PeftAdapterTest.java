package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.LoraAdapter;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeftAdapterTest {
    private static final ModelConfig TINY = new ModelConfig(49152, 32, 96, 2, 4, 2, 8, 10000, 1e-6, 2048, false);

    @Test
    void loadsReferenceAdaptersWithTheirConfig() {
        PeftAdapter tiny = PeftAdapter.load(TrainShared.reference("tiny_lora/adapter_init"));
        assertThat(tiny.config().r()).isEqualTo(4);
        assertThat(tiny.config().useRsLora()).isTrue();
        assertThat(tiny.config().scaling()).isEqualTo(4.0);
        assertThat(tiny.weights().modules()).hasSize(2 * 7);
        LoraAdapter.Pair down = tiny.weights().modules().get("model.layers.0.mlp.down_proj");
        assertThat(down.in()).isEqualTo(96);
        assertThat(down.out()).isEqualTo(32);
        tiny.checkFits(TINY);

        PeftAdapter smol = PeftAdapter.load(TrainShared.reference("smollm2_lora/adapter_init"));
        assertThat(smol.config().scaling()).isEqualTo(2.0);
        assertThat(smol.weights().modules()).hasSize(30 * 7);
    }

    @Test
    void saveThenLoadIsExactAndPeftShaped(@TempDir Path dir) throws Exception {
        PeftAdapter ref = PeftAdapter.load(TrainShared.reference("tiny_lora/adapter_init"));
        ref.save(dir, "tiny-llama");
        PeftAdapter back = PeftAdapter.load(dir);
        assertThat(back.config()).isEqualTo(ref.config());
        for (Map.Entry<String, LoraAdapter.Pair> e : ref.weights().modules().entrySet()) {
            LoraAdapter.Pair b = back.weights().modules().get(e.getKey());
            assertThat(b.a()).containsExactly(e.getValue().a());
            assertThat(b.b()).containsExactly(e.getValue().b());
        }
        // the same tensor names PEFT wrote
        try (SafetensorsFile mine = SafetensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS_FILE));
             SafetensorsFile theirs = SafetensorsFile.open(TrainShared.reference("tiny_lora/adapter_init/adapter_model.safetensors"))) {
            assertThat(mine.names()).isEqualTo(theirs.names());
        }
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG_FILE).toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LORA");
        assertThat(cfg.get("lora_alpha").asInt()).isEqualTo(8);
        assertThat(cfg.get("use_rslora").asBoolean()).isTrue();
    }

    @Test
    void freshInitIsKaimingUniformAWithZeroB() {
        LoraConfig lora = LoraConfig.builder().r(4).alpha(8).targetModules("q_proj,down_proj").build();
        PeftAdapter a = PeftAdapter.init(TINY, lora, 7);
        PeftAdapter again = PeftAdapter.init(TINY, lora, 7);
        assertThat(a.weights().modules()).containsOnlyKeys("model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj",
                "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj");
        LoraAdapter.Pair q = a.weights().modules().get("model.layers.0.self_attn.q_proj");
        double bound = Math.sqrt(1.0 / 32);
        double maxAbs = 0;
        for (float x : q.a()) {
            maxAbs = Math.max(maxAbs, Math.abs(x));
        }
        assertThat(maxAbs).isLessThanOrEqualTo(bound).isGreaterThan(bound * 0.8);
        for (float x : q.b()) {
            assertThat(x).isZero();
        }
        assertThat(again.weights().modules().get("model.layers.0.self_attn.q_proj").a()).containsExactly(q.a());
    }

    @Test
    void rejectsBrokenAdapters(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> PeftAdapter.load(dir)).hasMessageContaining("no adapter_config.json");
        Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE), "{\"peft_type\":\"LORA\",\"r\":4");
        Files.copy(TrainShared.reference("tiny_lora/adapter_init/adapter_model.safetensors"), dir.resolve(PeftAdapter.WEIGHTS_FILE));
        assertThatThrownBy(() -> PeftAdapter.load(dir)).hasMessageContaining("not valid JSON");
        Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE),
                "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":8,\"target_modules\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]}");
        assertThatThrownBy(() -> PeftAdapter.load(dir)).hasMessageContaining("expected rank r=8");
        Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE),
                "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"q_proj\"]}");
        assertThatThrownBy(() -> PeftAdapter.load(dir)).hasMessageContaining("does not list in target_modules");
        PeftAdapter smol = PeftAdapter.load(TrainShared.reference("smollm2_lora/adapter_init"));
        assertThatThrownBy(() -> smol.checkFits(TINY)).hasMessageContaining("beyond the model's 2 layers");
    }

    @Test
    void gradientNormOfTheReferenceGradientsMatchesCaseJson() throws Exception {
        for (String c : List.of("tiny_lora", "smollm2_lora")) {
            JsonNode cas = new ObjectMapper().readTree(TrainShared.reference(c + "/case.json").toFile());
            List<float[]> grads = new ArrayList<>();
            try (SafetensorsFile f = SafetensorsFile.open(TrainShared.reference(c + "/grads_step0.safetensors"))) {
                for (String n : f.names()) {
                    grads.add(f.readFloats(n));
                }
            }
            double expected = cas.get("steps").get(0).get("grad_norm_before_clip").asDouble();
            double norm = AdamW.clipGradNorm(grads, 1.0);
            assertThat(norm).isCloseTo(expected, org.assertj.core.data.Percentage.withPercentage(1e-3));
            double after = AdamW.clipGradNorm(grads, 0);
            assertThat(after).isLessThanOrEqualTo(Math.min(norm, 1.0) + 1e-6);
        }
    }
}
