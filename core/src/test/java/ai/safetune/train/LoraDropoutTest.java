package ai.safetune.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.safetensors.SafetensorsFile;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRA dropout (PEFT: inverted dropout on the LoRA branch's input): p = 0 ignores the key; with p &gt; 0 the masks
 * are a function of the key, and the gradient through the masks matches a central finite difference of the
 * loss with the same masks.
 */
class LoraDropoutTest {
    private static Backend be;
    private static ModelFiles files;
    private static TokenBatch batch;
    private static int[] targets;
    private static PeftAdapter init;

    @BeforeAll
    static void setUp() throws Exception {
        be = new CpuBackend(1);
        files = ModelFiles.open(TrainShared.shared().resolve("models/tiny-llama"));
        init = PeftAdapter.load(TrainShared.reference("tiny_lora/adapter_init"));
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
    }

    @AfterAll
    static void tearDown() {
        files.close();
        be.close();
    }

    static PeftAdapter withDropout(double p) {
        LoraConfig c = init.config();
        return new PeftAdapter(new LoraConfig(c.r(), c.alpha(), p, c.useRsLora(), c.targetModules()), init.weights());
    }

    record Out(double loss, List<float[]> grads) {
    }

    static Out pass(LoraTrainingModel m, long key) {
        m.zeroGradients();
        LoraTrainingModel.Pass p = m.forwardBackward(batch, targets, 1f / 41, key);
        return new Out(p.lossSum() / 41, m.gradients());
    }

    static boolean same(List<float[]> a, List<float[]> b) {
        for (int i = 0; i < a.size(); i++) {
            if (!java.util.Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Test
    void zeroDropoutIgnoresTheKey() {
        try (LoraTrainingModel m = new LoraTrainingModel(files.config(), files.weights(), be, withDropout(0), false)) {
            Out a = pass(m, 1);
            Out b = pass(m, 99);
            assertThat(b.loss()).isEqualTo(a.loss());
            assertThat(same(a.grads(), b.grads())).isTrue();
            assertThat(m.loss(batch, targets).lossSum() / 41).isEqualTo(a.loss());
        }
    }

    @Test
    void masksFollowTheKeyAndTheGradientFlowsThroughThem() {
        try (LoraTrainingModel m = new LoraTrainingModel(files.config(), files.weights(), be, withDropout(0.3), false);
             LoraTrainingModel plain = new LoraTrainingModel(files.config(), files.weights(), be, withDropout(0), false)) {
            Out a = pass(m, 7);
            Out again = pass(m, 7);
            Out other = pass(m, 8);
            Out none = pass(plain, 7);
            assertThat(again.loss()).isEqualTo(a.loss());
            assertThat(same(a.grads(), again.grads())).as("same key, same masks").isTrue();
            assertThat(other.loss()).isNotEqualTo(a.loss());
            assertThat(same(a.grads(), none.grads())).as("dropout changes the gradients").isFalse();
            assertThat(m.loss(batch, targets).lossSum() / 41).as("evaluation has no dropout").isEqualTo(none.loss());

            // central difference along the gradient direction, masks fixed by the key
            List<float[]> theta = m.parameters();
            double norm = 0;
            for (float[] g : a.grads()) {
                for (float x : g) {
                    norm += (double) x * x;
                }
            }
            norm = Math.sqrt(norm);
            double h = 1e-2;
            double lp = lossAt(m, theta, a.grads(), h / norm, 7);
            double lm = lossAt(m, theta, a.grads(), -h / norm, 7);
            double fd = (lp - lm) / (2 * h);
            assertThat(Math.abs(fd - norm) / norm).as("finite difference %s vs gradient norm %s", fd, norm).isLessThan(1e-2);
            m.setParameters(theta);
        }
    }

    static double lossAt(LoraTrainingModel m, List<float[]> theta, List<float[]> dir, double step, long key) {
        List<float[]> moved = new ArrayList<>();
        for (int i = 0; i < theta.size(); i++) {
            float[] p = theta.get(i).clone();
            for (int j = 0; j < p.length; j++) {
                p[j] += (float) (step * dir.get(i)[j]);
            }
            moved.add(p);
        }
        m.setParameters(moved);
        return pass(m, key).loss();
    }
}
