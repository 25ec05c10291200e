package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Logits of the real models against Hugging Face's (../shared/reference, fp32 eager attention):
 * SmolLM2 from the Q4_1 GGUF (quantized in memory, expanded per tile) and tiny-llama from its HF directory.
 */
class ReferenceLogitsTest {
    private static Backend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "smollm2, SmolLM2-135M-Instruct.Q4_1.gguf, 2e-3",
            "tiny, tiny-llama, 1e-4"})
    void logitsMatchReference(String name, String modelFile, double tol) throws Exception {
        JsonNode prompts = new ObjectMapper().readTree(ForwardShared.reference(name + "_logits.json").toFile());
        Path model = ForwardShared.model(modelFile);
        try (ModelFiles files = ModelFiles.open(model);
             LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, false);
             SafetensorsFile ref = SafetensorsFile.open(ForwardShared.reference(name + "_logits.safetensors"))) {
            int vocab = files.config().vocabSize();
            for (Iterator<Map.Entry<String, JsonNode>> it = prompts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String p = e.getKey();
                int[] ids = new ObjectMapper().convertValue(e.getValue().get("ids"), int[].class);
                int t = ids.length;
                float[] logits = m.logits(TokenBatch.of(ids));

                int[] topIds = ref.readInts(p + ".topk_ids");
                float[] topLogits = ref.readFloats(p + ".topk_logits");
                float[] lse = ref.readFloats(p + ".logsumexp");
                float[] last = ref.readFloats(p + ".last_logits");
                int k = topIds.length / t;
                assertThat(lse).hasSize(t);
                assertThat(last).hasSize(vocab);

                double worstTop = 0;
                double worstLse = 0;
                for (int pos = 0; pos < t; pos++) {
                    int off = pos * vocab;
                    for (int j = 0; j < k; j++) {
                        int id = topIds[pos * k + j];
                        worstTop = Math.max(worstTop, Math.abs(logits[off + id] - topLogits[pos * k + j]));
                    }
                    // our own top-k, in order, where the reference's neighbours are separated by > 2e-3
                    int[] ours = topK(logits, off, vocab, k);
                    for (int j = 0; j < k; j++) {
                        boolean separated = (j == 0 || topLogits[pos * k + j - 1] - topLogits[pos * k + j] > 2e-3)
                                && (j == k - 1 || topLogits[pos * k + j] - topLogits[pos * k + j + 1] > 2e-3);
                        if (separated) {
                            assertThat(ours[j]).as("%s %s position %d top-%d id", name, p, pos, j + 1)
                                    .isEqualTo(topIds[pos * k + j]);
                        }
                    }
                    worstLse = Math.max(worstLse, Math.abs(CpuLse.of(logits, off, vocab) - lse[pos]));
                }
                double worstLast = 0;
                for (int j = 0; j < vocab; j++) {
                    worstLast = Math.max(worstLast, Math.abs(logits[(t - 1) * vocab + j] - last[j]));
                }
                assertThat(worstTop).as("%s %s top-k logits max abs error", name, p).isLessThanOrEqualTo(tol);
                assertThat(worstLast).as("%s %s last-position logits max abs error", name, p).isLessThanOrEqualTo(tol);
                assertThat(worstLse).as("%s %s logsumexp max abs error", name, p).isLessThanOrEqualTo(1e-3);
            }
        }
    }

    static int[] topK(float[] x, int off, int n, int k) {
        int[] best = new int[k];
        java.util.Arrays.fill(best, -1);
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            int j = k - 1;
            if (best[j] >= 0 && v <= x[off + best[j]]) {
                continue;
            }
            while (j > 0 && (best[j - 1] < 0 || v > x[off + best[j - 1]])) {
                best[j] = best[j - 1];
                j--;
            }
            best[j] = i;
        }
        return best;
    }

    /** Log-sum-exp in double, independent of the backend's. */
    static final class CpuLse {
        static double of(float[] x, int off, int n) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, x[off + i]);
            }
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += Math.exp(x[off + i] - max);
            }
            return max + Math.log(s);
        }
    }
}
