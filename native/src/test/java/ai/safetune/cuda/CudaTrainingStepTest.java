package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.safetune.backend.BackendProvider;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.MapWeights;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.Weight;
import ai.safetune.model.gguf.GgmlType;
import ai.safetune.model.io.Float16;
import ai.safetune.model.io.MappedRows;
import ai.safetune.model.io.MappedWeight;
import ai.safetune.model.TokenBatch;
import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.backend.Tensor;
import ai.safetune.train.AdamW;
import ai.safetune.train.BackendAdamW;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.LoraTrainingModel;
import ai.safetune.train.PeftAdapter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One full LoRA training step (forward, loss, backward to every LoRA factor) of the tiny reference model on the
 * CUDA backend, against the CPU backend and against HF PEFT's reference gradients (../shared/reference/tiny_lora):
 * the same bounds as the CPU reference test (loss relative 1e-5 is for fp32 CPU; the GPU gets 1e-4 since its
 * reductions run in another order). Skips cleanly without a GPU or without the shared files.
 */
class CudaTrainingStepTest {
    private static final Logger LOG = LoggerFactory.getLogger(CudaTrainingStepTest.class);

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    @Test
    void tinyStepMatchesCpuAndPeft() throws Exception {
        BackendProvider.Availability av = new CudaBackendProvider().availability();
        assumeTrue(av.available(), () -> "no CUDA backend here: " + av.reason());
        Path dir = shared().resolve("reference/tiny_lora");
        Path model = shared().resolve("models/tiny-llama");
        assumeTrue(Files.isDirectory(dir) && Files.isDirectory(model), () -> "shared reference files not found under " + shared());
        JsonNode cas = new ObjectMapper().readTree(dir.resolve("case.json").toFile());
        PeftAdapter init = PeftAdapter.load(dir.resolve("adapter_init"));
        try (ModelFiles files = ModelFiles.open(model);
             SafetensorsFile batchFile = SafetensorsFile.open(dir.resolve("batch.safetensors"));
             SafetensorsFile gradFile = SafetensorsFile.open(dir.resolve("grads_step0.safetensors"));
             CudaBackend gpu = new CudaBackend(0);
             CpuBackend cpu = new CpuBackend(2);
             LoraTrainingModel onGpu = new LoraTrainingModel(files.config(), files.weights(), gpu, init, false);
             LoraTrainingModel onCpu = new LoraTrainingModel(files.config(), files.weights(), cpu, init, false)) {
            int b = (int) batchFile.tensor("input_ids").shape()[0];
            int t = (int) batchFile.tensor("input_ids").shape()[1];
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % t;
            }
            TokenBatch batch = new TokenBatch(b, t, batchFile.readInts("input_ids"), pos, batchFile.readInts("attention_mask"));
            int[] targets = LoraTrainingModel.shiftLabels(batchFile.readInts("labels"), b, t);
            int tokens = cas.get("n_loss_tokens").asInt();
            onGpu.zeroGradients();
            onCpu.zeroGradients();
            LoraTrainingModel.Pass g = onGpu.forwardBackward(batch, targets, 1f / tokens);
            LoraTrainingModel.Pass c = onCpu.forwardBackward(batch, targets, 1f / tokens);
            double ref = cas.get("steps").get(0).get("loss").asDouble();
            LOG.info("loss gpu {} cpu {} reference {}", g.meanLoss(), c.meanLoss(), ref);
            assertThat(g.lossTokens()).isEqualTo(tokens);
            assertThat(Math.abs(g.meanLoss() - ref) / ref).as("GPU loss vs PEFT").isLessThanOrEqualTo(1e-4);
            assertThat(Math.abs(g.meanLoss() - c.meanLoss()) / c.meanLoss()).as("GPU loss vs CPU").isLessThanOrEqualTo(1e-4);
            List<String> names = onGpu.parameterNames();
            List<float[]> gg = onGpu.gradients();
            List<float[]> cg = onCpu.gradients();
            double worst = 1;
            for (int i = 0; i < names.size(); i++) {
                float[] r = gradFile.readFloats(names.get(i));
                double cosRef = cosine(gg.get(i), r);
                double cosCpu = cosine(gg.get(i), cg.get(i));
                worst = Math.min(worst, Math.min(cosRef, cosCpu));
                assertThat(cosRef).as(names.get(i) + " GPU vs PEFT cosine").isGreaterThanOrEqualTo(0.9999);
                assertThat(relDiff(gg.get(i), r)).as(names.get(i) + " GPU vs PEFT ‖Δ‖/‖ref‖").isLessThanOrEqualTo(1e-3);
                assertThat(relDiff(gg.get(i), cg.get(i))).as(names.get(i) + " GPU vs CPU ‖Δ‖/‖cpu‖").isLessThanOrEqualTo(1e-3);
            }
            LOG.info("{} LoRA gradients checked; worst cosine {}", names.size(), worst);
        }
    }

    /** The reference case's batch: token batch, shifted targets and the loss-token count. */
    record Case(TokenBatch batch, int[] targets, int tokens) {
        static Case load(Path dir) throws Exception {
            JsonNode cas = new ObjectMapper().readTree(dir.resolve("case.json").toFile());
            try (SafetensorsFile batchFile = SafetensorsFile.open(dir.resolve("batch.safetensors"))) {
                int b = (int) batchFile.tensor("input_ids").shape()[0];
                int t = (int) batchFile.tensor("input_ids").shape()[1];
                int[] pos = new int[b * t];
                for (int i = 0; i < pos.length; i++) {
                    pos[i] = i % t;
                }
                TokenBatch batch = new TokenBatch(b, t, batchFile.readInts("input_ids"), pos,
                        batchFile.readInts("attention_mask"));
                return new Case(batch, LoraTrainingModel.shiftLabels(batchFile.readInts("labels"), b, t),
                        cas.get("n_loss_tokens").asInt());
            }
        }
    }

    private static void needGpuAndShared() {
        BackendProvider.Availability av = new CudaBackendProvider().availability();
        assumeTrue(av.available(), () -> "no CUDA backend here: " + av.reason());
        assumeTrue(Files.isDirectory(shared().resolve("reference/tiny_lora"))
                && Files.isDirectory(shared().resolve("models/tiny-llama")),
                () -> "shared reference files not found under " + shared());
    }

    /**
     * The same step with the frozen matmuls in bf16 (both bf16 precisions, and bf16 with the copies and the bf16
     * rank-r products) against the exact CPU backend, within the bounds of {@link Bf16StepBounds} (derived from the
     * per-op bf16 error; the same bounds are checked on the CPU with bf16 rounding emulated by
     * {@link Bf16ErrorModelTest}).
     */
    @Test
    void tinyStepInBf16IsWithinTheDerivedBound() throws Exception {
        needGpuAndShared();
        Case c = Case.load(shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(shared().resolve("reference/tiny_lora/adapter_init"));
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"));
             CpuBackend cpu = new CpuBackend(2);
             LoraTrainingModel onCpu = new LoraTrainingModel(files.config(), files.weights(), cpu, init, false)) {
            onCpu.zeroGradients();
            LoraTrainingModel.Pass ref = onCpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
            List<float[]> cg = onCpu.gradients();
            double gradBound = Bf16StepBounds.gradient(files.config());
            double lossBound = Bf16StepBounds.loss(files.config(), ref.meanLoss());
            // both bf16 precisions with the copies and the bf16 rank-r products off, then bf16 with both on, without
            // and with activation checkpointing (which changes which inputs have copies in the backward)
            for (int variant = 0; variant < 4; variant++) {
                CudaPrecision prec = variant == 1 ? CudaPrecision.BF16_TILED : CudaPrecision.BF16;
                boolean checkpointing = variant == 3;
                String id = prec.id() + (variant >= 2 ? "+copies+bf16rank" : "") + (checkpointing ? "+checkpointing" : "");
                try (CudaBackend gpu = new CudaBackend(0, prec);
                     LoraTrainingModel onGpu = new LoraTrainingModel(files.config(), files.weights(), gpu, init, false,
                             checkpointing)) {
                    // explicit both ways: the switches' defaults are system properties
                    gpu.bf16Copies(variant >= 2);
                    gpu.bf16Rank(variant >= 2);
                    assertThat(gpu.bf16RankOn()).as("bf16 rank-r products in effect").isEqualTo(variant >= 2);
                    onGpu.zeroGradients();
                    LoraTrainingModel.Pass p = onGpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
                    double dLoss = Math.abs(p.meanLoss() - ref.meanLoss());
                    LOG.info("{}: loss gpu {} cpu {} (|Δ| {}, bound {})", id, p.meanLoss(), ref.meanLoss(), dLoss,
                            lossBound);
                    assertThat(dLoss).as(id + " loss vs CPU").isLessThanOrEqualTo(lossBound);
                    List<String> names = onGpu.parameterNames();
                    List<float[]> gg = onGpu.gradients();
                    double worst = 0;
                    for (int i = 0; i < names.size(); i++) {
                        double rel = relDiff(gg.get(i), cg.get(i));
                        worst = Math.max(worst, rel);
                        if (norm(cg.get(i)) == 0) {
                            // lora_A of the reference's zero-initialized B gets exactly zero gradient on both sides
                            assertThat(norm(gg.get(i))).as(names.get(i) + " " + id + " (zero on CPU)").isZero();
                            continue;
                        }
                        assertThat(rel).as(names.get(i) + " " + id + " ‖Δ‖/‖cpu‖").isLessThanOrEqualTo(gradBound);
                    }
                    LOG.info("{}: {} LoRA gradients within ‖Δ‖/‖cpu‖ ≤ {}; worst {}", id, names.size(), gradBound, worst);
                }
            }
        }
    }

    /**
     * A step with LoRA dropout (p = 0.1, nonzero B so the masks matter for every gradient): the device draws the
     * masks itself ({@code st_dropout}) and they are the CPU backend's, so the f32 step matches the CPU within the
     * fp32 bounds of {@link #tinyStepMatchesCpuAndPeft}; a different key gives different gradients.
     */
    @Test
    void tinyStepWithDropoutMatchesCpu() throws Exception {
        needGpuAndShared();
        Case c = Case.load(shared().resolve("reference/tiny_lora"));
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"))) {
            LoraConfig lora = LoraConfig.builder().r(8).alpha(16).dropout(0.1).targetModules(LoraConfig.ALL_LINEAR)
                    .build();
            PeftAdapter init = PeftAdapter.init(files.config(), lora, 11);
            // B = 0 at init would hide the masks from dA: give B values first
            List<float[]> params;
            try (CpuBackend cpu = new CpuBackend(2);
                 LoraTrainingModel onCpu = new LoraTrainingModel(files.config(), files.weights(), cpu, init, false)) {
                params = onCpu.parameters();
                java.util.Random r = new java.util.Random(3);
                for (float[] p : params) {
                    for (int i = 0; i < p.length; i++) {
                        p[i] += (float) (r.nextGaussian() * 0.02);
                    }
                }
            }
            try (CpuBackend cpu = new CpuBackend(2); CudaBackend gpu = new CudaBackend(0, CudaPrecision.F32);
                 LoraTrainingModel onCpu = new LoraTrainingModel(files.config(), files.weights(), cpu, init, false);
                 LoraTrainingModel onGpu = new LoraTrainingModel(files.config(), files.weights(), gpu, init, false)) {
                onCpu.setParameters(params);
                onGpu.setParameters(params);
                long key = 0x1234_5678_9abcL;
                onCpu.zeroGradients();
                onGpu.zeroGradients();
                LoraTrainingModel.Pass pc = onCpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens(), key);
                LoraTrainingModel.Pass pg = onGpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens(), key);
                assertThat(Math.abs(pg.meanLoss() - pc.meanLoss()) / pc.meanLoss()).as("loss with dropout, GPU vs CPU")
                        .isLessThanOrEqualTo(1e-4);
                List<String> names = onGpu.parameterNames();
                List<float[]> gg = onGpu.gradients();
                List<float[]> cg = onCpu.gradients();
                for (int i = 0; i < names.size(); i++) {
                    assertThat(relDiff(gg.get(i), cg.get(i))).as(names.get(i) + " with dropout, GPU vs CPU ‖Δ‖/‖cpu‖")
                            .isLessThanOrEqualTo(1e-3);
                }
                onGpu.zeroGradients();
                onGpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens(), key + 1);
                assertThat(relDiff(onGpu.gradients().get(0), gg.get(0))).as("another key draws other masks")
                        .isGreaterThan(1e-3);
                LOG.info("dropout step: loss gpu {} cpu {}; {} gradients within 1e-3", pg.meanLoss(), pc.meanLoss(),
                        names.size());
            }
        }
    }

    /**
     * The bf16 copies that RMSNorm and SwiGLU write for the frozen GEMMs ({@code -Dsafetune.cuda.bf16Copies}) are the
     * bits the GEMMs' own casts make, so a whole bf16 step (loss and every LoRA gradient) is the same bit for bit with
     * and without them, with and without activation checkpointing (the two orders of recomputation in the backward).
     */
    @Test
    void bf16CopiesLeaveTheStepBitForBitUnchanged() throws Exception {
        needGpuAndShared();
        Case c = Case.load(shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(shared().resolve("reference/tiny_lora/adapter_init"));
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"))) {
            for (boolean checkpointing : new boolean[]{false, true}) {
                double[] loss = new double[2];
                List<List<float[]>> grads = new ArrayList<>();
                for (int on = 0; on < 2; on++) {
                    try (CudaBackend gpu = new CudaBackend(0, CudaPrecision.BF16);
                         LoraTrainingModel m = new LoraTrainingModel(files.config(), files.weights(), gpu, init, false,
                                 checkpointing)) {
                        gpu.bf16Rank(false);  // the bf16 rank-r products round dA's input only where a copy exists
                        gpu.bf16Copies(on == 1);
                        m.zeroGradients();
                        // two passes: the second runs on buffers (and pooled copies) the first left behind
                        m.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
                        m.zeroGradients();
                        loss[on] = m.forwardBackward(c.batch(), c.targets(), 1f / c.tokens()).meanLoss();
                        grads.add(m.gradients());
                    }
                }
                String mode = "checkpointing " + checkpointing;
                assertThat(loss[1]).as("loss with copies, " + mode).isEqualTo(loss[0]);
                for (int i = 0; i < grads.get(0).size(); i++) {
                    CudaBackendTest.assertSameBits("gradient " + i + " with copies, " + mode, grads.get(1).get(i),
                            grads.get(0).get(i));
                }
                LOG.info("bf16 copies, {}: loss {} and {} gradients bit for bit equal", mode, loss[0],
                        grads.get(0).size());
            }
        }
    }

    /**
     * AdamW on the device ({@link BackendAdamW} over the model's own buffers: norm by st_sumsq, update by
     * st_adamw_update) against the host path FineTuner used before (download, {@link AdamW#clipGradNorm},
     * {@link AdamW#step}) fed the very same GPU gradients, over three steps with clipping inactive and active.
     * Bounds as in {@link CudaBackendTest#optimizerOnTheDeviceMatchesTheHostDefaults}: norm 1e-4 relative;
     * parameters 1e-6 relative + 1e-3·lr per step; moments 1e-4 relative per step (+ 1e-6 of the largest).
     */
    /**
     * A QLoRA-style step: every matrix of the tiny model (embedding/head included) quantized to GGUF Q8_0 or Q4_1
     * blocks. The GPU keeps the blocks (prepared without dequantize; expanded per tile in fp32) and the CPU
     * expands the same blocks to fp32 once, so the two compute the same function: the fp32 bounds of
     * {@link #tinyStepMatchesCpuAndPeft} apply.
     */
    @Test
    void quantizedBaseStepMatchesCpu() throws Exception {
        needGpuAndShared();
        Case c = Case.load(shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(shared().resolve("reference/tiny_lora/adapter_init"));
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"))) {
            Map<String, Weight> quantized = new LinkedHashMap<>();
            int n = 0;
            for (String name : files.weights().names()) {
                Weight w = files.weights().get(name);
                quantized.put(name, w.rows() > 1 && w.cols() % 32 == 0 ? quantize(w, n++ % 2 == 0 ? "Q8_0" : "Q4_1") : w);
            }
            assertThat(n).as("quantized matrices").isGreaterThan(7);
            try (ModelWeights qw = new MapWeights("tiny-llama, Q8_0/Q4_1 blocks", quantized, () -> { });
                 CudaBackend gpu = new CudaBackend(0, CudaPrecision.F32);
                 CpuBackend cpu = new CpuBackend(2);
                 LoraTrainingModel onGpu = new LoraTrainingModel(files.config(), qw, gpu, init, false);
                 LoraTrainingModel onCpu = new LoraTrainingModel(files.config(), qw, cpu, init, true)) {
                onGpu.zeroGradients();
                onCpu.zeroGradients();
                LoraTrainingModel.Pass g = onGpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
                LoraTrainingModel.Pass p = onCpu.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
                LOG.info("quantized base: loss gpu {} cpu {}", g.meanLoss(), p.meanLoss());
                assertThat(Math.abs(g.meanLoss() - p.meanLoss()) / p.meanLoss()).as("GPU loss vs CPU").isLessThanOrEqualTo(1e-4);
                List<String> names = onGpu.parameterNames();
                List<float[]> gg = onGpu.gradients();
                List<float[]> cg = onCpu.gradients();
                for (int i = 0; i < names.size(); i++) {
                    assertThat(relDiff(gg.get(i), cg.get(i))).as(names.get(i) + " GPU vs CPU ‖Δ‖/‖cpu‖").isLessThanOrEqualTo(1e-3);
                }
            }
        }
    }

    /** ggml's Q8_0 (d = max|x|/127, q = round(x/d)) or Q4_1 (d = (max-min)/15, m = min) blocks of w's rows. */
    private static MappedWeight quantize(Weight w, String type) {
        float[] x = w.toFloatArray();
        int blocks = w.cols() / 32;
        int blockBytes = GgmlType.valueOf(type).typeSize();
        byte[] out = new byte[w.rows() * blocks * blockBytes];
        for (int b = 0; b < w.rows() * blocks; b++) {
            int o = b * blockBytes;
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                float v = x[b * 32 + j];
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
                amax = Math.max(amax, Math.abs(v));
            }
            if (type.equals("Q8_0")) {
                float d = amax / 127;
                putHalf(out, o, d);
                for (int j = 0; j < 32; j++) {
                    out[o + 2 + j] = (byte) (d == 0 ? 0 : Math.round(x[b * 32 + j] / d));
                }
            } else {
                float d = (hi - lo) / 15;
                putHalf(out, o, d);
                putHalf(out, o + 2, lo);
                for (int j = 0; j < 16; j++) {
                    int q0 = d == 0 ? 0 : Math.min(15, Math.round((x[b * 32 + j] - lo) / d));
                    int q1 = d == 0 ? 0 : Math.min(15, Math.round((x[b * 32 + j + 16] - lo) / d));
                    out[o + 4 + j] = (byte) (q0 | (q1 << 4));
                }
            }
        }
        return new MappedWeight(w.name(), type, w.rows(), w.cols(),
                MappedRows.wrap(ByteBuffer.wrap(out), w.rows(), (long) blocks * blockBytes),
                GgmlType.valueOf(type).decoder(), null, () -> false);
    }

    private static void putHalf(byte[] b, int p, float v) {
        short h = Float16.floatToHalf(v);
        b[p] = (byte) h;
        b[p + 1] = (byte) (h >> 8);
    }

    @Test
    void deviceAdamWMatchesHostAdamWOnTheSameGradients() throws Exception {
        needGpuAndShared();
        Case c = Case.load(shared().resolve("reference/tiny_lora"));
        PeftAdapter init = PeftAdapter.load(shared().resolve("reference/tiny_lora/adapter_init"));
        double lr = 1e-2;
        double[] maxNorms = {1.0, 1e-3, 1.0};  // the middle step clips hard
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"));
             CudaBackend gpu = new CudaBackend(0);
             LoraTrainingModel lm = new LoraTrainingModel(files.config(), files.weights(), gpu, init, false);
             BackendAdamW dev = new BackendAdamW(gpu, lm.parameterSizes(), 0.9, 0.999, 1e-8, 0.01)) {
            AdamW host = new AdamW(lm.parameterSizes(), 0.9, 0.999, 1e-8, 0.01);
            for (int step = 1; step <= maxNorms.length; step++) {
                lm.zeroGradients();
                lm.forwardBackward(c.batch(), c.targets(), 1f / c.tokens());
                List<float[]> hostParams = lm.parameters();
                List<float[]> hostGrads = lm.gradients();
                double hostNorm = AdamW.clipGradNorm(hostGrads, maxNorms[step - 1]);
                host.step(hostParams, hostGrads, lr);
                List<Tensor> grads = lm.gradientTensors();
                double devNorm = dev.gradNorm(grads);
                LOG.info("step {}: gradient norm device {} host {}", step, devNorm, hostNorm);
                assertThat(Math.abs(devNorm - hostNorm)).as("norm at step " + step).isLessThanOrEqualTo(1e-4 * hostNorm);
                dev.step(lm.parameterTensors(), grads, lr, BackendAdamW.clipScale(devNorm, maxNorms[step - 1]));
                List<float[]> devParams = lm.parameters();
                float[][] dm = dev.firstMoments();
                float[][] dv = dev.secondMoments();
                float[][] hm = host.firstMoments();
                float[][] hv = host.secondMoments();
                List<String> names = lm.parameterNames();
                for (int i = 0; i < names.size(); i++) {
                    assertWithin(names.get(i) + " p, step " + step, devParams.get(i), hostParams.get(i), 1e-3 * lr * step, 1e-6);
                    assertWithin(names.get(i) + " m, step " + step, dm[i], hm[i], 1e-6 * maxAbs(hm[i]), 1e-4 * step);
                    assertWithin(names.get(i) + " v, step " + step, dv[i], hv[i], 1e-6 * maxAbs(hv[i]), 1e-4 * step);
                }
            }
            assertThat(dev.stepCount()).isEqualTo(host.stepCount());
        }
    }

    private static void assertWithin(String what, float[] actual, float[] expected, double atol, double rtol) {
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]);
            double tol = atol + rtol * Math.abs(expected[i]);
            if (!(err <= tol)) {
                throw new AssertionError(what + ": element " + i + " device " + actual[i] + " host " + expected[i]
                        + " |Δ| " + err + " > " + tol);
            }
        }
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float x : a) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    static double norm(float[] a) {
        double s = 0;
        for (float x : a) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    private static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }

    static double relDiff(float[] a, float[] ref) {
        double d = 0, n = 0;
        for (int i = 0; i < a.length; i++) {
            double x = a[i] - ref[i];
            d += x * x;
            n += (double) ref[i] * ref[i];
        }
        return Math.sqrt(d / n);
    }
}
