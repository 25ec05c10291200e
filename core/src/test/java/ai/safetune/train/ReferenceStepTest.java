package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.safetensors.SafetensorsFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole LoRA step against HF transformers + PEFT (../shared/reference/*_lora): loss and every gradient at
 * adapter_init, then 3 AdamW steps (clipping to norm 1, constant LR) — step losses, gradient norms, loss after
 * the steps and the adapter after them, within the reference README's tolerances.
 */
class ReferenceStepTest {
    private static Backend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    @Test
    void tinyStepMatchesPeft() throws Exception {
        stepMatchesPeft("tiny_lora", "tiny-llama", 1e-5);
    }

    /** Several minutes on a loaded 2-core box (30 layers, 49k vocab, fp32 backward): run with -Pslow. */
    @Test
    void smolLm2StepMatchesPeft() throws Exception {
        stepMatchesPeft("smollm2_lora", "SmolLM2-135M-Instruct.Q4_1.gguf", 1e-4);
    }

    void stepMatchesPeft(String caseName, String modelFile, double lossTol) throws Exception {
        Path dir = TrainShared.reference(caseName);
        JsonNode cas = new ObjectMapper().readTree(dir.resolve("case.json").toFile());
        PeftAdapter init = PeftAdapter.load(dir.resolve("adapter_init"));
        try (ModelFiles files = ModelFiles.open(TrainShared.shared().resolve("models").resolve(modelFile));
             SafetensorsFile batchFile = SafetensorsFile.open(dir.resolve("batch.safetensors"));
             SafetensorsFile gradFile = SafetensorsFile.open(dir.resolve("grads_step0.safetensors"));
             LoraTrainingModel model = new LoraTrainingModel(files.config(), files.weights(), be, init, false)) {
            int[] ids = batchFile.readInts("input_ids");
            int[] mask = batchFile.readInts("attention_mask");
            int[] labels = batchFile.readInts("labels");
            int b = (int) batchFile.tensor("input_ids").shape()[0];
            int t = (int) batchFile.tensor("input_ids").shape()[1];
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % t;
            }
            TokenBatch batch = new TokenBatch(b, t, ids, pos, mask);
            int[] targets = LoraTrainingModel.shiftLabels(labels, b, t);

            // step 0: loss and every gradient tensor
            model.zeroGradients();
            int tokens = model.loss(batch, targets).lossTokens();
            assertThat(tokens).isEqualTo(cas.get("n_loss_tokens").asInt());
            LoraTrainingModel.Pass pass = model.forwardBackward(batch, targets, 1f / tokens);
            double refLoss = cas.get("steps").get(0).get("loss").asDouble();
            assertThat(Math.abs(pass.meanLoss() - refLoss) / refLoss).as("loss at adapter_init").isLessThanOrEqualTo(lossTol);
            List<String> names = model.parameterNames();
            List<float[]> grads = model.gradients();
            for (int i = 0; i < names.size(); i++) {
                float[] ref = gradFile.readFloats(names.get(i));
                assertClose(names.get(i), grads.get(i), ref);
            }

            // three AdamW steps, as case.json's optimizer
            JsonNode opt = cas.get("optimizer");
            AdamW adam = new AdamW(model.parameterSizes(), opt.get("betas").get(0).asDouble(),
                    opt.get("betas").get(1).asDouble(), opt.get("eps").asDouble(), opt.get("weight_decay").asDouble());
            int steps = opt.get("steps").asInt();
            for (int s = 0; s < steps; s++) {
                model.zeroGradients();
                LoraTrainingModel.Pass p = model.forwardBackward(batch, targets, 1f / tokens);
                JsonNode ref = cas.get("steps").get(s);
                assertThat(rel(p.meanLoss(), ref.get("loss").asDouble())).as("loss at step " + s).isLessThanOrEqualTo(1e-3);
                List<float[]> g = model.gradients();
                double norm = AdamW.clipGradNorm(g, opt.get("max_grad_norm").asDouble());
                assertThat(rel(norm, ref.get("grad_norm_before_clip").asDouble())).as("grad norm at step " + s)
                        .isLessThanOrEqualTo(1e-3);
                List<float[]> params = model.parameters();
                adam.step(params, g, opt.get("lr").asDouble());
                model.setParameters(params);
            }
            double after = model.loss(batch, targets).meanLoss();
            assertThat(rel(after, cas.get("loss_after_steps").asDouble())).as("loss after steps").isLessThanOrEqualTo(1e-3);

            PeftAdapter expected = PeftAdapter.load(dir.resolve("adapter_after_steps"));
            PeftAdapter got = model.adapter();
            for (String module : expected.weights().modules().keySet()) {
                var e = expected.weights().modules().get(module);
                var a = got.weights().modules().get(module);
                assertThat(diffNorm(a.a(), e.a())).as(module + ".lora_A after steps").isLessThanOrEqualTo(1e-2 * norm(e.a()));
                assertThat(diffNorm(a.b(), e.b())).as(module + ".lora_B after steps").isLessThanOrEqualTo(1e-2 * norm(e.b()));
            }
        }
    }

    static void assertClose(String name, float[] got, float[] ref) {
        assertThat(got).as(name).hasSameSizeAs(ref);
        double dot = 0, ng = 0, nr = 0, nd = 0;
        for (int i = 0; i < ref.length; i++) {
            dot += (double) got[i] * ref[i];
            ng += (double) got[i] * got[i];
            nr += (double) ref[i] * ref[i];
            double d = got[i] - ref[i];
            nd += d * d;
        }
        double cos = dot / Math.sqrt(ng * nr);
        assertThat(cos).as(name + " cosine similarity").isGreaterThanOrEqualTo(0.9999);
        assertThat(Math.sqrt(nd)).as(name + " ‖g − g_ref‖").isLessThanOrEqualTo(1e-3 * Math.sqrt(nr));
    }

    static double rel(double a, double b) {
        return Math.abs(a - b) / Math.abs(b);
    }

    static double norm(float[] a) {
        double s = 0;
        for (float x : a) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    static double diffNorm(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return Math.sqrt(s);
    }
}
