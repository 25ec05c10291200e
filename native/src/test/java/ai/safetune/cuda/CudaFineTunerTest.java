package ai.safetune.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.safetune.backend.BackendProvider;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.model.LoraAdapter;
import ai.safetune.model.ModelFiles;
import ai.safetune.train.FineTuner;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.StepMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * FineTuner on the CUDA backend (f32) end to end on the tiny model: tokenized chats, micro-batches with gradient
 * accumulation, LoRA dropout drawn on the device, gradient clipping and AdamW on the device, checkpoints. Against
 * the same run on the CPU backend: every step's loss within 1e-4 relative and gradient norm within 1e-3 (the fp32
 * bounds of CudaTrainingStepTest); the adapters' updates within 1% of their size (Adam divides by √v, so an entry
 * whose gradient is near 0 may move by ±lr on either side). A run resumed from its checkpoint ends where the
 * uninterrupted one does (1e-5: the device's atomic gradient norm may differ in its last bits). Needs the
 * tokenizer (the GPU carry brings it gzipped, run-java-tests.sh unpacks it): skips without it, and without a GPU
 * or the host emulation.
 */
class CudaFineTunerTest {
    private static final Logger LOG = LoggerFactory.getLogger(CudaFineTunerTest.class);

    /** Absolute floor of the resumed-vs-uninterrupted comparison: 1e-3 of the learning rate (1e-3). */
    private static final double RESUME_FLOOR = 1e-6;

    private static Path model() {
        return CudaTrainingStepTest.shared().resolve("models/tiny-llama");
    }

    private static List<ChatExample> chats() {
        String[][] qa = {
                {"Which planet is known as the red planet?", "Mars."},
                {"What is 7 times 6?", "42."},
                {"Name the largest ocean on Earth.", "The Pacific Ocean."},
                {"Is a tomato a fruit or a vegetable?", "Botanically, a tomato is a fruit."},
                {"Translate 'thank you' into French.", "Merci."},
                {"What gas do plants absorb from the air?", "Carbon dioxide."},
                {"How many legs does a spider have?", "Eight."},
                {"What is the boiling point of water at sea level in Celsius?", "100 degrees Celsius."}};
        List<ChatExample> out = new ArrayList<>();
        for (int i = 0; i < qa.length; i++) {
            out.add(ChatExample.of("q" + i, Message.system("Answer briefly."), Message.user(qa[i][0]),
                    Message.assistant(qa[i][1])));
        }
        return out;
    }

    private static FineTuner.TrainingResult run(ModelFiles files, ai.safetune.backend.Backend backend, Path checkpoints,
                                                Path resumeFrom) {
        FineTuner.Builder b = FineTuner.builder(files, chats())
                .lora(LoraConfig.builder().r(8).alpha(16).dropout(0.1).targetModules(LoraConfig.ALL_LINEAR).build())
                .learningRate(1e-3).batchSize(2).gradAccum(2).steps(4).maxGradNorm(0.05).warmupSteps(1)
                .maxSeqLen(64).seed(11).backend(backend);
        if (checkpoints != null) {
            b.checkpoints(checkpoints, 2);
        }
        if (resumeFrom != null) {
            b.resumeFrom(resumeFrom);
        }
        return b.build().run();
    }

    @Test
    void fineTunerOnCudaFollowsTheCpuRunAndResumesWhereItStopped(@TempDir Path tmp) throws Exception {
        BackendProvider.Availability a = new CudaBackendProvider().availability();
        assumeTrue(a.available(), () -> "no CUDA backend here: " + a.reason());
        assumeTrue(Files.isRegularFile(model().resolve("tokenizer.json")),
                () -> "tiny model with its tokenizer not found under " + CudaTrainingStepTest.shared());
        try (ModelFiles files = ModelFiles.open(model())) {
            FineTuner.TrainingResult onCpu;
            try (CpuBackend cpu = new CpuBackend(2)) {
                onCpu = run(files, cpu, null, null);
            }
            FineTuner.TrainingResult onGpu;
            FineTuner.TrainingResult resumed;
            try (CudaBackend gpu = new CudaBackend(0, CudaPrecision.F32)) {
                onGpu = run(files, gpu, tmp.resolve("ckpt"), null);
                // the step-2 checkpoint only: resume there and run the last two steps again
                Path partial = tmp.resolve("from-step-2");
                Files.createDirectories(partial);
                try (var dirs = Files.list(tmp.resolve("ckpt"))) {
                    Path step2 = dirs.filter(p -> p.getFileName().toString().equals("checkpoint-000002")).findFirst()
                            .orElseThrow(() -> new AssertionError("no checkpoint-000002 under " + tmp.resolve("ckpt")));
                    copyTree(step2, partial.resolve(step2.getFileName()));
                }
                resumed = run(files, gpu, null, partial);
            }
            assertThat(onGpu.metrics()).hasSize(4);
            for (int i = 0; i < 4; i++) {
                StepMetrics c = onCpu.metrics().get(i);
                StepMetrics g = onGpu.metrics().get(i);
                LOG.info("step {}: loss gpu {} cpu {}; grad norm gpu {} cpu {}", c.step(), g.loss(), c.loss(),
                        g.gradNorm(), c.gradNorm());
                assertThat(Math.abs(g.loss() - c.loss()) / c.loss()).as("step %d loss, GPU vs CPU", c.step())
                        .isLessThanOrEqualTo(1e-4);
                assertThat(Math.abs(g.gradNorm() - c.gradNorm()) / c.gradNorm()).as("step %d grad norm", c.step())
                        .isLessThanOrEqualTo(1e-3);
            }
            LoraAdapter init = ai.safetune.train.PeftAdapter.init(files.config(), LoraConfig.builder().r(8).alpha(16)
                    .dropout(0.1).targetModules(LoraConfig.ALL_LINEAR).build(), 11).weights();
            double updateDiff = 0;
            double update = 0;
            double resumeWorst = 0;
            for (Map.Entry<String, LoraAdapter.Pair> e : onCpu.adapter().weights().modules().entrySet()) {
                LoraAdapter.Pair c = e.getValue();
                LoraAdapter.Pair g = onGpu.adapter().weights().modules().get(e.getKey());
                LoraAdapter.Pair r = resumed.adapter().weights().modules().get(e.getKey());
                LoraAdapter.Pair z = init.modules().get(e.getKey());
                for (float[][] t : new float[][][]{{c.a(), g.a(), r.a(), z.a()}, {c.b(), g.b(), r.b(), z.b()}}) {
                    for (int i = 0; i < t[0].length; i++) {
                        updateDiff += sq(t[1][i] - t[0][i]);
                        update += sq(t[0][i] - t[3][i]);
                        resumeWorst = Math.max(resumeWorst,
                                Math.abs(t[2][i] - t[1][i]) / (Math.abs(t[1][i]) + RESUME_FLOOR));
                    }
                }
            }
            double ratio = Math.sqrt(updateDiff / update);
            LOG.info("adapter updates: ‖gpu − cpu‖ / ‖update‖ = {}; resumed vs uninterrupted worst relative {}", ratio,
                    resumeWorst);
            assertThat(update).as("the run moved the adapter").isPositive();
            assertThat(ratio).as("‖Δ update‖ / ‖update‖, GPU vs CPU").isLessThanOrEqualTo(0.01);
            assertThat(resumeWorst).as("resumed run vs uninterrupted, per weight").isLessThanOrEqualTo(1e-5);
            assertThat(resumed.metrics()).as("the resumed run's own steps").hasSize(2);
        }
    }

    private static double sq(double d) {
        return d * d;
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (var files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(p, dst);
                }
            }
        }
    }
}
