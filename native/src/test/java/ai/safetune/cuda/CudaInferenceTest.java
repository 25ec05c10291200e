package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.safetune.backend.BackendProvider;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.KvCache;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inference on the CUDA backend (the path of {@code safetune logits|generate --backend cuda} and of generation in
 * the examples): the tiny model's logits in the f32 precision against Hugging Face's (../shared/reference, the
 * bound of core's ReferenceLogitsTest), and a batched, left-padded decode through the KV cache (attention with a
 * query offset, a key mask and a cache capacity) against the CPU backend step by step, both fed the CPU's greedy
 * tokens so a near-tie cannot send them down different paths. Skips without a GPU (or the host emulation).
 */
class CudaInferenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(CudaInferenceTest.class);
    /** |logit − reference|: fp32 on both sides, only the summation order differs from the CPU's (same as core's). */
    private static final double TOL = 1e-4;

    private static void needGpuAndShared() {
        BackendProvider.Availability a = new CudaBackendProvider().availability();
        assumeTrue(a.available(), () -> "no CUDA backend here: " + a.reason());
        assumeTrue(Files.isDirectory(model()) && Files.isRegularFile(reference("tiny_logits.safetensors")),
                () -> "tiny model or its reference logits not found under " + CudaTrainingStepTest.shared());
    }

    private static Path model() {
        return CudaTrainingStepTest.shared().resolve("models/tiny-llama");
    }

    private static Path reference(String file) {
        return CudaTrainingStepTest.shared().resolve("reference").resolve(file);
    }

    @Test
    void tinyLogitsInF32MatchTheHfReference() throws Exception {
        needGpuAndShared();
        JsonNode prompts = new ObjectMapper().readTree(reference("tiny_logits.json").toFile());
        try (ModelFiles files = ModelFiles.open(model()); CudaBackend gpu = new CudaBackend(0, CudaPrecision.F32);
             LlamaModel m = LlamaModel.load(files.config(), files.weights(), gpu, false);
             SafetensorsFile ref = SafetensorsFile.open(reference("tiny_logits.safetensors"))) {
            int vocab = files.config().vocabSize();
            int checked = 0;
            for (Iterator<Map.Entry<String, JsonNode>> it = prompts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String p = e.getKey();
                int[] ids = new ObjectMapper().convertValue(e.getValue().get("ids"), int[].class);
                int t = ids.length;
                float[] logits = m.logits(TokenBatch.of(ids));
                int[] topIds = ref.readInts(p + ".topk_ids");
                float[] topLogits = ref.readFloats(p + ".topk_logits");
                float[] last = ref.readFloats(p + ".last_logits");
                int k = topIds.length / t;
                double worst = 0;
                for (int pos = 0; pos < t; pos++) {
                    for (int j = 0; j < k; j++) {
                        int id = topIds[pos * k + j];
                        worst = Math.max(worst, Math.abs(logits[pos * vocab + id] - topLogits[pos * k + j]));
                    }
                }
                for (int v = 0; v < vocab; v++) {
                    worst = Math.max(worst, Math.abs(logits[(t - 1) * vocab + v] - last[v]));
                }
                LOG.info("{} ({} tokens): worst |gpu − HF| {} over the top-{} and the last position's {} logits", p, t,
                        worst, k, vocab);
                assertThat(worst).as(p + ": |logit − HF reference|").isLessThanOrEqualTo(TOL);
                checked++;
            }
            assertThat(checked).as("reference prompts").isPositive();
        }
    }

    @Test
    void batchedDecodeThroughTheKvCacheMatchesCpu() throws Exception {
        needGpuAndShared();
        JsonNode prompts = new ObjectMapper().readTree(reference("tiny_logits.json").toFile());
        List<int[]> rows = new ArrayList<>();
        for (Iterator<JsonNode> it = prompts.elements(); it.hasNext() && rows.size() < 3; ) {
            rows.add(new ObjectMapper().convertValue(it.next().get("ids"), int[].class));
        }
        // rows of different lengths, so the shorter ones are left-padded and their pad slots masked
        rows.set(rows.size() - 1, java.util.Arrays.copyOf(rows.get(rows.size() - 1),
                Math.max(2, rows.get(rows.size() - 1).length / 2)));
        int b = rows.size();
        int longest = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
        int steps = 8;
        try (ModelFiles files = ModelFiles.open(model()); CpuBackend cpu = new CpuBackend(2);
             CudaBackend gpu = new CudaBackend(0, CudaPrecision.F32);
             LlamaModel onCpu = LlamaModel.load(files.config(), files.weights(), cpu, false);
             LlamaModel onGpu = LlamaModel.load(files.config(), files.weights(), gpu, false);
             KvCache cc = onCpu.newCache(b, longest + steps); KvCache gc = onGpu.newCache(b, longest + steps)) {
            int vocab = files.config().vocabSize();
            int pad = 0;
            float[] lc = onCpu.forward(cc, TokenBatch.leftPadded(rows, pad), LlamaModel.Logits.LAST);
            float[] lg = onGpu.forward(gc, TokenBatch.leftPadded(rows, pad), LlamaModel.Logits.LAST);
            double worst = compare("prefill", lg, lc);
            for (int s = 0; s < steps; s++) {
                int[] ids = new int[b];
                int[] pos = new int[b];
                int[] mask = new int[b];
                for (int r = 0; r < b; r++) {
                    ids[r] = argmax(lc, r * vocab, vocab);
                    pos[r] = cc.nextPosition(r);
                    mask[r] = 1;
                    assertThat(gc.nextPosition(r)).as("row %d position after step %d", r, s).isEqualTo(pos[r]);
                }
                TokenBatch step = new TokenBatch(b, 1, ids, pos, mask);
                lc = onCpu.forward(cc, step, LlamaModel.Logits.LAST);
                lg = onGpu.forward(gc, step, LlamaModel.Logits.LAST);
                worst = Math.max(worst, compare("decode step " + s, lg, lc));
            }
            LOG.info("{} rows, prefill + {} decode steps through the KV cache: worst |gpu − cpu| {} (bound {})", b,
                    steps, worst, TOL);
        }
    }

    private static double compare(String what, float[] gpu, float[] cpu) {
        assertThat(gpu).as(what + ": logits length").hasSameSizeAs(cpu);
        double worst = 0;
        for (int i = 0; i < cpu.length; i++) {
            double d = Math.abs((double) gpu[i] - cpu[i]);
            worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
        }
        assertThat(worst).as(what + ": |gpu − cpu| of the last logits").isLessThanOrEqualTo(TOL);
        return worst;
    }

    private static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[off + i] > a[off + best]) {
                best = i;
            }
        }
        return best;
    }
}
