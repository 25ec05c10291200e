package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.FloatWeight;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.Weight;
import ai.safetune.train.LoraTrainingModel;
import ai.safetune.train.PeftAdapter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks the error model of {@link Bf16StepBounds} without a GPU: the CPU backend with the bf16 backend's
 * rounding emulated (frozen weights rounded to bf16 at prepare, the input of every frozen matmul and of its
 * backward rounded to bf16, round to nearest even as st_cast_f32_to_bf16; fp32 arithmetic otherwise) runs the
 * tiny reference step, and its loss and LoRA gradients must stay within the bounds the GPU test applies. The GPU
 * computes the same roundings (only its fp32 summation order differs), so a model that fails here would fail
 * there.
 */
class Bf16ErrorModelTest {
    private static final Logger LOG = LoggerFactory.getLogger(Bf16ErrorModelTest.class);

    static float bf16(float f) {
        return Float.intBitsToFloat((CudaBackend.toBf16(f) & 0xFFFF) << 16);
    }

    /** The CPU backend behind a proxy that rounds what the CUDA bf16 precisions round. */
    static Backend bf16Emulating(CpuBackend cpu) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, m, args) -> {
                    String name = m.getName();
                    if (name.equals("prepare")) {
                        Weight w = (Weight) args[0];
                        float[] v = w.toFloatArray();
                        for (int i = 0; i < v.length; i++) {
                            v[i] = bf16(v[i]);
                        }
                        return cpu.prepare(new FloatWeight(w.name(), w.rows(), w.cols(), v), (Boolean) args[1]);
                    }
                    if (name.equals("matmul") && args.length == 4) {  // frozen: out, x, w, n
                        WeightHandle w = (WeightHandle) args[2];
                        int n = (Integer) args[3];
                        try (Tensor xr = rounded(cpu, (Tensor) args[1], n * w.cols())) {
                            cpu.matmul((Tensor) args[0], xr, w, n);
                        }
                        return null;
                    }
                    if (name.equals("matmulBackward") && args.length == 5) {  // frozen: dx, dout, w, n, accumulate
                        WeightHandle w = (WeightHandle) args[2];
                        int n = (Integer) args[3];
                        try (Tensor dr = rounded(cpu, (Tensor) args[1], n * w.rows())) {
                            cpu.matmulBackward((Tensor) args[0], dr, w, n, (Boolean) args[4]);
                        }
                        return null;
                    }
                    try {
                        return m.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static Tensor rounded(CpuBackend cpu, Tensor t, int n) {
        float[] h = new float[n];
        cpu.read(t, 0, h, 0, n);
        for (int i = 0; i < n; i++) {
            h[i] = bf16(h[i]);
        }
        return cpu.upload(h);
    }

    @Test
    void emulatedBf16StepStaysWithinTheGpuTestsBounds() throws Exception {
        assumeTrue(Files.isDirectory(CudaTrainingStepTest.shared().resolve("reference/tiny_lora"))
                && Files.isDirectory(CudaTrainingStepTest.shared().resolve("models/tiny-llama")),
                () -> "shared reference files not found under " + CudaTrainingStepTest.shared());
        CudaTrainingStepTest.Case c = CudaTrainingStepTest.Case.load(CudaTrainingStepTest.shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(CudaTrainingStepTest.shared().resolve("reference/tiny_lora/adapter_init"));
        try (ModelFiles files = ModelFiles.open(CudaTrainingStepTest.shared().resolve("models/tiny-llama"));
             CpuBackend exact = new CpuBackend(1);
             CpuBackend inner = new CpuBackend(1);
             LoraTrainingModel ref = new LoraTrainingModel(files.config(), files.weights(), exact, init, false);
             LoraTrainingModel emu = new LoraTrainingModel(files.config(), files.weights(), bf16Emulating(inner), init,
                     false)) {
            ref.zeroGradients();
            emu.zeroGradients();
            double lossRef = ref.forwardBackward(c.batch(), c.targets(), 1f / c.tokens()).meanLoss();
            double lossEmu = emu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens()).meanLoss();
            double lossBound = Bf16StepBounds.loss(files.config(), lossRef);
            double gradBound = Bf16StepBounds.gradient(files.config());
            LOG.info("emulated bf16: loss {} vs exact {} (|Δ| {}, bound {})", lossEmu, lossRef,
                    Math.abs(lossEmu - lossRef), lossBound);
            assertThat(Math.abs(lossEmu - lossRef)).as("loss").isLessThanOrEqualTo(lossBound);
            assertThat(lossEmu).as("the emulation really rounds").isNotEqualTo(lossRef);
            List<String> names = ref.parameterNames();
            List<float[]> gr = ref.gradients();
            List<float[]> ge = emu.gradients();
            double worst = 0;
            for (int i = 0; i < names.size(); i++) {
                if (CudaTrainingStepTest.norm(gr.get(i)) == 0) {
                    continue;
                }
                double rel = CudaTrainingStepTest.relDiff(ge.get(i), gr.get(i));
                worst = Math.max(worst, rel);
                assertThat(rel).as(names.get(i) + " ‖Δ‖/‖exact‖").isLessThanOrEqualTo(gradBound);
            }
            LOG.info("emulated bf16: worst LoRA gradient ‖Δ‖/‖exact‖ {} (bound {}, = {} of it)", worst, gradBound,
                    worst / gradBound);
        }
    }
}
