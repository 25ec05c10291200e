package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.LoraAdapter;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.safetensors.SafetensorsFile;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Activation checkpointing recomputes each layer from its saved input with the same ops, inputs and dropout
 * masks, so loss and every gradient must equal a run that keeps all activations bit for bit (tiny model, the
 * reference batch with padding, B factors made non-zero so every gradient is non-trivial).
 */
class GradientCheckpointingTest {
    private static Backend be;
    private static ModelFiles files;
    private static TokenBatch batch;
    private static int[] targets;
    private static PeftAdapter adapter;

    @BeforeAll
    static void setUp() throws Exception {
        be = new CpuBackend(2);
        files = ModelFiles.open(TrainShared.shared().resolve("models/tiny-llama"));
        PeftAdapter init = PeftAdapter.load(TrainShared.reference("tiny_lora/adapter_init"));
        try (SafetensorsFile f = SafetensorsFile.open(TrainShared.reference("tiny_lora/batch.safetensors"))) {
            int b = (int) f.tensor("input_ids").shape()[0];
            int t = (int) f.tensor("input_ids").shape()[1];
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % t;
            }
            batch = new TokenBatch(b, t, f.readInts("input_ids"), pos, f.readInts("attention_mask"));
            targets = LoraTrainingModel.shiftLabels(f.readInts("labels"), b, t);
        }
        Random rnd = new Random(3);
        Map<String, LoraAdapter.Pair> modules = new LinkedHashMap<>();
        for (Map.Entry<String, LoraAdapter.Pair> e : init.weights().modules().entrySet()) {
            LoraAdapter.Pair p = e.getValue();
            float[] bw = new float[p.b().length];
            for (int i = 0; i < bw.length; i++) {
                bw[i] = (float) (rnd.nextGaussian() * 0.05);
            }
            modules.put(e.getKey(), new LoraAdapter.Pair(p.r(), p.in(), p.out(), p.a(), bw));
        }
        adapter = new PeftAdapter(init.config(), new LoraAdapter(init.config().scaling(), modules));
    }

    @AfterAll
    static void tearDown() {
        files.close();
        be.close();
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.2})
    void gradientsAreBitIdenticalWithAndWithoutCheckpointing(double dropout) {
        LoraConfig c = adapter.config();
        PeftAdapter a = new PeftAdapter(new LoraConfig(c.r(), c.alpha(), dropout, c.useRsLora(), c.targetModules()),
                adapter.weights());
        try (LoraTrainingModel plain = new LoraTrainingModel(files.config(), files.weights(), be, a, false, false);
             LoraTrainingModel ckpt = new LoraTrainingModel(files.config(), files.weights(), be, a, false, true)) {
            plain.zeroGradients();
            ckpt.zeroGradients();
            LoraTrainingModel.Pass p1 = plain.forwardBackward(batch, targets, 1f / 41, 17L);
            LoraTrainingModel.Pass p2 = ckpt.forwardBackward(batch, targets, 1f / 41, 17L);
            assertThat(p2.lossSum()).isEqualTo(p1.lossSum());
            List<float[]> g1 = plain.gradients();
            List<float[]> g2 = ckpt.gradients();
            List<String> names = plain.parameterNames();
            for (int i = 0; i < g1.size(); i++) {
                double norm = 0;
                for (float x : g1.get(i)) {
                    norm += (double) x * x;
                }
                assertThat(norm).as("%s has a non-zero gradient", names.get(i)).isGreaterThan(0);
                assertThat(g2.get(i)).as(names.get(i)).isEqualTo(g1.get(i));
            }
        }
    }
}
