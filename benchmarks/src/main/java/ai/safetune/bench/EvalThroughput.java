package ai.safetune.bench;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Backends;
import ai.safetune.data.Message;
import ai.safetune.data.PromptRecord;
import ai.safetune.data.SharedDatasets;
import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.eval.onnx.Generation;
import ai.safetune.eval.onnx.GenerationConfig;
import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.model.KvCache;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenBatch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Batched greedy generation throughput (new tokens/s) on the first N AdvBench prompts, side by side in one
 * run: ONNX Runtime (the exported fp32 graph) vs the Java forward pass (dequantized fp32, KV cache).
 * Every row generates exactly {@code newTokens} tokens (no EOS stop) so both sides do the same work.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar ai.safetune.bench.EvalThroughput ../shared 64 16 64 [java]</pre>
 */
public final class EvalThroughput {
    public static void main(String[] args) throws Exception {
        Path shared = Path.of(args.length > 0 ? args[0] : "../shared");
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        int newTokens = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        boolean withJava = args.length > 4 && args[4].equals("java");
        List<PromptRecord> adv = SharedDatasets.advbench(shared.resolve("data")).subList(0, n);
        try (ModelFiles files = ModelFiles.open(shared.resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf"))) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            List<int[]> prompts = new ArrayList<>();
            for (PromptRecord p : adv) {
                prompts.add(codec.encodeChat(List.of(Message.user(p.prompt())), true));
            }
            Path dir = Files.createTempDirectory("bench-ort");
            Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve("m.onnx"));
            try (OrtEvaluator ort = new OrtEvaluator(onnx, files.config(), codec.padId(), 0)) {
                GenerationConfig gc = GenerationConfig.greedy(newTokens, java.util.Set.of()).withBatchSize(batch);
                ort.generate(prompts.subList(0, Math.min(batch, n)), gc.withBatchSize(batch), null); // warm-up
                long t0 = System.nanoTime();
                List<Generation> g = ort.generate(prompts, gc, null);
                double s = (System.nanoTime() - t0) / 1e9;
                long tokens = g.stream().mapToLong(x -> x.generatedIds().length).sum();
                System.out.printf(Locale.ROOT, "onnxruntime fp32: %d prompts x %d new tokens, batch %d: %.1f s, %.1f new tokens/s%n",
                        n, newTokens, batch, s, tokens / s);
            } finally {
                Files.deleteIfExists(onnx);
                Files.deleteIfExists(dir);
            }
            if (withJava) {
                try (Backend be = Backends.select();
                     LlamaModel m = LlamaModel.load(files.config(), files.weights(), be, true)) {
                    long t0 = System.nanoTime();
                    long tokens = 0;
                    int v = files.config().vocabSize();
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
                    double s = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "java forward fp32 (%s): %d prompts x %d new tokens, batch %d: %.1f s, %.1f new tokens/s%n",
                            be.getClass().getSimpleName(), n, newTokens, batch, s, tokens / s);
                }
            }
        }
    }
}
