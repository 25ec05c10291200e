package ai.safetune.train;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Backends;
import ai.safetune.backend.Tensor;
import ai.safetune.data.ChatExample;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import ai.safetune.tokenizer.ChatTemplate;
import ai.safetune.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LoRA fine-tuning of a Llama-family chat model, configured with a builder:
 * <pre>
 * try (ModelFiles model = ModelFiles.open(Path.of("SmolLM2-135M-Instruct.Q4_1.gguf"))) {
 *     TrainingResult r = FineTuner.builder(model, chats)
 *             .lora(LoraConfig.builder().r(8).alpha(16).build())
 *             .learningRate(2e-4).batchSize(4).gradAccum(2).epochs(1)
 *             .build().run();
 *     r.adapter().save(Path.of("adapter"), "SmolLM2-135M-Instruct");
 * }
 * </pre>
 * Loss on assistant tokens only by default; right padding; AdamW with decoupled weight decay; linear warm-up
 * then constant, linear or cosine decay; gradient-norm clipping; a non-finite loss or gradient stops the run
 * naming the step and the batch. Deterministic for a fixed seed; checkpoints resume bit-identically.
 */
public final class FineTuner {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuner.class);

    private final Builder b;

    private FineTuner(Builder b) {
        this.b = b;
    }

    public static Builder builder(ModelFiles model, List<ChatExample> data) {
        return new Builder(model, data);
    }

    /** Runs the whole schedule (or what remains of it after a resumed checkpoint). */
    public TrainingResult run() {
        ModelFiles model = b.model;
        Tokenizer tokenizer = Tokenizer.from(model.tokenizerSource());
        ChatTemplate template = b.template != null ? b.template : ChatTemplate.from(model.tokenizerSource(), tokenizer);
        TrainingData data = TrainingData.tokenize(b.data, template, b.maxSeqLen, b.trainOnInputs);
        if (!data.truncatedIds().isEmpty()) {
            LOG.warn("{} of {} examples were longer than {} tokens and were truncated: {}", data.truncatedIds().size(),
                    data.size(), b.maxSeqLen, preview(data.truncatedIds()));
        }
        if (!data.noLossIds().isEmpty()) {
            LOG.warn("{} examples have no response token left after truncation: {}", data.noLossIds().size(),
                    preview(data.noLossIds()));
        }
        int perStep = b.batchSize * b.gradAccum;
        int totalSteps = b.steps > 0 ? b.steps : (int) Math.ceil(b.epochs * data.size() / (double) perStep);
        if (totalSteps <= 0) {
            throw new IllegalArgumentException("the run has no steps: give steps > 0 or epochs > 0");
        }
        LrSchedule schedule = new LrSchedule(b.schedule, b.learningRate, b.warmupSteps, totalSteps);
        String fingerprint = fingerprint(data, totalSteps);

        PeftAdapter start = b.initAdapter != null ? b.initAdapter : PeftAdapter.init(model.config(), b.lora, b.seed);
        int step = 0;
        long consumed = 0;
        Checkpoint resumed = null;
        if (b.resumeFrom != null) {
            Path dir = Checkpoint.latest(b.resumeFrom).orElseThrow(() -> new TrainingException(
                    b.resumeFrom + ": no complete checkpoint (checkpoint-NNNNNN folder with trainer_state.json) to resume from"));
            resumed = Checkpoint.read(dir);
            if (!resumed.fingerprint().equals(fingerprint)) {
                throw new TrainingException(dir + ": the checkpoint was written by a run with other settings or data"
                        + " (fingerprint " + resumed.fingerprint() + ", this run " + fingerprint + ")");
            }
            start = resumed.adapter();
            step = resumed.step();
            consumed = resumed.consumed();
            LOG.info("resuming from {} at step {}", dir, step);
        }

        Backend backend = b.backend != null ? b.backend : Backends.select();
        boolean ownBackend = b.backend == null;
        List<StepMetrics> metrics = new ArrayList<>();
        try (LoraTrainingModel lm = new LoraTrainingModel(model.config(), model.weights(), backend, start, b.dequantize,
                b.gradientCheckpointing);
             BackendAdamW adam = new BackendAdamW(backend, lm.parameterSizes(), b.beta1, b.beta2, b.eps, b.weightDecay)) {
            if (resumed != null) {
                adam.restore(resumed.firstMoments(), resumed.secondMoments(), resumed.adamSteps());
            }
            for (TrainingCallback cb : b.callbacks) {
                cb.onStart(totalSteps, step, data);
            }
            int padId = tokenizer.padId() >= 0 ? tokenizer.padId() : tokenizer.eosId();
            long t0 = System.nanoTime();
            for (; step < totalSteps; step++) {
                long s0 = System.nanoTime();
                List<List<TrainingExample>> micro = new ArrayList<>();
                int lossTokens = 0;
                int seqTokens = 0;
                for (int k = 0; k < b.gradAccum; k++) {
                    List<TrainingExample> mb = new ArrayList<>(b.batchSize);
                    for (int i = 0; i < b.batchSize; i++) {
                        mb.add(data.examples().get(indexAt(consumed++, data.size())));
                    }
                    for (TrainingExample ex : mb) {
                        lossTokens += ex.lossTokens();
                        seqTokens += ex.ids().length;
                    }
                    micro.add(mb);
                }
                lm.zeroGradients();
                double lossSum = 0;
                if (lossTokens > 0) {
                    float scale = 1f / lossTokens;
                    for (int k = 0; k < micro.size(); k++) {
                        List<TrainingExample> mb = micro.get(k);
                        List<int[]> rows = new ArrayList<>();
                        List<int[]> labelRows = new ArrayList<>();
                        for (TrainingExample ex : mb) {
                            rows.add(ex.ids());
                            labelRows.add(ex.labels());
                        }
                        TokenBatch batch = TokenBatch.rightPadded(rows, padId);
                        int[] labels = padLabels(labelRows, batch.length());
                        int[] targets = LoraTrainingModel.shiftLabels(labels, batch.batch(), batch.length());
                        lossSum += lm.forwardBackward(batch, targets, scale, dropoutKey(b.seed, step, k)).lossSum();
                    }
                }
                double loss = lossTokens > 0 ? lossSum / lossTokens : Double.NaN;
                // optimizer on the backend: on a GPU only the norm comes to the host (bit-identical to AdamW on CPU)
                List<Tensor> grads = lm.gradientTensors();
                double norm = adam.gradNorm(grads);
                if (lossTokens > 0 && (!Double.isFinite(loss) || !Double.isFinite(norm))) {
                    throw new TrainingException("step " + step + ": " + (!Double.isFinite(loss) ? "loss is " + loss
                            : "gradient norm is " + norm) + " on the batch of examples " + batchIds(micro)
                            + "; lower the learning rate or check these examples");
                }
                double lr = schedule.at(step);
                if (lossTokens > 0) {
                    adam.step(lm.parameterTensors(), grads, lr, BackendAdamW.clipScale(norm, b.maxGradNorm));
                } else {
                    LOG.warn("step {}: the batch {} has no response tokens; no update", step, batchIds(micro));
                }
                long s1 = System.nanoTime();
                StepMetrics m = new StepMetrics(step, consumed / (double) data.size(), loss, norm, lr, lossTokens,
                        seqTokens, seqTokens / ((s1 - s0) / 1e9), (s1 - t0) / 1e9);
                metrics.add(m);
                for (TrainingCallback cb : b.callbacks) {
                    cb.onStep(m, lm);
                }
                if (b.evaluator != null && ((step + 1) % b.evalEvery == 0 || step + 1 == totalSteps)) {
                    evaluate(step, lm.adapter());
                }
                if (b.checkpointDir != null && b.checkpointEvery > 0
                        && ((step + 1) % b.checkpointEvery == 0 || step + 1 == totalSteps)) {
                    Checkpoint cp = new Checkpoint(step + 1, consumed, lm.adapter(), adam.firstMoments(),
                            adam.secondMoments(), adam.stepCount(), fingerprint);
                    Path dir = cp.write(b.checkpointDir, b.baseModelName(), b.keepCheckpoints);
                    for (TrainingCallback cb : b.callbacks) {
                        cb.onCheckpoint(step + 1, dir);
                    }
                }
            }
            return new TrainingResult(lm.adapter(), metrics, data.truncatedIds(), data.noLossIds(), totalSteps);
        } finally {
            if (ownBackend) {
                backend.close();
            }
        }
    }

    private void evaluate(int step, PeftAdapter adapter) {
        long e0 = System.nanoTime();
        EvalMetrics got = b.evaluator.evaluate(step + 1, adapter);
        // the trainer, not the evaluator, says which step it follows and how long it took
        EvalMetrics em = new EvalMetrics(step, got.evaluator(), got.values(), (System.nanoTime() - e0) / 1e9);
        for (TrainingCallback cb : b.callbacks) {
            cb.onEval(em);
        }
    }

    /** The example index for the {@code n}-th draw: epochs in order, each a seeded permutation (or file order). */
    private int indexAt(long n, int size) {
        int epoch = (int) (n / size);
        int pos = (int) (n % size);
        if (!b.shuffle) {
            return pos;
        }
        if (permutationEpoch != epoch) {
            permutation = permutation(size, b.seed, epoch);
            permutationEpoch = epoch;
        }
        return permutation[pos];
    }

    private int[] permutation;

    /** The LoRA dropout key of one micro-batch: a pure function of seed, step and position, so resuming repeats it. */
    static long dropoutKey(long seed, int step, int micro) {
        long z = seed * 0xBF58476D1CE4E5B9L + step * 0x94D049BB133111EBL + micro;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
    private int permutationEpoch = -1;

    static int[] permutation(int size, long seed, int epoch) {
        int[] p = new int[size];
        for (int i = 0; i < size; i++) {
            p[i] = i;
        }
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = size - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private static int[] padLabels(List<int[]> rows, int length) {
        int[] out = new int[rows.size() * length];
        java.util.Arrays.fill(out, -100);
        for (int r = 0; r < rows.size(); r++) {
            System.arraycopy(rows.get(r), 0, out, r * length, rows.get(r).length);
        }
        return out;
    }

    private static List<String> batchIds(List<List<TrainingExample>> micro) {
        List<String> ids = new ArrayList<>();
        micro.forEach(mb -> mb.forEach(ex -> ids.add(ex.id())));
        return ids;
    }

    private static String preview(List<String> ids) {
        return ids.size() <= 10 ? ids.toString() : ids.subList(0, 10) + " and " + (ids.size() - 10) + " more";
    }

    private String fingerprint(TrainingData data, int totalSteps) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (TrainingExample ex : data.examples()) {
                for (int id : ex.ids()) {
                    md.update((byte) id);
                    md.update((byte) (id >>> 8));
                    md.update((byte) (id >>> 16));
                }
                for (int l : ex.labels()) {
                    md.update((byte) (l >= 0 ? 1 : 0));
                }
            }
            String settings = String.join("|", b.model.config().toString(), b.lora.toString(),
                    String.valueOf(b.batchSize), String.valueOf(b.gradAccum), String.valueOf(totalSteps),
                    String.valueOf(b.seed), String.valueOf(b.shuffle), String.valueOf(b.learningRate),
                    String.valueOf(b.schedule), String.valueOf(b.warmupSteps), String.valueOf(b.weightDecay),
                    String.valueOf(b.maxGradNorm));
            md.update(settings.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest(), 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Options, with PEFT/HF Trainer defaults where they have one. */
    public static final class Builder {
        private final ModelFiles model;
        private final List<ChatExample> data;
        private ChatTemplate template;
        private LoraConfig lora = LoraConfig.builder().build();
        private PeftAdapter initAdapter;
        private double learningRate = 2e-4;
        private double weightDecay = 0.0;
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double eps = 1e-8;
        private double maxGradNorm = 1.0;
        private int batchSize = 4;
        private int gradAccum = 1;
        private int steps;
        private double epochs = 1;
        private LrSchedule.Kind schedule = LrSchedule.Kind.LINEAR;
        private int warmupSteps;
        private boolean shuffle = true;
        private int maxSeqLen = 2048;
        private long seed = 42;
        private boolean trainOnInputs;
        private Backend backend;
        private boolean dequantize = true;
        private boolean gradientCheckpointing;
        private Path checkpointDir;
        private int checkpointEvery;
        private int keepCheckpoints = 2;
        private Path resumeFrom;
        private String baseModel;
        private final List<TrainingCallback> callbacks = new ArrayList<>();
        private int evalEvery;
        private TrainingEvaluator evaluator;

        private Builder(ModelFiles model, List<ChatExample> data) {
            this.model = Objects.requireNonNull(model, "model");
            this.data = List.copyOf(Objects.requireNonNull(data, "data"));
        }

        public Builder template(ChatTemplate t) { this.template = t; return this; }
        public Builder lora(LoraConfig l) { this.lora = Objects.requireNonNull(l); return this; }
        /** Starts from this adapter (its LoRA config wins) instead of a fresh initialisation. */
        public Builder initAdapter(PeftAdapter a) { this.initAdapter = a; if (a != null) { this.lora = a.config(); } return this; }
        public Builder learningRate(double lr) { this.learningRate = lr; return this; }
        public Builder weightDecay(double wd) { this.weightDecay = wd; return this; }
        public Builder betas(double b1, double b2) { this.beta1 = b1; this.beta2 = b2; return this; }
        public Builder adamEps(double e) { this.eps = e; return this; }
        /** Clip the total gradient norm to this (0 = no clipping). */
        public Builder maxGradNorm(double g) { this.maxGradNorm = g; return this; }
        public Builder batchSize(int n) { this.batchSize = n; return this; }
        public Builder gradAccum(int k) { this.gradAccum = k; return this; }
        /** Fixed number of optimizer steps (overrides epochs). */
        public Builder steps(int n) { this.steps = n; return this; }
        public Builder epochs(double e) { this.epochs = e; this.steps = 0; return this; }
        public Builder schedule(LrSchedule.Kind k) { this.schedule = Objects.requireNonNull(k); return this; }
        public Builder warmupSteps(int n) { this.warmupSteps = n; return this; }
        public Builder shuffle(boolean s) { this.shuffle = s; return this; }
        public Builder maxSeqLen(int n) { this.maxSeqLen = n; return this; }
        public Builder seed(long s) { this.seed = s; return this; }
        /** Compute the loss on every token, not only on the responses. */
        public Builder trainOnInputs(boolean t) { this.trainOnInputs = t; return this; }
        /** The backend to use (not closed by the tuner); default: the best available one. */
        public Builder backend(Backend be) { this.backend = be; return this; }
        /** Expand a quantized base to fp32 once (faster) or keep it quantized and expand per tile (less memory). */
        public Builder dequantize(boolean d) { this.dequantize = d; return this; }
        /** Activation checkpointing: keep each layer's input only, recompute the layer in the backward (less memory, same gradients). */
        public Builder gradientCheckpointing(boolean on) { this.gradientCheckpointing = on; return this; }
        public Builder checkpoints(Path dir, int every) { this.checkpointDir = dir; this.checkpointEvery = every; return this; }
        public Builder keepCheckpoints(int n) { this.keepCheckpoints = n; return this; }
        /** Resume from the newest checkpoint in this folder (or this checkpoint folder). */
        public Builder resumeFrom(Path dir) { this.resumeFrom = dir; return this; }
        /** The name recorded as {@code base_model_name_or_path} in saved adapters. */
        public Builder baseModel(String name) { this.baseModel = name; return this; }
        public Builder callback(TrainingCallback cb) { this.callbacks.add(Objects.requireNonNull(cb)); return this; }
        /**
         * Runs {@code evaluator} on the current adapter after every {@code steps} optimizer steps and after the
         * last one; results reach the callbacks' {@link TrainingCallback#onEval}.
         */
        public Builder evaluateEvery(int steps, TrainingEvaluator evaluator) {
            if (steps <= 0) {
                throw new IllegalArgumentException("evaluateEvery needs steps > 0, got " + steps);
            }
            this.evalEvery = steps;
            this.evaluator = Objects.requireNonNull(evaluator, "evaluator");
            return this;
        }

        String baseModelName() {
            return baseModel != null ? baseModel : model.path().getFileName().toString();
        }

        public FineTuner build() {
            if (batchSize <= 0) {
                throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
            }
            if (gradAccum <= 0) {
                throw new IllegalArgumentException("gradient accumulation must be > 0, got " + gradAccum);
            }
            if (steps < 0 || !(epochs >= 0) || (steps == 0 && epochs == 0)) {
                throw new IllegalArgumentException("give steps > 0 or epochs > 0 (got steps " + steps + ", epochs " + epochs + ")");
            }
            if (!(learningRate > 0)) {
                throw new IllegalArgumentException("learning rate must be > 0, got " + learningRate);
            }
            if (!(maxGradNorm >= 0)) {
                throw new IllegalArgumentException("max gradient norm must be >= 0, got " + maxGradNorm);
            }
            if (checkpointDir != null && checkpointEvery <= 0) {
                throw new IllegalArgumentException("checkpoint-every must be > 0 when a checkpoint folder is given");
            }
            if (data.isEmpty()) {
                throw new IllegalArgumentException("the training data holds no examples");
            }
            return new FineTuner(this);
        }
    }

    /**
     * @param adapter      the trained adapter
     * @param metrics      one entry per optimizer step run by this call
     * @param truncatedIds examples cut to the maximum sequence length
     * @param noLossIds    examples with no response token left
     * @param totalSteps   the schedule's length
     */
    public record TrainingResult(PeftAdapter adapter, List<StepMetrics> metrics, List<String> truncatedIds,
                                 List<String> noLossIds, int totalSteps) {
        public Optional<StepMetrics> last() {
            return metrics.isEmpty() ? Optional.empty() : Optional.of(metrics.get(metrics.size() - 1));
        }
    }
}
