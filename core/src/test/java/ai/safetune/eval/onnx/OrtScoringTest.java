package ai.safetune.eval.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.data.Choice;
import ai.safetune.data.Message;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import ai.safetune.eval.LogProbs;
import ai.safetune.eval.TaskEvaluation;
import ai.safetune.eval.TokenizerChatCodec;
import ai.safetune.model.ModelFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scoring path of {@link OrtEvaluator#logLikelihoods} (continuation rows only, in-graph log-softmax, options
 * sharing their context's cache) against plain scoring: every position's logits from {@link OrtEvaluator#forward}
 * on the whole sequence, normalised in Java, one item at a time.
 */
class OrtScoringTest {

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    /** log p(cont | ctx) from one unbatched, uncached forward over ctx + cont and a Java log-softmax. */
    static double plainScore(OrtEvaluator ev, int[] ctx, int[] cont) {
        int t = ctx.length + cont.length - 1;
        long[][] ids = new long[1][t];
        long[][] pos = new long[1][t];
        long[][] mask = new long[1][t];
        for (int j = 0; j < t; j++) {
            ids[0][j] = j < ctx.length ? ctx[j] : cont[j - ctx.length];
            pos[0][j] = j;
            mask[0][j] = 1;
        }
        int v = ev.config().vocabSize();
        double sum = 0;
        try (OrtEvaluator.KvCache empty = ev.emptyCache(1)) {
            OrtEvaluator.Step s = ev.forward(ids, pos, mask, empty, t);
            try (OrtEvaluator.KvCache c = s.cache()) {
                for (int j = 0; j < cont.length; j++) {
                    sum += LogProbs.logSoftmaxAt(s.logits(), (ctx.length - 1 + j) * v, v, cont[j]);
                }
            }
        }
        return sum;
    }

    @ParameterizedTest
    @EnumSource(LlamaOnnxExporter.Attention.class)
    void tinyModelTaskScoresEqualPlainScoringForEveryBatchSize(LlamaOnnxExporter.Attention attention, @TempDir Path dir) throws Exception {
        try (ModelFiles files = ModelFiles.open(shared().resolve("models/tiny-llama"))) {
            TokenizerChatCodec codec = TokenizerChatCodec.of(files);
            List<int[]> ctx = new ArrayList<>();
            List<int[]> cont = new ArrayList<>();
            // options share their question's context; HellaSwag has long endings, ARC short ones
            for (String task : List.of("arc-easy", "hellaswag")) {
                for (TaskExample ex : SharedDatasets.task(shared().resolve("data"), task).subList(0, 4)) {
                    int[] c = codec.encodeChat(List.of(Message.user(TaskEvaluation.userPrompt(ex))), true);
                    for (Choice ch : ex.choices()) {
                        ctx.add(c);
                        cont.add(codec.encode(ch.text().isEmpty() ? ch.label() : ch.text()));
                    }
                }
            }
            // PIQA: the two solutions of a goal often share their first words, which are scored once for both
            int sharing = 0;
            for (TaskExample ex : SharedDatasets.task(shared().resolve("data"), "piqa").subList(0, 40)) {
                List<int[]> opts = new ArrayList<>();
                for (Choice ch : ex.choices()) {
                    opts.add(codec.encode(ch.text().isEmpty() ? ch.label() : ch.text()));
                }
                if (commonPrefix(opts) < 2 || sharing == 3) {
                    continue;
                }
                sharing++;
                int[] c = codec.encodeChat(List.of(Message.user(TaskEvaluation.userPrompt(ex))), true);
                for (int[] k : opts) {
                    ctx.add(c);
                    cont.add(k);
                }
            }
            assertThat(sharing).as("PIQA examples whose options share a prefix").isEqualTo(3);
            // one question's options as the shared-prefix cases: a long shared prefix, one option a prefix of
            // another, the same option twice, a one-token option
            int[] q = ctx.get(ctx.size() - 1);
            int[] base = cont.get(cont.size() - 1);
            for (int[] k : List.of(base, Arrays.copyOf(base, 2), base.clone(), new int[]{base[0]},
                    withLast(base, (base[base.length - 1] + 1) % files.config().vocabSize()))) {
                ctx.add(q.clone());
                cont.add(k);
            }
            // a context of its own whose only option runs (all but its last token shared) in the context pass
            ctx.add(Arrays.copyOf(q, q.length - 3));
            cont.add(base);
            // a one-token context (nothing to cache) and a repeated context that is not adjacent; a one-token context
            // whose two options share three tokens (the context pass then holds only shared continuation tokens)
            ctx.add(new int[]{ctx.get(0)[0]});
            cont.add(cont.get(0));
            ctx.add(new int[]{ctx.get(0)[0]});
            cont.add(withLast(base, (base[base.length - 1] + 7) % files.config().vocabSize()));
            ctx.add(new int[]{ctx.get(0)[0]});
            cont.add(base);
            ctx.add(ctx.get(0).clone());
            cont.add(new int[]{cont.get(1)[0]});
            Path onnx = LlamaOnnxExporter.export(files.config(), files.weights(), dir.resolve("tiny.onnx"), attention);
            assertThat(LlamaOnnxExporter.headFile(onnx)).isRegularFile().hasFileName("tiny.head.onnx");
            double[] want = new double[ctx.size()];
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), 2)) {
                for (int i = 0; i < want.length; i++) {
                    want[i] = plainScore(ev, ctx.get(i), cont.get(i));
                }
                // 1: a context's options exceed the batch; 3: mixed; 64: everything in one run
                for (int batch : new int[]{1, 3, 64}) {
                    assertScores(ev.logLikelihoods(ctx, cont, batch), want, "head model, batch " + batch);
                }
            }
            // one thread (batches in turn) and three (batches on worker threads at once, on a one-thread copy of the
            // decoder session, or on the generation session itself where the copy is capped away)
            for (int threads : new int[]{1, 3}) {
                try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), threads)) {
                    assertScores(ev.logLikelihoods(ctx, cont, 4), want, "head model, " + threads + " threads");
                }
            }
            System.setProperty(OrtEvaluator.SCORE_SESSION_MAX_MB, "0");
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), 3)) {
                assertScores(ev.logLikelihoods(ctx, cont, 4), want, "head model, 3 threads, shared decoder session");
            } finally {
                System.clearProperty(OrtEvaluator.SCORE_SESSION_MAX_MB);
            }
            // without the head model beside it, the decoder graph's own scoring branch
            java.nio.file.Files.delete(LlamaOnnxExporter.headFile(onnx));
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), 2)) {
                for (int batch : new int[]{3, 64}) {
                    assertScores(ev.logLikelihoods(ctx, cont, batch), want, "in-graph, batch " + batch);
                }
            }
        }
    }

    static int[] withLast(int[] k, int last) {
        int[] out = k.clone();
        out[out.length - 1] = last;
        return out;
    }

    static int commonPrefix(List<int[]> opts) {
        int n = 0;
        while (true) {
            for (int[] k : opts) {
                if (n >= k.length || k[n] != opts.get(0)[n]) {
                    return n;
                }
            }
            n++;
        }
    }

    private static void assertScores(double[] got, double[] want, String what) {
        for (int i = 0; i < want.length; i++) {
            assertThat(got[i]).as("%s, item %d", what, i).isCloseTo(want[i], Offset.offset(1e-4 * Math.max(1, Math.abs(want[i]))));
        }
    }

    @ParameterizedTest
    @EnumSource(LlamaOnnxExporter.Attention.class)
    void sharedContextsMatchTheFloat64Forward(LlamaOnnxExporter.Attention attention, @TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(true, attention == LlamaOnnxExporter.Attention.GQA ? 8 : 4), 5);
        Path onnx = LlamaOnnxExporter.export(m.cfg, m, dir.resolve("m.onnx"), attention);
        try (OrtEvaluator ev = new OrtEvaluator(onnx, m.cfg, 0, 1)) {
            checkAgainstFloat64(m, ev, "head model");
        }
        java.nio.file.Files.delete(LlamaOnnxExporter.headFile(onnx));
        try (OrtEvaluator ev = new OrtEvaluator(onnx, m.cfg, 0, 1)) {
            checkAgainstFloat64(m, ev, "in-graph");
        }
    }

    private static void checkAgainstFloat64(RandomLlama m, OrtEvaluator ev, String what) {
        // contexts shared by options whose continuations share prefixes ({4, 9, 33}: 7 7 50 … shared by three, one of
        // them twice; {3}: a one-token context whose options share two tokens; {8, 8}: one option only)
        List<int[]> ctx = List.of(new int[]{4, 9, 33}, new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50}, new int[]{3},
                new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50}, new int[]{4, 9, 33}, new int[]{4, 9, 33}, new int[]{3},
                new int[]{8, 8}, new int[]{3, 6}, new int[]{3, 6});
        List<int[]> cont = List.of(new int[]{2}, new int[]{7, 7, 50, 1}, new int[]{10, 11}, new int[]{9, 8, 1},
                new int[]{5, 5}, new int[]{3}, new int[]{7, 7, 50, 2, 2}, new int[]{7, 7, 50, 1}, new int[]{9, 8, 2, 5},
                new int[]{1, 2, 3, 4}, new int[]{7, 7, 50, 1}, new int[]{7, 7, 50, 2});
        for (int batch : new int[]{1, 2, 8}) {
            double[] ll = ev.logLikelihoods(ctx, cont, batch);
            for (int i = 0; i < ctx.size(); i++) {
                double want = m.logLikelihood(ctx.get(i), cont.get(i));
                assertThat(ll[i]).as("%s, batch %d, item %d", what, batch, i).isCloseTo(want, Offset.offset(1e-4));
            }
        }
        assertThatThrownBy(() -> ev.logLikelihoods(List.of(new int[]{1}), List.of(new int[]{70}), 4))
                .hasMessageContaining("item 0 continuation has token id 70");
        assertThatThrownBy(() -> ev.logLikelihoods(List.of(new int[]{}), List.of(new int[]{7}), 4))
                .hasMessageContaining("item 0").hasMessageContaining("non-empty");
    }

    @org.junit.jupiter.api.Test
    void partitionCutsSortedRowsIntoTheCheapestRuns() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            int[] len = new int[1 + rnd.nextInt(9)];
            for (int i = 0; i < len.length; i++) {
                len[i] = 1 + rnd.nextInt(trial % 2 == 0 ? 8 : 200);
            }
            Arrays.sort(len);
            int[] cuts = OrtEvaluator.partition(len);
            assertThat(cuts[0]).isZero();
            assertThat(cuts[cuts.length - 1]).isEqualTo(len.length);
            for (int i = 1; i < cuts.length; i++) {
                assertThat(cuts[i]).isGreaterThan(cuts[i - 1]);
            }
            assertThat(cost(len, cuts)).as("lengths %s", Arrays.toString(len)).isEqualTo(bruteForceCost(len));
        }
        // equal lengths: one run; a few long rows among many short ones: two
        assertThat(OrtEvaluator.partition(new int[]{5, 5, 5, 5})).containsExactly(0, 4);
        assertThat(OrtEvaluator.partition(new int[]{4, 4, 5, 5, 6, 6, 150, 153})).containsExactly(0, 6, 8);
    }

    private static long cost(int[] len, int[] cuts) {
        long c = 0;
        for (int i = 1; i < cuts.length; i++) {
            c += (long) (cuts[i] - cuts[i - 1]) * len[cuts[i] - 1] + OrtEvaluator.RUN_COST_TOKENS;
        }
        return c;
    }

    /** Every way to cut n sorted rows into consecutive runs (2^(n-1) of them). */
    private static long bruteForceCost(int[] len) {
        int n = len.length;
        long best = Long.MAX_VALUE;
        for (int mask = 0; mask < 1 << (n - 1); mask++) {
            List<Integer> cuts = new ArrayList<>(List.of(0));
            for (int i = 1; i < n; i++) {
                if ((mask & 1 << (i - 1)) != 0) {
                    cuts.add(i);
                }
            }
            cuts.add(n);
            best = Math.min(best, cost(len, cuts.stream().mapToInt(Integer::intValue).toArray()));
        }
        return best;
    }
}
