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
            // a one-token context (nothing to cache) and a repeated context that is not adjacent
            ctx.add(new int[]{ctx.get(0)[0]});
            cont.add(cont.get(0));
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
            // without the head model beside it, the decoder graph's own scoring branch
            java.nio.file.Files.delete(LlamaOnnxExporter.headFile(onnx));
            try (OrtEvaluator ev = new OrtEvaluator(onnx, files.config(), codec.padId(), 2)) {
                for (int batch : new int[]{3, 64}) {
                    assertScores(ev.logLikelihoods(ctx, cont, batch), want, "in-graph, batch " + batch);
                }
            }
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
        List<int[]> ctx = List.of(new int[]{4, 9, 33}, new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50}, new int[]{3},
                new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50});
        List<int[]> cont = List.of(new int[]{2}, new int[]{7, 7, 50, 1}, new int[]{10, 11}, new int[]{9, 8},
                new int[]{5, 5}, new int[]{3});
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
}
