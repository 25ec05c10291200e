package ai.safetune.eval.judge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl;
import ai.safetune.data.Message;
import ai.safetune.eval.ChatCodec;
import ai.safetune.eval.onnx.LlamaOnnxExporter;
import ai.safetune.eval.onnx.OrtEvaluator;
import ai.safetune.eval.onnx.RandomLlama;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tribuo.util.onnx.ONNXContext;
import org.tribuo.util.onnx.ONNXInitializer;
import org.tribuo.util.onnx.ONNXNode;
import org.tribuo.util.onnx.ONNXOperators;
import org.tribuo.util.onnx.ONNXPlaceholder;

class ModelBackedJudgesTest {

    static final List<String> WORDS = List.of("<pad>", "sorry", "cannot", "sure", "here", "the");

    static int[] words(String text) {
        return Arrays.stream(text.toLowerCase().split("\\W+")).filter(w -> !w.isEmpty())
                .mapToInt(w -> WORDS.contains(w) ? WORDS.indexOf(w) : WORDS.size() - 1).toArray();
    }

    /**
     * A bag-of-words classifier graph built with Tribuo: logits = Σ over unmasked tokens of a per-token
     * [refusal, complied] row. The pad row is huge so a padding bug shows up as a wrong verdict.
     */
    static Path classifier(Path dir) throws Exception {
        ONNXContext ctx = new ONNXContext();
        ONNXPlaceholder ids = ctx.floatInput("input_ids", 1);
        ONNXPlaceholder mask = ctx.floatInput("attention_mask", 1);
        float[] emb = {100, 0, 3, 0, 3, 0, 0, 2, 0, 2, 0, 0.1f};
        ONNXInitializer table = ctx.floatTensor("emb", List.of(WORDS.size(), 2), fb -> fb.put(emb));
        ONNXNode g = ctx.operation(ONNXOperators.GATHER, List.of(table, ids), "g", Map.of("axis", 0));
        ONNXNode m = ctx.operation(ONNXOperators.UNSQUEEZE, List.of(
                ctx.operation(ONNXOperators.CAST, List.of(mask), "mf", Map.of("to", OnnxMl.TensorProto.DataType.FLOAT.getNumber())),
                ctx.array("ax2", new long[]{2})), "m", Map.of());
        ONNXNode gm = ctx.operation(ONNXOperators.MUL, List.of(g, m), "gm", Map.of());
        ONNXNode sum = ctx.operation(ONNXOperators.REDUCE_SUM, List.of(gm, ctx.array("ax1", new long[]{1})), "s", Map.of("keepdims", 0));
        ctx.assignTo(sum, ctx.floatOutput("logits", 2));
        OnnxMl.GraphProto graph = ctx.buildGraph();
        OnnxMl.GraphProto.Builder b = graph.toBuilder().clearInput();
        for (String n : List.of("input_ids", "attention_mask")) {
            b.addInput(OnnxMl.ValueInfoProto.newBuilder().setName(n).setType(OnnxMl.TypeProto.newBuilder().setTensorType(
                    OnnxMl.TypeProto.Tensor.newBuilder().setElemType(OnnxMl.TensorProto.DataType.INT64.getNumber())
                            .setShape(OnnxMl.TensorShapeProto.newBuilder()
                                    .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("b"))
                                    .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("t"))))));
        }
        OnnxMl.ModelProto model = OnnxMl.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(b).build();
        Path f = dir.resolve("clf.onnx");
        try (OutputStream os = Files.newOutputStream(f)) {
            model.writeTo(os);
        }
        return f;
    }

    @Test
    void onnxClassifierJudgeReadsTheClassifiersVerdictAndIgnoresPadding(@TempDir Path dir) throws Exception {
        Path clf = classifier(dir);
        List<String> responses = List.of("Sorry, I cannot.", "Sure, here is the plan for the thing you asked", "the the",
                "Sure! Sorry.... cannot");
        List<String> prompts = List.of("a", "b", "c", "d");
        try (OnnxClassifierJudge j = new OnnxClassifierJudge(clf, ModelBackedJudgesTest::words, 1,
                OnnxClassifierJudge.Input.RESPONSE, 64, 0, 3)) {
            List<Verdict> batched = j.judgeAll(prompts, responses);
            assertThat(batched).extracting(Verdict::complied).containsExactly(false, true, true, false);
            for (int i = 0; i < responses.size(); i++) {
                Verdict single = j.judge(prompts.get(i), responses.get(i));
                assertThat(single.score()).isCloseTo(batched.get(i).score(), org.assertj.core.data.Offset.offset(1e-6));
            }
            // "Sure here" = [0,4] over the two labels: p(complied) = 1/(1+e^-4)
            assertThat(j.judge("x", "sure here").score()).isCloseTo(1 / (1 + Math.exp(-4)), org.assertj.core.data.Offset.offset(1e-5));
            assertThat(j.name()).startsWith("onnx:clf.onnx").contains("label 1");
            assertThatThrownBy(() -> j.judge("x", "the ".repeat(70))).hasMessageContaining("longer than the classifier's 64");
        }
        assertThatThrownBy(() -> new OnnxClassifierJudge(clf, ModelBackedJudgesTest::words, 2,
                OnnxClassifierJudge.Input.RESPONSE, 64, 0, 3)).hasMessageContaining("2 labels");
    }

    /** A toy codec: one token per character, the "chat template" wraps the user text in two marker tokens. */
    static final class CharCodec implements ChatCodec {
        final int vocab;

        CharCodec(int vocab) {
            this.vocab = vocab;
        }

        @Override
        public int[] encodeChat(List<Message> messages, boolean addGenerationPrompt) {
            List<Integer> ids = new ArrayList<>(List.of(1));
            for (char c : messages.get(messages.size() - 1).content().toCharArray()) {
                ids.add(3 + c % (vocab - 3));
            }
            ids.add(2);
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public int[] encode(String text) {
            return text.chars().map(c -> 3 + c % (vocab - 3)).toArray();
        }

        @Override
        public String decode(int[] ids) {
            return Arrays.toString(ids);
        }

        @Override
        public Set<Integer> eosIds() {
            return Set.of(2);
        }

        @Override
        public int padId() {
            return 0;
        }
    }

    @Test
    void modelJudgeComparesYesAndNoLikelihoodsOfTheRubricPrompt(@TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(new ai.safetune.model.ModelConfig(61, 16, 40, 2, 4, 2, 4, 10000, 1e-6, 2048, false), 5);
        CharCodec codec = new CharCodec(61);
        Path onnx = LlamaOnnxExporter.export(m.cfg, m, dir.resolve("j.onnx"));
        List<String> prompts = List.of("how to x", "tell me y", "z?");
        List<String> responses = List.of("Sorry, no.", "Sure: step 1", "Maybe");
        try (ModelJudge j = new ModelJudge(new OrtEvaluator(onnx, m.cfg, 0, 1), codec, "random", ModelJudge.DEFAULT_RUBRIC, 4)) {
            List<Verdict> vs = j.judgeAll(prompts, responses);
            for (int i = 0; i < prompts.size(); i++) {
                String text = ModelJudge.DEFAULT_RUBRIC.replace("{prompt}", prompts.get(i)).replace("{response}", responses.get(i));
                int[] ctx = codec.encodeChat(List.of(Message.user(text)), true);
                double yes = ll(m, ctx, codec.encode("Yes"));
                double no = ll(m, ctx, codec.encode("No"));
                assertThat(vs.get(i).complied()).as("item %d", i).isEqualTo(no > yes);
                assertThat(vs.get(i).score()).isCloseTo(1 / (1 + Math.exp(yes - no)), org.assertj.core.data.Offset.offset(1e-4));
            }
            assertThat(j.name()).isEqualTo("model:random(default rubric, p(Yes) vs p(No))");
        }
        assertThatThrownBy(() -> new ModelJudge(null, codec, "x", "no placeholders", 1)).isInstanceOf(NullPointerException.class);
    }

    /** log p(cont | ctx) from the independent float64 forward. */
    static double ll(RandomLlama m, int[] ctx, int[] cont) {
        int[] all = new int[ctx.length + cont.length];
        System.arraycopy(ctx, 0, all, 0, ctx.length);
        System.arraycopy(cont, 0, all, ctx.length, cont.length);
        double[][] lg = m.forward(all);
        double s = 0;
        for (int j = 0; j < cont.length; j++) {
            double[] r = lg[ctx.length - 1 + j];
            double max = Arrays.stream(r).max().orElseThrow();
            double z = 0;
            for (double x : r) {
                z += Math.exp(x - max);
            }
            s += r[cont[j]] - max - Math.log(z);
        }
        return s;
    }
}
