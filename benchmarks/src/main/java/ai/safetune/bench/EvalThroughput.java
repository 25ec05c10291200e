package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.BackendOptions;
import ai.safetune.backend.Backends;
import ai.safetune.data.Message;
import ai.safetune.data.PromptRecord;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import ai.safetune.eval.SuiteResult;
import ai.safetune.eval.TaskEvaluation;
import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.eval.onnx.Generation;
import ai.safetune.eval.onnx.GenerationConfig;
import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.model.KvCache;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Evaluation throughput, one engine per call so a script can run them side by side (see
 * {@code benchmarks/eval-throughput.sh}). Every line of output that starts with {@code RESULT} is
 * {@code RESULT <what> <engine> <count> <unit> <wall s> <process cpu s>}.
 *
 * <pre>
 * java -cp benchmarks.jar ai.safetune.bench.EvalThroughput gen ort|java SHARED N BATCH NEW_TOKENS THREADS
 * java -cp benchmarks.jar ai.safetune.bench.EvalThroughput score ort SHARED MODEL TASK N BATCH THREADS [in-graph] [PLAIN|ROTARY|GQA]
 * java -cp benchmarks.jar ai.safetune.bench.EvalThroughput gen-ab SHARED N BATCH NEW_TOKENS THREADS REPS PLAIN,GQA[,ROTARY]
 * </pre>
 * {@code gen}: batched greedy generation on the first N AdvBench prompts (chat template), exactly NEW_TOKENS
 * new tokens per prompt (no EOS stop) so every engine does the same work; one untimed warm-up batch first.
 * {@code score}: log-likelihood of every option of the first N examples of a shared multiple-choice task
 * (choices/s), through {@link TaskEvaluation#multipleChoice}, i.e. exactly what {@code safetune eval} runs;
 * {@code in-graph} scores inside the decoder graph instead of with the head model beside it (A/B).
 * {@code gen-ab}: the ORT generation run of {@code gen} for several {@link LlamaOnnxExporter.Attention} exports in
 * one process, sessions open side by side, REPS rounds with the order rotated each round (A/B on a shared box:
 * compare the per-CPU-second column).
 */
public final class EvalThroughput {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("gen-ab")) {
            genAb(Path.of(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5]), Integer.parseInt(args[6]), args[7].split(","));
            return;
        }
        if (args.length > 0 && args[0].equals("score")) {
            List<String> opts = List.of(args).subList(Math.min(8, args.length), args.length);
            LlamaOnnxExporter.Attention att = null; // LlamaOnnxExporter.fastest, what safetune eval exports
            for (String o : opts) {
                if (!o.equals("in-graph")) {
                    att = LlamaOnnxExporter.Attention.valueOf(o);
                }
            }
            score(Path.of(args[2]), Path.of(args[3]), args[4], Integer.parseInt(args[5]), Integer.parseInt(args[6]),
                    Integer.parseInt(args[7]), opts.contains("in-graph"), att);
            return;
        }
        if (args.length < 7 || !args[0].equals("gen")) {
            throw new IllegalArgumentException("usage: gen ort|java SHARED N BATCH NEW_TOKENS THREADS | "
                    + "score ort SHARED MODEL TASK N BATCH THREADS");
        }
        String engine = args[1];
        Path shared = Path.of(args[2]);
        int n = Integer.parseInt(args[3]);
        int batch = Integer.parseInt(args[4]);
        int newTokens = Integer.parseInt(args[5]);
        int threads = Integer.parseInt(args[6]);
        List<PromptRecord> adv = SharedDatasets.advbench(shared.resolve("data"));
        if (n > adv.size()) {
            throw new IllegalArgumentException("AdvBench has " + adv.size() + " prompts, asked for " + n);
        }
        try (ModelFiles files = ModelFiles.open(shared.resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"))) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            List<int[]> prompts = new ArrayList<>();
            for (PromptRecord p : adv.subList(0, n)) {
                prompts.add(codec.encodeChat(List.of(Message.user(p.prompt())), true));
            }
            switch (engine) {
                case "ort" -> genOrt(files, codec, prompts, batch, newTokens, threads);
                case "java" -> genJava(files, codec, prompts, batch, newTokens, threads);
                default -> throw new IllegalArgumentException("engine must be ort or java, got " + engine);
            }
        }
    }

    private static void genOrt(ModelFiles files, TokenizerChatCodec codec, List<int[]> prompts, int batch, int newTokens,
                               int threads) throws Exception {
        Path dir = Files.createTempDirectory("bench-ort");
        // the variant safetune eval exports
        LlamaOnnxExporter.Attention attention = LlamaOnnxExporter.fastest(files.config());
        LlamaOnnxExporter.Precision precision = LlamaOnnxExporter.Precision.valueOf(System.getProperty("safetune.bench.precision", "FP32"));
        Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve("m.onnx"), attention, precision);
        try (OrtEvaluator ort = new OrtEvaluator(onnx, files.config(), codec.padId(), threads)) {
            GenerationConfig gc = GenerationConfig.greedy(newTokens, Set.of()).withBatchSize(batch);
            ort.generate(prompts.subList(0, Math.min(batch, prompts.size())), gc, null); // warm-up
            long c0 = OS.getProcessCpuTime();
            long t0 = System.nanoTime();
            List<Generation> g = ort.generate(prompts, gc, null);
            long tokens = g.stream().mapToLong(x -> x.generatedIds().length).sum();
            result("gen", "onnxruntime-" + precision.name().toLowerCase(java.util.Locale.ROOT) + "-" + attention, tokens, "new_tokens", t0, c0);
        } finally {
            Files.deleteIfExists(onnx);
            Files.deleteIfExists(LlamaOnnxExporter.headFile(onnx));
            Files.deleteIfExists(dir);
        }
    }

    private static void genAb(Path shared, int n, int batch, int newTokens, int threads, int reps, String[] variants)
            throws Exception {
        List<PromptRecord> adv = SharedDatasets.advbench(shared.resolve("data"));
        Path dir = Files.createTempDirectory("bench-ort-ab");
        List<OrtEvaluator> evs = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        try (ModelFiles mf = ModelFiles.open(shared.resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"))) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(mf);
            List<int[]> prompts = new ArrayList<>();
            for (PromptRecord p : adv.subList(0, n)) {
                prompts.add(codec.encodeChat(List.of(Message.user(p.prompt())), true));
            }
            GenerationConfig gc = GenerationConfig.greedy(newTokens, Set.of()).withBatchSize(batch);
            List<List<Generation>> outputs = new ArrayList<>();
            for (String v : variants) {
                // GQA-copy: the GQA export with a fresh present cache per step (no in-place append)
                boolean copy = v.endsWith("-copy");
                LlamaOnnxExporter.Attention a = LlamaOnnxExporter.Attention.valueOf(copy ? v.substring(0, v.length() - 5) : v);
                Path onnx = LlamaOnnxExporter.export(mf.config(), mf.weights(), dir.resolve(v + ".onnx"), a);
                files.add(onnx);
                System.setProperty("safetune.ort.inPlaceKv", String.valueOf(!copy));
                OrtEvaluator ev = new OrtEvaluator(onnx, mf.config(), codec.padId(), threads);
                System.clearProperty("safetune.ort.inPlaceKv");
                evs.add(ev);
                outputs.add(ev.generate(prompts.subList(0, Math.min(batch, prompts.size())), gc, null)); // warm-up
            }
            // same greedy tokens from every variant on the warm-up batch (ties aside): a cheap sanity check
            for (int i = 1; i < variants.length; i++) {
                int same = 0;
                int total = 0;
                for (int r = 0; r < outputs.get(0).size(); r++) {
                    int[] a = outputs.get(0).get(r).generatedIds();
                    int[] b = outputs.get(i).get(r).generatedIds();
                    for (int j = 0; j < Math.min(a.length, b.length); j++) {
                        total++;
                        if (a[j] != b[j]) {
                            break;
                        }
                        same++;
                    }
                }
                System.out.printf(Locale.ROOT, "  %s vs %s: %d of %d warm-up tokens equal up to the first difference per row%n",
                        variants[i], variants[0], same, total);
            }
            for (int round = 0; round < reps; round++) {
                for (int j = 0; j < variants.length; j++) {
                    int i = (j + round) % variants.length;
                    long c0 = OS.getProcessCpuTime();
                    long t0 = System.nanoTime();
                    List<Generation> g = evs.get(i).generate(prompts, gc, null);
                    long tokens = g.stream().mapToLong(x -> x.generatedIds().length).sum();
                    result("gen", "onnxruntime-fp32-" + variants[i], tokens, "new_tokens", t0, c0);
                }
            }
        } finally {
            for (OrtEvaluator ev : evs) {
                ev.close();
            }
            for (Path f : files) {
                Files.deleteIfExists(f);
                Files.deleteIfExists(LlamaOnnxExporter.headFile(f));
            }
            Files.deleteIfExists(dir);
        }
    }

    private static void genJava(ModelFiles files, TokenizerChatCodec codec, List<int[]> prompts, int batch, int newTokens,
                                int threads) {
        try (Backend be = Backends.select(new BackendOptions(threads));
             LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, true)) {
            runJava(m, codec, prompts.subList(0, Math.min(batch, prompts.size())), batch, Math.min(4, newTokens)); // warm-up
            long c0 = OS.getProcessCpuTime();
            long t0 = System.nanoTime();
            long tokens = runJava(m, codec, prompts, batch, newTokens);
            result("gen", "java-forward-fp32", tokens, "new_tokens", t0, c0);
        }
    }

    private static long runJava(LlamaModel m, TokenizerChatCodec codec, List<int[]> prompts, int batch, int newTokens) {
        long tokens = 0;
        int v = m.config().vocabSize();
        int n = prompts.size();
        for (int start = 0; start < n; start += batch) {
            List<int[]> rows = prompts.subList(start, Math.min(n, start + batch));
            TokenBatch tb = TokenBatch.leftPadded(rows, codec.padId());
            try (KvCache cache = m.newCache(rows.size(), tb.length() + newTokens)) {
                float[] logits = m.forward(cache, tb, LlamaModel.Logits.LAST);
                for (int step = 0; step < newTokens; step++) {
                    int b = rows.size();
                    int[] ids = new int[b];
                    int[] pos = new int[b];
                    int[] mask = new int[b];
                    for (int r = 0; r < b; r++) {
                        int best = 0;
                        for (int j = 1; j < v; j++) {
                            if (logits[r * v + j] > logits[r * v + best]) {
                                best = j;
                            }
                        }
                        ids[r] = best;
                        pos[r] = cache.nextPosition(r);
                        mask[r] = 1;
                    }
                    tokens += b;
                    if (step + 1 < newTokens) {
                        logits = m.forward(cache, new TokenBatch(b, 1, ids, pos, mask), LlamaModel.Logits.LAST);
                    }
                }
            }
        }
        return tokens;
    }

    private static void score(Path shared, Path model, String task, int n, int batch, int threads, boolean inGraph,
                              LlamaOnnxExporter.Attention attention) throws Exception {
        List<TaskExample> all = SharedDatasets.task(shared.resolve("data"), task);
        List<TaskExample> ex = all.subList(0, Math.min(n, all.size()));
        long choices = ex.stream().mapToLong(e -> e.choices().size()).sum();
        try (ModelFiles files = ModelFiles.open(model)) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            Path dir = Files.createTempDirectory("bench-score");
            if (attention == null) {
                attention = LlamaOnnxExporter.fastest(files.config());
            }
            Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve("m.onnx"), attention);
            if (inGraph) { // A/B: score inside the decoder graph instead of the chunked head model
                Files.delete(LlamaOnnxExporter.headFile(onnx));
            }
            try (OrtEvaluator ort = new OrtEvaluator(onnx, files.config(), codec.padId(), threads)) {
                TaskEvaluation.multipleChoice(task, ex.subList(0, Math.min(8, ex.size())), ort, codec, batch, 0); // warm-up
                long c0 = OS.getProcessCpuTime();
                long t0 = System.nanoTime();
                SuiteResult r = TaskEvaluation.multipleChoice(task, ex, ort, codec, batch, 0);
                String engine = (inGraph ? "onnxruntime-fp32-in-graph-head" : "onnxruntime-fp32")
                        + "-" + attention;
                result("score:" + task + ":" + model.getFileName(), engine, choices, "choices", t0, c0);
                System.out.printf(Locale.ROOT, "  (%s accuracy %.3f over %d examples)%n", task, r.overall().value(), ex.size());
                // the log-likelihoods alone (no prompt rendering, no bootstrap CIs): what the ≥ 2,000 choices/s goal is about
                List<int[]> ctx = new ArrayList<>();
                List<int[]> cont = new ArrayList<>();
                for (TaskExample e : ex) {
                    int[] c = codec.encodeChat(List.of(Message.user(TaskEvaluation.userPrompt(e))), true);
                    for (ai.safetune.data.Choice ch : e.choices()) {
                        ctx.add(c);
                        cont.add(codec.encode(ch.text().isEmpty() ? ch.label() : ch.text()));
                    }
                }
                c0 = OS.getProcessCpuTime();
                t0 = System.nanoTime();
                ort.logLikelihoods(ctx, cont, batch);
                result("loglik:" + task + ":" + model.getFileName(), engine, choices, "choices", t0, c0);
            } finally {
                Files.deleteIfExists(onnx);
                Files.deleteIfExists(LlamaOnnxExporter.headFile(onnx));
                Files.deleteIfExists(dir);
            }
        }
    }

    private static void result(String what, String engine, long count, String unit, long t0, long c0) {
        double wall = (System.nanoTime() - t0) / 1e9;
        double cpu = (OS.getProcessCpuTime() - c0) / 1e9;
        System.out.printf(Locale.ROOT, "RESULT %s %s %d %s %.2f %.2f%n", what, engine, count, unit, wall, cpu);
    }
}
