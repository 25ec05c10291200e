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
import java.lang.reflect.InvocationHandler;
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
 * backward rounded to bf16, inside the LoRA layers too, round to nearest even as st_cast_f32_to_bf16; fp32
 * arithmetic otherwise) runs the tiny reference step, and its loss and LoRA gradients must stay within the bounds
 * the GPU test applies. The GPU computes the same roundings (only its fp32 summation order differs; its TF32
 * rank-r products and bf16 attention are not emulated), so a model that fails here would fail there.
 */
class Bf16ErrorModelTest {
    private static final Logger LOG = LoggerFactory.getLogger(Bf16ErrorModelTest.class);

    static float bf16(float f) {
        return Float.intBitsToFloat((CudaBackend.toBf16(f) & 0xFFFF) << 16);
    }

    /**
     * The CPU backend behind a proxy that rounds what the CUDA bf16 precision rounds: the frozen weights, the input
     * of every frozen product (plain or inside a LoRA layer) and of its backward. With {@code rankProducts} also the
     * inputs of the rank-r products that {@code -Dsafetune.cuda.bf16Rank} runs in bf16 (x and A for u; dout and B
     * for du; dout and u for dB; du and x for dA), all of them, which is at least the GPU's rounding (it rounds dA's
     * only where x has a bf16 copy). The products that stay TF32 there (s·u·Bᵀ, du·A) stay exact here.
     */
    static Backend bf16Emulating(CpuBackend cpu, boolean rankProducts) {
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
                    if (!rankProducts && (name.equals("loraLinear") || name.equals("loraLinearBackward"))) {
                        // Backend's default order over this proxy: its frozen products come back here, rounded
                        return InvocationHandler.invokeDefault(proxy, m, args);
                    }
                    Backend self = (Backend) proxy;
                    if (name.equals("loraLinear")) {
                        // out, u, x, xl, w, a, b, n, r, scale: the default order with u's inputs rounded too
                        Tensor u = (Tensor) args[1];
                        WeightHandle w = (WeightHandle) args[4];
                        int n = (Integer) args[7];
                        int r = (Integer) args[8];
                        self.matmul((Tensor) args[0], (Tensor) args[2], w, n);
                        try (Tensor xlr = rounded(cpu, (Tensor) args[3], n * w.cols());
                             Tensor ar = rounded(cpu, (Tensor) args[5], r * w.cols())) {
                            cpu.matmul(u, xlr, ar, n, r, w.cols(), 1f, false);
                        }
                        cpu.matmul((Tensor) args[0], u, (Tensor) args[6], n, w.rows(), r, (Float) args[9], true);
                        return null;
                    }
                    if (name.equals("loraLinearBackward")) {
                        // dx, du, dA, dB, dout, x, u, w, a, b, n, r, scale, accumulate
                        Tensor dx = (Tensor) args[0];
                        Tensor du = (Tensor) args[1];
                        Tensor x = (Tensor) args[5];
                        WeightHandle w = (WeightHandle) args[7];
                        Tensor a = (Tensor) args[8];
                        int n = (Integer) args[10];
                        int r = (Integer) args[11];
                        int in = w.cols();
                        int out = w.rows();
                        self.matmulBackward(dx, (Tensor) args[4], w, n, (Boolean) args[13]);
                        try (Tensor dr = rounded(cpu, (Tensor) args[4], n * out);
                             Tensor ur = rounded(cpu, (Tensor) args[6], n * r);
                             Tensor br = rounded(cpu, (Tensor) args[9], out * r)) {
                            cpu.matmulBackward(du, (Tensor) args[3], dr, ur, br, n, out, r, (Float) args[12], false);
                        }
                        // dx += du·A exact (TF32 on the GPU); its dA into a throwaway buffer
                        try (Tensor unused = cpu.allocate(r * in)) {
                            cpu.matmulBackward(dx, unused, du, x, a, n, r, in, 1f, true);
                        }
                        try (Tensor dur = rounded(cpu, du, n * r); Tensor xr = rounded(cpu, x, n * in)) {
                            cpu.matmulBackward(null, (Tensor) args[2], dur, xr, a, n, r, in, 1f, false);
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
        emulatedStep(false);
    }

    /**
     * The same with the rank-r products' inputs rounded too ({@code -Dsafetune.cuda.bf16Rank}): the GPU test holds
     * that path to the same bounds, and its gradients must really differ from the TF32 path's.
     */
    @Test
    void emulatedBf16RankProductsStayWithinTheSameBounds() throws Exception {
        List<float[]> tf32 = emulatedStep(false);
        List<float[]> rank = emulatedStep(true);
        double moved = 0;
        for (int i = 0; i < tf32.size(); i++) {
            moved = Math.max(moved, CudaTrainingStepTest.relDiff(rank.get(i), tf32.get(i)));
        }
        assertThat(moved).as("rounding the rank-r inputs changes the gradients").isGreaterThan(1e-4);
    }

    /** The tiny reference step on the emulation against the exact CPU backend; returns the emulated gradients. */
    private static List<float[]> emulatedStep(boolean rankProducts) throws Exception {
        assumeTrue(Files.isDirectory(CudaTrainingStepTest.shared().resolve("reference/tiny_lora"))
                && Files.isDirectory(CudaTrainingStepTest.shared().resolve("models/tiny-llama")),
                () -> "shared reference files not found under " + CudaTrainingStepTest.shared());
        CudaTrainingStepTest.Case c = CudaTrainingStepTest.Case.load(CudaTrainingStepTest.shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(CudaTrainingStepTest.shared().resolve("reference/tiny_lora/adapter_init"));
        String mode = rankProducts ? "emulated bf16 + bf16 rank-r products" : "emulated bf16";
        try (ModelFiles files = ModelFiles.open(CudaTrainingStepTest.shared().resolve("models/tiny-llama"));
             CpuBackend exact = new CpuBackend(1);
             CpuBackend inner = new CpuBackend(1);
             LoraTrainingModel ref = new LoraTrainingModel(files.config(), files.weights(), exact, init, false);
             LoraTrainingModel emu = new LoraTrainingModel(files.config(), files.weights(),
                     bf16Emulating(inner, rankProducts), init, false)) {
            ref.zeroGradients();
            emu.zeroGradients();
            double lossRef = ref.forwardBackward(c.batch(), c.targets(), 1f / c.tokens()).meanLoss();
            double lossEmu = emu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens()).meanLoss();
            double lossBound = Bf16StepBounds.loss(files.config(), lossRef);
            double gradBound = Bf16StepBounds.gradient(files.config());
            LOG.info("{}: loss {} vs exact {} (|Δ| {}, bound {})", mode, lossEmu, lossRef,
                    Math.abs(lossEmu - lossRef), lossBound);
            assertThat(Math.abs(lossEmu - lossRef)).as(mode + " loss").isLessThanOrEqualTo(lossBound);
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
                assertThat(rel).as(mode + ": " + names.get(i) + " ‖Δ‖/‖exact‖").isLessThanOrEqualTo(gradBound);
            }
            LOG.info("{}: worst LoRA gradient ‖Δ‖/‖exact‖ {} (bound {}, = {} of it)", mode, worst, gradBound,
                    worst / gradBound);
            return ge;
        }
    }
}
