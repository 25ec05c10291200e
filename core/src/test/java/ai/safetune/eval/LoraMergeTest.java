package ai.safetune.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A merged adapter exported to ONNX gives the reference loss of the LoRA case at adapter_init (HF + PEFT),
 * on its right-padded batch: checks the merge (rsLoRA scaling), and padding through ORT.
 */
class LoraMergeTest {

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    @Test
    void mergedTinyAdapterGivesReferenceLoss(@TempDir Path dir) throws Exception {
        Path lora = shared().resolve("reference/tiny_lora");
        double want = new ObjectMapper().readTree(lora.resolve("case.json").toFile()).get("steps").get(0).get("loss").asDouble();
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"));
             ModelWeights merged = LoraMerge.merge(files.weights(), lora.resolve("adapter_init"));
             SafetensorsFile batch = SafetensorsFile.open(lora.resolve("batch.safetensors"))) {
            Path onnx = LlamaOnnxExporter.export(files.config(), merged, dir.resolve("m.onnx"));
            int[] ids = batch.readInts("input_ids");
            int[] mask = batch.readInts("attention_mask");
            int[] labels = batch.readInts("labels");
            int b = 2;
            int t = ids.length / b;
            long[][] li = new long[b][t];
            long[][] lp = new long[b][t];
            long[][] lm = new long[b][t];
            for (int r = 0; r < b; r++) {
                for (int j = 0; j < t; j++) {
                    li[r][j] = ids[r * t + j];
                    lp[r][j] = j;
                    lm[r][j] = mask[r * t + j];
                }
            }
            int v = files.config().vocabSize();
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), 2, 1);
                 OrtEvaluator.KvCache empty = ev.emptyCache(b)) {
                OrtEvaluator.Step s = ev.forward(li, lp, lm, empty, t);
                s.cache().close();
                double sum = 0;
                int n = 0;
                for (int r = 0; r < b; r++) {
                    for (int j = 0; j + 1 < t; j++) {
                        int label = labels[r * t + j + 1];
                        if (label == -100) {
                            continue;
                        }
                        float[] lg = s.logits();
                        int off = (r * t + j) * v;
                        double max = Double.NEGATIVE_INFINITY;
                        for (int k = 0; k < v; k++) {
                            max = Math.max(max, lg[off + k]);
                        }
                        double z = 0;
                        for (int k = 0; k < v; k++) {
                            z += Math.exp(lg[off + k] - max);
                        }
                        sum += max + Math.log(z) - lg[off + label];
                        n++;
                    }
                }
                assertThat(n).isEqualTo(41);
                assertThat(Math.abs(sum / n - want) / want).as("loss %s vs reference %s", sum / n, want).isLessThan(1e-5);
            }
        }
    }

    @Test
    void unsupportedAdaptersAreRefusedByName(@TempDir Path dir) throws Exception {
        Path src = shared().resolve("reference/tiny_lora/adapter_init");
        Files.copy(src.resolve("adapter_model.safetensors"), dir.resolve("adapter_model.safetensors"));
        String cfg = Files.readString(src.resolve("adapter_config.json")).replace("\"use_dora\": false", "\"use_dora\": true");
        Files.writeString(dir.resolve("adapter_config.json"), cfg);
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"))) {
            assertThatThrownBy(() -> LoraMerge.merge(files.weights(), dir)).hasMessageContaining("use_dora");
            assertThatThrownBy(() -> LoraMerge.merge(files.weights(), dir.resolve("nope"))).hasMessageContaining("adapter_config.json");
        }
    }
}
