package ai.safetune.cli;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.Backends;
import ai.safetune.cuda.CudaPrecision;
import ai.safetune.data.ChatDatasets;
import ai.safetune.data.ChatExample;
import ai.safetune.eval.JavaForwardEvaluator;
import ai.safetune.eval.SuiteCatalog;
import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.eval.judge.Judge;
import ai.safetune.model.ModelFiles;
import ai.safetune.train.EvalMetrics;
import ai.safetune.train.FineTuner;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.LoraTrainingModel;
import ai.safetune.train.LrSchedule;
import ai.safetune.train.PeftAdapter;
import ai.safetune.train.StepMetrics;
import ai.safetune.train.TrainingCallback;
import ai.safetune.train.TrainingData;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code safetune train}: LoRA fine-tuning from the command line (flags are a contract for downstream tools).
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"LoRA-fine-tune a Llama-family chat model on chat or alpaca JSONL and save a PEFT adapter.",
            "Loss on assistant tokens only; AdamW; warm-up then constant/linear/cosine; gradient clipping."})
public final class TrainCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A .gguf file or a Hugging Face model directory.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "F.jsonl", description = "Chat JSONL ({\"messages\":[...]}) or alpaca JSONL.")
    Path data;

    @Option(names = "--init-adapter", paramLabel = "DIR", description = "Start from this PEFT adapter instead of a fresh initialisation.")
    Path initAdapter;

    @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (required unless --init-adapter).")
    Integer loraR;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha (required unless --init-adapter).")
    Double loraAlpha;

    @Option(names = "--lora-dropout", paramLabel = "D", defaultValue = "0", description = "LoRA dropout (default: ${DEFAULT-VALUE}).")
    double loraDropout;

    @Option(names = "--rslora", description = "Rank-stabilized scaling alpha/sqrt(r).")
    boolean rslora;

    @Option(names = "--target-modules", paramLabel = "LIST", defaultValue = "all-linear",
            description = "Comma-separated q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear (default).")
    String targetModules;

    @Option(names = "--lr", required = true, paramLabel = "X", description = "Peak learning rate.")
    double lr;

    @Option(names = "--weight-decay", paramLabel = "W", defaultValue = "0", description = "Decoupled weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", paramLabel = "G", defaultValue = "1.0", description = "Clip the total gradient norm (0 = off; default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--batch-size", required = true, paramLabel = "B", description = "Examples per micro-batch.")
    int batchSize;

    @Option(names = "--grad-accum", paramLabel = "K", defaultValue = "1", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Length length;

    static final class Length {
        @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps.")
        Integer steps;

        @Option(names = "--epochs", paramLabel = "E", description = "Passes over the data.")
        Double epochs;
    }

    @Option(names = "--schedule", paramLabel = "constant|linear|cosine", defaultValue = "linear",
            description = "Learning-rate schedule after warm-up (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--warmup-steps", paramLabel = "N", defaultValue = "0", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;

    @Option(names = "--no-shuffle", description = "Take the examples in file order.")
    boolean noShuffle;

    @Option(names = "--max-seq-len", paramLabel = "L", defaultValue = "2048", description = "Truncate longer examples (reported; default: ${DEFAULT-VALUE}).")
    int maxSeqLen;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Seed of the adapter init and the shuffle (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--metrics-out", paramLabel = "M.jsonl", description = "One JSON line per optimizer step: step, loss, grad_norm, lr, ...")
    Path metricsOut;

    @Option(names = "--checkpoint-dir", paramLabel = "DIR", description = "Write resumable checkpoints here.")
    Path checkpointDir;

    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "0", description = "Checkpoint every N steps (and at the end).")
    int checkpointEvery;

    @Option(names = "--resume", paramLabel = "DIR", description = "Resume from the newest checkpoint in DIR.")
    Path resume;

    @Option(names = "--train-on-inputs", description = "Loss on every token, not only on the responses.")
    boolean trainOnInputs;

    @Option(names = "--gradient-checkpointing",
            description = "Keep only each layer's input and recompute the layer in the backward: less memory, same gradients, ~1/3 more compute.")
    boolean gradientCheckpointing;

    @Option(names = "--keep-quantized",
            description = "Keep a quantized GGUF base (Q8_0, Q4_0, Q4_1, ...) in its blocks, QLoRA-style: the frozen weights take their file size in memory instead of 4 bytes per value, expanded tile by tile in every product (a CPU step takes ~1.0-1.25x the time of a dequantized one; on a GPU Q8_0/Q4_1 stay in their blocks on the device).")
    boolean keepQuantized;

    @Option(names = "--eval-suite", split = ",", paramLabel = "LIST",
            description = "Evaluate the adapter during training on these suites (as safetune eval --suite; Java forward).")
    List<String> evalSuites;

    @Option(names = "--eval-every", paramLabel = "N", defaultValue = "0", description = "Evaluate every N steps and after the last.")
    int evalEvery;

    @Option(names = "--eval-limit", paramLabel = "K", defaultValue = "0", description = "First K items of each eval suite (0 = all).")
    int evalLimit;

    @Option(names = "--eval-max-new-tokens", paramLabel = "N", defaultValue = "32",
            description = "Generation budget per eval response (default: ${DEFAULT-VALUE}).")
    int evalMaxNewTokens;

    @Option(names = "--eval-judge", paramLabel = "SPEC", defaultValue = "keywords",
            description = "Judge of eval responses: keywords | keywords:FILE | onnx:PATH (default: ${DEFAULT-VALUE}).")
    String evalJudge;

    @Option(names = "--save", required = true, paramLabel = "DIR", description = "Write the trained PEFT adapter here.")
    Path save;

    @Option(names = "--backend", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
            description = "Where to train: cuda, cpu, or auto (SAFETUNE_BACKEND / -Dsafetune.backend if set, else a GPU when one "
                    + "is usable, else the CPU; default: ${DEFAULT-VALUE}). Naming one that is unavailable fails with the reason.")
    String backend;

    @Option(names = "--cuda-precision", paramLabel = "f32|bf16|bf16-tiled",
            description = "Arithmetic of the frozen matmuls on the GPU: f32 (exact), bf16 (cuBLAS tensor cores, fp32 accumulate; "
                    + "the fast one) or bf16-tiled (default: SAFETUNE_CUDA_PRECISION / -Dsafetune.cuda.precision, else f32).")
    String cudaPrecision;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(data)) {
            throw new IllegalArgumentException("--data " + data + ": no such file");
        }
        BackendOptions backendOptions = backendOptions(backend, cudaPrecision);
        if (checkpointDir != null && checkpointEvery <= 0) {
            throw new IllegalArgumentException("--checkpoint-dir needs --checkpoint-every N with N > 0");
        }
        SuiteCatalog.Resolved evalResolved = null;
        if (evalSuites != null || evalEvery != 0) {
            if (evalSuites == null || evalEvery <= 0) {
                throw new IllegalArgumentException("--eval-suite and --eval-every N (N > 0) go together");
            }
            if (evalLimit < 0 || evalMaxNewTokens <= 0) {
                throw new IllegalArgumentException("--eval-limit must be >= 0 and --eval-max-new-tokens > 0");
            }
            if (evalJudge.startsWith("model:")) {
                throw new IllegalArgumentException("--eval-judge model:PATH is not supported during training; use keywords or onnx:PATH");
            }
            Path evalData = Path.of(System.getProperty("safetune.shared", "../shared")).resolve("data");
            // resolved before training starts, so a typo fails before any step
            evalResolved = SuiteCatalog.resolve(evalSuites, evalData, evalLimit);
        }
        List<ChatExample> chats = ChatDatasets.read(data);
        PeftAdapter init = null;
        LoraConfig lora;
        if (initAdapter != null) {
            init = PeftAdapter.load(initAdapter);
            lora = init.config();
            if (loraR != null && loraR != lora.r()) {
                throw new IllegalArgumentException("--lora-r " + loraR + " disagrees with the rank " + lora.r()
                        + " of --init-adapter " + initAdapter);
            }
            if (loraAlpha != null && loraAlpha != lora.alpha()) {
                throw new IllegalArgumentException("--lora-alpha " + loraAlpha + " disagrees with lora_alpha "
                        + lora.alpha() + " of --init-adapter " + initAdapter);
            }
            CommandLine.ParseResult pr = spec.commandLine().getParseResult();
            if (pr.hasMatchedOption("--rslora") && rslora != lora.useRsLora()) {
                throw new IllegalArgumentException("--rslora disagrees with use_rslora " + lora.useRsLora()
                        + " of --init-adapter " + initAdapter);
            }
            if (pr.hasMatchedOption("--target-modules")
                    && !java.util.Set.copyOf(LoraConfig.parseTargets(targetModules)).equals(java.util.Set.copyOf(lora.targetModules()))) {
                throw new IllegalArgumentException("--target-modules " + targetModules + " disagrees with target_modules "
                        + lora.targetModules() + " of --init-adapter " + initAdapter);
            }
            if (pr.hasMatchedOption("--lora-dropout") && loraDropout != lora.dropout()) {
                // dropout is a training setting, not part of the weights: the flag wins over the file
                lora = new LoraConfig(lora.r(), lora.alpha(), loraDropout, lora.useRsLora(), lora.targetModules());
                init = new PeftAdapter(lora, init.weights());
            }
        } else {
            if (loraR == null || loraAlpha == null) {
                throw new IllegalArgumentException("give --lora-r and --lora-alpha (or --init-adapter DIR)");
            }
            lora = new LoraConfig(loraR, loraAlpha, loraDropout, rslora, LoraConfig.parseTargets(targetModules));
        }
        BufferedWriter metrics = null;
        if (metricsOut != null) {
            metrics = resume != null
                    ? Files.newBufferedWriter(metricsOut, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)
                    : Files.newBufferedWriter(metricsOut, StandardCharsets.UTF_8);
        }
        try (ModelFiles files = ModelFiles.open(model); Backend trainOn = Backends.select(backendOptions)) {
            if (cudaPrecision != null && !trainOn.name().equals("cuda")) {
                spec.commandLine().getErr().println("note: --cuda-precision " + cudaPrecision + " has no effect: training on the "
                        + trainOn.name() + " backend");
            }
            if (keepQuantized) {
                // say what the flag did: a base without quantized tensors has nothing to keep
                java.util.TreeSet<String> types = new java.util.TreeSet<>();
                for (String name : files.weights().names()) {
                    if (files.weights().get(name) instanceof ai.safetune.model.QuantizedWeight q) {
                        types.add(q.storageType());
                    }
                }
                spec.commandLine().getErr().println(types.isEmpty()
                        ? "note: --keep-quantized: " + model + " has no quantized tensors; the base is used as stored"
                        : "base weights kept in their " + String.join("/", types) + " blocks (--keep-quantized)");
            }
            FineTuner.Builder b = FineTuner.builder(files, chats)
                    .lora(lora)
                    .initAdapter(init)
                    .learningRate(lr).weightDecay(weightDecay).maxGradNorm(maxGradNorm)
                    .batchSize(batchSize).gradAccum(gradAccum)
                    .schedule(LrSchedule.Kind.parse(schedule)).warmupSteps(warmupSteps)
                    .shuffle(!noShuffle).maxSeqLen(maxSeqLen).seed(seed).trainOnInputs(trainOnInputs)
                    .gradientCheckpointing(gradientCheckpointing)
                    .dequantize(!keepQuantized)
                    .backend(trainOn)
                    .baseModel(model.getFileName().toString());
            if (length.steps != null) {
                b.steps(length.steps);
            } else {
                b.epochs(length.epochs);
            }
            if (checkpointDir != null) {
                b.checkpoints(checkpointDir, checkpointEvery);
            }
            if (resume != null) {
                b.resumeFrom(resume);
            }
            b.callback(new Reporter(metrics, spec.commandLine().getErr()));
            JavaForwardEvaluator evaluator = null;
            Judge judge = null;
            if (evalResolved != null) {
                judge = EvalCommand.judge(evalJudge, save.toAbsolutePath().getParent(), spec.commandLine().getErr());
                evaluator = new JavaForwardEvaluator(files.config(), files.weights(), TokenizerChatCodec.of(files), evalResolved,
                        judge, evalMaxNewTokens, batchSize, seed, backendOptions);
                b.evaluateEvery(evalEvery, evaluator);
            }
            FineTuner.TrainingResult result;
            try {
                result = b.build().run();
            } finally {
                if (evaluator != null) {
                    evaluator.close();
                }
                if (judge != null) {
                    judge.close();
                }
            }
            result.adapter().save(save, model.getFileName().toString());
            spec.commandLine().getErr().printf(Locale.ROOT, "saved the adapter to %s after %d steps%s%n", save, result.totalSteps(),
                    result.last().map(m -> String.format(Locale.ROOT, " (last loss %.4f)", m.loss())).orElse(""));
        } finally {
            if (metrics != null) {
                metrics.close();
            }
        }
        return 0;
    }

    /** The backend flags as {@link BackendOptions}, checked before any file is read. */
    static BackendOptions backendOptions(String backend, String cudaPrecision) {
        BackendOptions named = ModelOptions.backendOptions(backend, 0, Map.of());
        if (cudaPrecision == null) {
            return named;
        }
        if ("cpu".equals(named.backend())) {
            throw new IllegalArgumentException("--cuda-precision applies to the cuda backend, not --backend cpu");
        }
        // checked here, so a typo fails before the model loads (the provider parses it again)
        CudaPrecision.parse(cudaPrecision, "--cuda-precision");
        return ModelOptions.backendOptions(backend, 0, Map.of(CudaPrecision.SETTING, cudaPrecision));
    }

    /** Progress bar on stderr and the metrics JSONL. */
    private static final class Reporter implements TrainingCallback {
        private final BufferedWriter metrics;
        private final java.io.PrintWriter err;
        private ProgressBar bar;

        Reporter(BufferedWriter metrics, java.io.PrintWriter err) {
            this.metrics = metrics;
            this.err = err;
        }

        @Override
        public void onStart(int totalSteps, int startStep, TrainingData data) {
            if (!data.truncatedIds().isEmpty()) {
                err.printf(Locale.ROOT, "warning: %d of %d examples were truncated to %d tokens%n",
                        data.truncatedIds().size(), data.size(), data.maxSeqLen());
            }
            bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps).startsFrom(startStep, java.time.Duration.ZERO)
                    .setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.InteractiveConsoleProgressBarConsumer(System.err))
                    .setUnit(" steps", 1).build();
        }

        @Override
        public void onStep(StepMetrics m, LoraTrainingModel model) {
            if (metrics != null) {
                ObjectNode o = JSON.createObjectNode();
                o.put("step", m.step());
                o.put("loss", m.loss());
                o.put("grad_norm", m.gradNorm());
                o.put("lr", m.lr());
                o.put("epoch", m.epoch());
                o.put("loss_tokens", m.lossTokens());
                o.put("tokens", m.seqTokens());
                o.put("tokens_per_s", m.tokensPerSec());
                o.put("elapsed_s", m.elapsedSec());
                writeMetrics(o);
            }
            if (bar != null) {
                bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f %.0f tok/s", m.loss(), m.tokensPerSec()));
                bar.stepTo(m.step() + 1L);
                if (m.step() + 1 >= bar.getMax()) {
                    bar.close();
                }
            }
        }

        /** One JSON line of the metrics file, flushed so a killed run keeps every finished step. */
        private void writeMetrics(ObjectNode o) {
            try {
                metrics.write(JSON.writeValueAsString(o));
                metrics.write('\n');
                metrics.flush();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write metrics: " + e.getMessage(), e);
            }
        }

        @Override
        public void onEval(EvalMetrics e) {
            StringBuilder line = new StringBuilder();
            e.values().forEach((k, v) -> line.append(String.format(Locale.ROOT, " %s=%.4f", k, v)));
            err.printf(Locale.ROOT, "eval after step %d (%.1f s):%s%n", e.step() + 1, e.seconds(), line);
            err.flush();
            if (metrics != null) {
                ObjectNode o = JSON.createObjectNode();
                o.put("step", e.step());
                ObjectNode vals = o.putObject("eval");
                e.values().forEach(vals::put);
                o.put("evaluator", e.evaluator());
                o.put("eval_seconds", e.seconds());
                writeMetrics(o);
            }
        }
    }
}
