package ai.safetune.eval;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.Backends;
import ai.safetune.data.Message;
import ai.safetune.eval.judge.Judge;
import ai.safetune.generate.Generation;
import ai.safetune.generate.GenerationOptions;
import ai.safetune.generate.Generator;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.TokenBatch;
import ai.safetune.train.EvalMetrics;
import ai.safetune.train.PeftAdapter;
import ai.safetune.train.TrainingEvaluator;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Evaluation during training on this library's own forward pass: the base weights with the current adapter
 * applied (no merge, no export), greedy decoding, the same suites, judges and metrics as {@code safetune eval}.
 * Values are named {@code SUITE/METRIC} ({@code advbench/asr}, {@code xstest-safe/over_refusal},
 * {@code arc/accuracy}, ...). Owns its model copy and backend; close it after training.
 */
public final class JavaForwardEvaluator implements TrainingEvaluator, AutoCloseable {
    private final ModelConfig cfg;
    private final ModelWeights weights;
    private final ChatCodec codec;
    private final SuiteCatalog.Resolved suites;
    private final Judge judge;
    private final int maxNewTokens;
    private final int batchSize;
    private final long seed;
    private Backend backend;
    private final BackendOptions backendOptions;
    private LlamaModel model;

    /**
     * @param suites       what to evaluate (see {@link SuiteCatalog#resolve}); at least one suite
     * @param maxNewTokens generation budget per response
     * @param batchSize    prompts decoded (or options scored) together
     * @param seed         seed of the bootstrap confidence intervals
     */
    public JavaForwardEvaluator(ModelConfig cfg, ModelWeights weights, ChatCodec codec, SuiteCatalog.Resolved suites,
                                Judge judge, int maxNewTokens, int batchSize, long seed) {
        this(cfg, weights, codec, suites, judge, maxNewTokens, batchSize, seed, BackendOptions.defaults());
    }

    /** As above, on the backend {@code backendOptions} select (the trainer's, say). */
    public JavaForwardEvaluator(ModelConfig cfg, ModelWeights weights, ChatCodec codec, SuiteCatalog.Resolved suites,
                                Judge judge, int maxNewTokens, int batchSize, long seed, BackendOptions backendOptions) {
        this.backendOptions = Objects.requireNonNull(backendOptions, "backendOptions");
        this.cfg = Objects.requireNonNull(cfg, "config");
        this.weights = Objects.requireNonNull(weights, "weights");
        this.codec = Objects.requireNonNull(codec, "codec");
        this.suites = Objects.requireNonNull(suites, "suites");
        this.judge = Objects.requireNonNull(judge, "judge");
        if (suites.promptSets().isEmpty() && suites.tasks().isEmpty()) {
            throw new IllegalArgumentException("no evaluation suites given");
        }
        if (maxNewTokens <= 0 || batchSize <= 0) {
            throw new IllegalArgumentException("maxNewTokens and batchSize must be > 0, got " + maxNewTokens + " and " + batchSize);
        }
        this.maxNewTokens = maxNewTokens;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    private String describe() {
        return "java forward + adapter, greedy, " + maxNewTokens + " new tokens, judge " + judge.name();
    }

    @Override
    public EvalMetrics evaluate(int stepsDone, PeftAdapter adapter) {
        return new EvalMetrics(stepsDone - 1, describe(), values(run(adapter)), 0);
    }

    /** Every configured suite on the base model with {@code adapter} (null: the base model alone). */
    public List<SuiteResult> run(PeftAdapter adapter) {
        if (model == null) {
            backend = Backends.select(backendOptions);
            model = LlamaModel.load(cfg, weights, backend, false);
        }
        model.setAdapter(adapter == null ? null : adapter.weights());
        ResponseGenerator gen = new JavaGenerator();
        List<SuiteResult> out = new ArrayList<>();
        for (PromptSet set : suites.promptSets()) {
            out.add(SafetyEvaluation.run(set, gen, judge, seed));
        }
        for (SuiteCatalog.TaskSuite t : suites.tasks()) {
            out.add(t.generative() ? TaskEvaluation.generative(t.name(), t.examples(), gen, seed)
                    : TaskEvaluation.multipleChoice(t.name(), t.examples(), this::logLikelihoods, codec, batchSize, seed));
        }
        return out;
    }

    /** {@code SUITE/METRIC -> value} of suite results, in order. */
    public static Map<String, Double> values(List<SuiteResult> results) {
        Map<String, Double> v = new LinkedHashMap<>();
        for (SuiteResult r : results) {
            v.put(r.suite() + "/" + r.metric().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "_"), r.overall().value());
        }
        return v;
    }

    private final class JavaGenerator implements ResponseGenerator {
        @Override
        public String describe() {
            return JavaForwardEvaluator.this.describe();
        }

        @Override
        public List<String> respondChats(List<List<Message>> chats) {
            GenerationOptions opts = GenerationOptions.builder().maxNewTokens(maxNewTokens).greedy()
                    .stopTokenIds(codec.eosIds()).build();
            Generator g = new Generator(model, codec.padId(), codec::decode);
            List<String> out = new ArrayList<>(chats.size());
            for (int start = 0; start < chats.size(); start += batchSize) {
                List<int[]> ids = new ArrayList<>();
                for (List<Message> chat : chats.subList(start, Math.min(chats.size(), start + batchSize))) {
                    ids.add(codec.encodeChat(chat, true));
                }
                for (Generation gen : g.generate(ids, opts)) {
                    int[] t = gen.generatedIds();
                    int n = t.length > 0 && codec.eosIds().contains(t[t.length - 1]) ? t.length - 1 : t.length;
                    out.add(codec.decode(java.util.Arrays.copyOf(t, n)));
                }
            }
            return out;
        }
    }

    private double[] logLikelihoods(List<int[]> contexts, List<int[]> continuations, int batch) {
        int v = cfg.vocabSize();
        double[] out = new double[contexts.size()];
        for (int start = 0; start < contexts.size(); start += batch) {
            int end = Math.min(contexts.size(), start + batch);
            List<int[]> rows = new ArrayList<>();
            for (int i = start; i < end; i++) {
                int[] c = contexts.get(i);
                int[] k = continuations.get(i);
                if (c.length == 0 || k.length == 0) {
                    throw new IllegalArgumentException("item " + i + ": context and continuation must both be non-empty");
                }
                int[] all = java.util.Arrays.copyOf(c, c.length + k.length);
                System.arraycopy(k, 0, all, c.length, k.length);
                rows.add(all);
            }
            TokenBatch tb = TokenBatch.rightPadded(rows, codec.padId());
            float[] logits = model.logits(tb);
            int t = tb.length();
            for (int r = 0; r < rows.size(); r++) {
                int c = contexts.get(start + r).length;
                int[] k = continuations.get(start + r);
                double sum = 0;
                for (int j = 0; j < k.length; j++) {
                    sum += LogProbs.logSoftmaxAt(logits, (r * t + c - 1 + j) * v, v, k[j]);
                }
                out[start + r] = sum;
            }
        }
        return out;
    }

    @Override
    public void close() {
        if (model != null) {
            model.close();
            backend.close();
            model = null;
        }
    }
}
