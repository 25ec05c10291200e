package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A PEFT adapter applied in the forward pass reproduces PEFT's loss on the reference LoRA batch (right-padded,
 * loss on assistant tokens): at {@code adapter_init} (case.json steps[0].loss) and after the 3 steps.
 */
class ReferenceLoraLossTest {

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "tiny_lora, adapter_init, 1e-5",
            "tiny_lora, adapter_after_steps, 1e-3"})
    void tinyAdapterLossMatchesPeft(String dir, String adapter, double relTol) throws Exception {
        check("tiny-llama", dir, adapter, relTol);
    }

    @ParameterizedTest(name = "{0} {1}")
    @Tag("slow")
    @CsvSource({
            "smollm2_lora, adapter_init, 1e-4",
            "smollm2_lora, adapter_after_steps, 1e-3"})
    void smollmAdapterLossMatchesPeft(String dir, String adapter, double relTol) throws Exception {
        check("SmolLM2-135M-Instruct.Q4_1.gguf", dir, adapter, relTol);
    }

    private static void check(String modelName, String dir, String adapter, double relTol) throws Exception {
        Path caseDir = ForwardShared.reference(dir);
        JsonNode c = new ObjectMapper().readTree(caseDir.resolve("case.json").toFile());
        double expected = adapter.equals("adapter_init") ? c.get("steps").get(0).get("loss").asDouble()
                : c.get("loss_after_steps").asDouble();
        LoraAdapter lora = PeftAdapter.load(caseDir.resolve(adapter));
        assertThat(lora.scaling()).isEqualTo(c.get("lora").get("scaling").asDouble());
        try (ModelFiles files = ModelFiles.open(ForwardShared.model(modelName));
             Backend be = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
             LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, false);
             SafetensorsFile batch = SafetensorsFile.open(caseDir.resolve("batch.safetensors"))) {
            m.setAdapter(lora);
            int[] ids = batch.readInts("input_ids");
            int[] mask = batch.readInts("attention_mask");
            int[] labels = batch.readInts("labels");
            int rows = (int) batch.tensor("input_ids").shape()[0];
            int t = ids.length / rows;
            int[] pos = new int[ids.length];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % t;
            }
            float[] logits = m.logits(new TokenBatch(rows, t, ids, pos, mask));
            int v = files.config().vocabSize();
            double sum = 0;
            int n = 0;
            for (int b = 0; b < rows; b++) {
                for (int i = 0; i + 1 < t; i++) {
                    int label = labels[b * t + i + 1];
                    if (label == -100) {
                        continue;
                    }
                    int off = (b * t + i) * v;
                    sum += ReferenceLogitsTest.CpuLse.of(logits, off, v) - logits[off + label];
                    n++;
                }
            }
            assertThat(n).isEqualTo(c.get("n_loss_tokens").asInt());
            double loss = sum / n;
            assertThat(Math.abs(loss - expected) / Math.abs(expected)).as("loss %s vs PEFT %s", loss, expected)
                    .isLessThanOrEqualTo(relTol);
        }
    }

    @Test
    void malformedAdaptersAreRejectedWithTheFile(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        assertThatThrownBy(() -> PeftAdapter.load(tmp.resolve("nope"))).hasMessageContaining("not a directory");
        Files.writeString(tmp.resolve(PeftAdapter.CONFIG), "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true}");
        Files.copy(ForwardShared.reference("tiny_lora/adapter_init").resolve(PeftAdapter.WEIGHTS), tmp.resolve(PeftAdapter.WEIGHTS));
        assertThatThrownBy(() -> PeftAdapter.load(tmp)).hasMessageContaining("use_dora");
        Files.writeString(tmp.resolve(PeftAdapter.CONFIG), "{\"r\": 8, \"lora_alpha\": 8}");
        assertThatThrownBy(() -> PeftAdapter.load(tmp)).hasMessageContaining("expected rank r = 8");
        Files.writeString(tmp.resolve(PeftAdapter.CONFIG), "{\"r\": 4,");
        assertThatThrownBy(() -> PeftAdapter.load(tmp)).hasMessageContaining("not valid JSON");
    }
}
