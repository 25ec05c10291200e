package ai.safetune.eval.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The exported ONNX graph of the real models on ONNX Runtime against Hugging Face's logits
 * (../shared/reference), for a full prefill and for cached decode steps.
 */
class OrtReferenceTest {

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    @ParameterizedTest(name = "{0} {3}")
    @CsvSource({"tiny, tiny-llama, 1e-4, PLAIN", "smollm2, SmolLM2-135M-Instruct.Q4_1.gguf, 2e-3, PLAIN",
            "tiny, tiny-llama, 1e-4, GQA", "smollm2, SmolLM2-135M-Instruct.Q4_1.gguf, 2e-3, GQA"})
    void logitsMatchReferenceForPrefillAndCachedDecode(String name, String modelFile, double tol, LlamaOnnxExporter.Attention attention,
                                                       @TempDir Path dir) throws Exception {
        JsonNode prompts = new ObjectMapper().readTree(shared().resolve("reference/" + name + "_logits.json").toFile());
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/" + modelFile));
             SafetensorsFile ref = SafetensorsFile.open(shared().resolve("reference/" + name + "_logits.safetensors"))) {
            Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve(name + ".onnx"), attention);
            int v = files.config().vocabSize();
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), 0, 2)) {
                for (Iterator<Map.Entry<String, JsonNode>> it = prompts.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    String p = e.getKey();
                    int[] ids = new ObjectMapper().convertValue(e.getValue().get("ids"), int[].class);
                    int t = ids.length;
                    int[] topIds = ref.readInts(p + ".topk_ids");
                    float[] topLogits = ref.readFloats(p + ".topk_logits");
                    float[] lse = ref.readFloats(p + ".logsumexp");
                    float[] last = ref.readFloats(p + ".last_logits");
                    int k = topIds.length / t;

                    // full prefill: every position
                    long[] all = new long[t];
                    long[] pos = new long[t];
                    long[] mask = new long[t];
                    for (int i = 0; i < t; i++) {
                        all[i] = ids[i];
                        pos[i] = i;
                        mask[i] = 1;
                    }
                    OrtEvaluator.Step full;
                    try (OrtEvaluator.KvCache empty = ev.emptyCache(1)) {
                        full = ev.forward(new long[][]{all}, new long[][]{pos}, new long[][]{mask}, empty, t);
                    }
                    full.cache().close();
                    for (int i = 0; i < t; i++) {
                        checkPosition(full.logits(), i * v, topIds, topLogits, lse[i], i, k, v, tol, p + " prefill position " + i);
                    }
                    double worst = 0;
                    for (int j = 0; j < v; j++) {
                        worst = Math.max(worst, Math.abs(full.logits()[(t - 1) * v + j] - last[j]));
                    }
                    assertThat(worst).as("%s last_logits", p).isLessThanOrEqualTo(tol);

                    // prefill all but the last 3 tokens, then 3 cached single-token steps
                    int pre = t - 3;
                    OrtEvaluator.Step s;
                    try (OrtEvaluator.KvCache empty = ev.emptyCache(1)) {
                        s = ev.forward(new long[][]{java.util.Arrays.copyOf(all, pre)}, new long[][]{java.util.Arrays.copyOf(pos, pre)},
                                new long[][]{java.util.Arrays.copyOf(mask, pre)}, empty, 1);
                    }
                    checkPosition(s.logits(), 0, topIds, topLogits, lse[pre - 1], pre - 1, k, v, tol, p + " prefill last");
                    OrtEvaluator.KvCache cache = s.cache();
                    for (int i = pre; i < t; i++) {
                        OrtEvaluator.Step d = ev.forward(new long[][]{{ids[i]}}, new long[][]{{i}},
                                new long[][]{java.util.Arrays.copyOf(mask, i + 1)}, cache, 1);
                        cache.close();
                        cache = d.cache();
                        checkPosition(d.logits(), 0, topIds, topLogits, lse[i], i, k, v, tol, p + " cached step at " + i);
                    }
                    cache.close();
                }
            }
        }
    }

    private static void checkPosition(float[] logits, int off, int[] topIds, float[] topLogits, float lse, int pos, int k,
                                      int v, double tol, String what) {
        for (int j = 0; j < k; j++) {
            int id = topIds[pos * k + j];
            assertThat((double) logits[off + id]).as("%s top-%d id %d", what, j, id)
                    .isCloseTo(topLogits[pos * k + j], org.assertj.core.data.Offset.offset(tol));
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < v; j++) {
            max = Math.max(max, logits[off + j]);
        }
        double z = 0;
        for (int j = 0; j < v; j++) {
            z += Math.exp(logits[off + j] - max);
        }
        assertThat(max + Math.log(z)).as("%s logsumexp", what).isCloseTo(lse, org.assertj.core.data.Offset.offset(1e-3));
    }

    /** Batched greedy generation through ORT reproduces HF's greedy tokens up to the first near-tie. */
    @ParameterizedTest
    @EnumSource(value = LlamaOnnxExporter.Attention.class, names = {"PLAIN", "GQA"})
    @Tag("slow")
    void greedyGenerationReproducesReference(LlamaOnnxExporter.Attention attention, @TempDir Path dir) throws Exception {
        List<JsonNode> cases = new ArrayList<>();
        for (String line : Files.readAllLines(shared().resolve("reference/smollm2_greedy.jsonl"))) {
            if (!line.isBlank()) {
                cases.add(new ObjectMapper().readTree(line));
            }
        }
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"))) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve("smol.onnx"), attention);
            List<int[]> prompts = new ArrayList<>();
            for (JsonNode c : cases) {
                prompts.add(new ObjectMapper().convertValue(c.get("prompt_ids"), int[].class));
            }
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), 2)) {
                List<Generation> gens = ev.generate(prompts, GenerationConfig.greedy(32, Set.of(2)).withBatchSize(6), codec::decode);
                for (int i = 0; i < cases.size(); i++) {
                    int[] want = new ObjectMapper().convertValue(cases.get(i).get("generated_ids"), int[].class);
                    double[] margins = new ObjectMapper().convertValue(cases.get(i).get("top2_margins"), double[].class);
                    int[] got = gens.get(i).generatedIds();
                    for (int j = 0; j < want.length; j++) {
                        assertThat(got.length).as("case %d length", i).isGreaterThan(j);
                        assertThat(got[j]).as("case %d token %d", i, j).isEqualTo(want[j]);
                        if (margins[j] < 0.01) {
                            break;
                        }
                    }
                }
            }
        }
    }
}
