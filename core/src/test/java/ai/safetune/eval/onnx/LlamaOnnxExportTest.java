package ai.safetune.eval.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** The exported graph on ONNX Runtime against an independent float64 forward of the same random weights. */
class LlamaOnnxExportTest {

    static final double TOL = 1e-4;

    static OrtEvaluator export(RandomLlama m, Path dir) throws Exception {
        return export(m, dir, LlamaOnnxExporter.Attention.PLAIN);
    }

    static OrtEvaluator export(RandomLlama m, Path dir, LlamaOnnxExporter.Attention attention) throws Exception {
        Path f = LlamaOnnxExporter.export(m.cfg, m, dir.resolve("m.onnx"), attention);
        return new OrtEvaluator(f, m.cfg, 0, 1);
    }

    static long[][] row(long... v) {
        return new long[][]{v};
    }

    static long[] range(int from, int to) {
        long[] r = new long[to - from];
        for (int i = 0; i < r.length; i++) {
            r[i] = from + i;
        }
        return r;
    }

    static long[] ones(int n) {
        long[] r = new long[n];
        java.util.Arrays.fill(r, 1);
        return r;
    }

    @ParameterizedTest(name = "tied={0} {1} headDim={2}")
    @CsvSource({"false, PLAIN, 4", "true, PLAIN, 4", "false, PLAIN, 8", "false, ROTARY, 4", "true, ROTARY, 8", "true, GQA, 8", "false, GQA, 8"})
    void prefillAndCachedDecodeMatchFullRecompute(boolean tied, LlamaOnnxExporter.Attention attention, int headDim, @TempDir Path dir)
            throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(tied, headDim), 42);
        int[] seq = {3, 17, 5, 60, 8, 22, 41, 9, 13, 2};
        double[][] ref = m.forward(seq);
        int v = m.cfg.vocabSize();
        try (OrtEvaluator ev = export(m, dir, attention)) {
            int prefill = 6;
            long[] ids = new long[prefill];
            for (int i = 0; i < prefill; i++) {
                ids[i] = seq[i];
            }
            OrtEvaluator.Step s;
            try (OrtEvaluator.KvCache empty = ev.emptyCache(1)) {
                s = ev.forward(row(ids), row(range(0, prefill)), row(ones(prefill)), empty, prefill);
            }
            for (int i = 0; i < prefill; i++) {
                assertClose(s.logits(), i * v, ref[i], "prefill position " + i);
            }
            OrtEvaluator.KvCache cache = s.cache();
            for (int i = prefill; i < seq.length; i++) {
                OrtEvaluator.Step d = ev.forward(row(seq[i]), row(i), row(ones(i + 1)), cache, 1);
                cache.close();
                cache = d.cache();
                assertThat(cache.length()).isEqualTo(i + 1);
                assertClose(d.logits(), 0, ref[i], "cached decode step at position " + i);
            }
            // several new tokens on a cache for a batch: GQA exports switch to the plain block (ORT's GQA refuses them)
            try (OrtEvaluator.KvCache two = cache.repeat(List.of(0, 0))) {
                OrtEvaluator.Step d = ev.forward(new long[][]{{1, 2}, {1, 2}}, new long[][]{{10, 11}, {10, 11}},
                        new long[][]{ones(12), ones(12)}, two, 2);
                double[][] ref2 = m.forward(java.util.stream.IntStream.concat(java.util.Arrays.stream(seq), java.util.stream.IntStream.of(1, 2)).toArray());
                for (int r = 0; r < 2; r++) {
                    assertClose(d.logits(), (r * 2) * v, ref2[10], "two new tokens on a cache, row " + r + ", first");
                    assertClose(d.logits(), (r * 2 + 1) * v, ref2[11], "two new tokens on a cache, row " + r + ", second");
                }
                d.cache().close();
            }
            cache.close();
        }
    }

    @ParameterizedTest
    @EnumSource(LlamaOnnxExporter.Attention.class)
    void paddedBatchesGiveTheSameGreedyTokensAndScoresAsSingleRows(LlamaOnnxExporter.Attention attention, @TempDir Path dir) throws Exception {
        // GroupQueryAttention needs a head size that is a multiple of 8
        RandomLlama m = new RandomLlama(RandomLlama.config(false, attention == LlamaOnnxExporter.Attention.GQA ? 8 : 4), 7);
        List<int[]> prompts = List.of(new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50, 28, 3}, new int[]{5}, new int[]{19, 23, 44, 2, 6});
        GenerationConfig one = GenerationConfig.greedy(8, Set.of()).withBatchSize(1);
        try (OrtEvaluator ev = export(m, dir, attention)) {
            List<Generation> single = ev.generate(prompts, one, null);
            // the independent forward's greedy continuation for every prompt
            for (int p = 0; p < prompts.size(); p++) {
                List<Integer> seq = new ArrayList<>();
                for (int id : prompts.get(p)) {
                    seq.add(id);
                }
                for (int k = 0; k < 8; k++) {
                    double[][] lg = m.forward(seq.stream().mapToInt(Integer::intValue).toArray());
                    double[] last = lg[lg.length - 1];
                    int best = 0;
                    for (int j = 1; j < last.length; j++) {
                        if (last[j] > last[best]) {
                            best = j;
                        }
                    }
                    assertThat(single.get(p).generatedIds()[k]).as("prompt %d token %d", p, k).isEqualTo(best);
                    seq.add(best);
                }
            }
            for (GenerationConfig.Padding pad : GenerationConfig.Padding.values()) {
                List<Generation> batched = ev.generate(prompts, one.withBatchSize(4).withPadding(pad), null);
                for (int p = 0; p < prompts.size(); p++) {
                    assertThat(batched.get(p).generatedIds()).as("%s padding, prompt %d", pad, p)
                            .containsExactly(single.get(p).generatedIds());
                    assertThat(batched.get(p).finish()).isEqualTo(Generation.Finish.MAX_NEW_TOKENS);
                }
            }
            // EOS: stop right after emitting it
            int firstTok = single.get(0).generatedIds()[0];
            List<Generation> eos = ev.generate(prompts.subList(0, 1), GenerationConfig.greedy(8, Set.of(firstTok)), null);
            assertThat(eos.get(0).generatedIds()).containsExactly(firstTok);
            assertThat(eos.get(0).finish()).isEqualTo(Generation.Finish.EOS);

            // log-likelihood of continuations, batched by length and left-padded, against the float64 forward
            List<int[]> ctx = List.of(new int[]{4, 9, 33}, new int[]{12, 1}, new int[]{5, 6, 7, 8}, new int[]{3});
            List<int[]> cont = List.of(new int[]{2}, new int[]{7, 7, 50}, new int[]{10, 11}, new int[]{9});
            double[] ll = ev.logLikelihoods(ctx, cont, 2);
            for (int i = 0; i < ctx.size(); i++) {
                double want = m.logLikelihood(ctx.get(i), cont.get(i));
                assertThat(ll[i]).as("log-likelihood %d", i).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-4));
            }
        }
    }

    @Test
    void generationOnWorkerThreadsGivesTheTokensOfOneBatchAtATime(@TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(false, 8), 5);
        Path f = LlamaOnnxExporter.export(m.cfg, m, dir.resolve("m.onnx"), LlamaOnnxExporter.Attention.GQA);
        List<int[]> prompts = List.of(new int[]{4, 9, 33}, new int[]{12, 1, 7, 7, 50}, new int[]{5}, new int[]{19, 23},
                new int[]{8, 8, 8, 8}, new int[]{30, 2, 44});
        GenerationConfig gc = GenerationConfig.greedy(7, Set.of()).withBatchSize(2);
        List<Generation> serial;
        try (OrtEvaluator one = new OrtEvaluator(f, m.cfg, 0, 1)) {
            serial = one.generate(prompts, gc, null);
        }
        // three batches on two worker threads
        List<Integer> progress = java.util.Collections.synchronizedList(new ArrayList<>());
        try (OrtEvaluator two = new OrtEvaluator(f, m.cfg, 0, 2)) {
            List<Generation> parallel = two.generate(prompts, gc, null, progress::add);
            for (int p = 0; p < prompts.size(); p++) {
                assertThat(parallel.get(p).generatedIds()).as("prompt %d", p).containsExactly(serial.get(p).generatedIds());
            }
        }
        assertThat(progress).containsExactly(2, 4, 6);
    }

    @Test
    void int8ProjectionsStayNearTheFloat64Forward(@TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(false, 8), 42);
        ai.onnx.proto.OnnxMl.ModelProto model = LlamaOnnxExporter.build(m.cfg, m, LlamaOnnxExporter.Attention.GQA,
                LlamaOnnxExporter.Precision.INT8);
        ai.onnx.proto.OnnxMl.GraphProto g = model.getGraph();
        // q, k, v, o, gate, up per layer in int8; down_proj stays an fp32 MatMul
        assertThat(g.getNodeList()).filteredOn(n -> n.getOpType().equals("DynamicQuantizeMatMul"))
                .hasSize(6 * m.cfg.numLayers()).allSatisfy(n -> assertThat(n.getDomain()).isEqualTo("com.microsoft"));
        assertThat(g.getInitializerList()).filteredOn(t -> t.getDataType() == ai.onnx.proto.OnnxMl.TensorProto.DataType.INT8.getNumber())
                .hasSize(6 * m.cfg.numLayers())
                .allSatisfy(t -> assertThat(t.getRawData().size()).isEqualTo((int) (t.getDims(0) * t.getDims(1))));
        assertThat(g.getInitializerList()).extracting(ai.onnx.proto.OnnxMl.TensorProto::getName)
                .anyMatch(n -> n.startsWith("model.layers.0.mlp.down_proj.weight") && !n.contains("int8"));
        assertThat(model.getMetadataPropsList()).anyMatch(e -> e.getKey().equals(LlamaOnnxExporter.PRECISION_METADATA)
                && e.getValue().equals("INT8"));

        Path f = LlamaOnnxExporter.export(m.cfg, m, dir.resolve("q.onnx"), LlamaOnnxExporter.Attention.GQA, LlamaOnnxExporter.Precision.INT8);
        int[] seq = {3, 17, 5, 60, 8, 22, 41, 9};
        double[][] ref = m.forward(seq);
        int v = m.cfg.vocabSize();
        long[] ids = new long[seq.length];
        for (int i = 0; i < seq.length; i++) {
            ids[i] = seq[i];
        }
        try (OrtEvaluator ev = new OrtEvaluator(f, m.cfg, 0, 1); OrtEvaluator.KvCache empty = ev.emptyCache(1)) {
            assertThat(ev.precision()).isEqualTo(LlamaOnnxExporter.Precision.INT8);
            OrtEvaluator.Step s = ev.forward(row(ids), row(range(0, seq.length)), row(ones(seq.length)), empty, seq.length);
            double worst = 0;
            double scale = 0;
            for (int i = 0; i < seq.length; i++) {
                for (int j = 0; j < v; j++) {
                    worst = Math.max(worst, Math.abs(s.logits()[i * v + j] - ref[i][j]));
                    scale = Math.max(scale, Math.abs(ref[i][j]));
                }
            }
            // quantized: off by more than fp32 rounding (the int8 path ran), by a few percent of the logit range at most
            assertThat(worst).as("max |int8 - float64|").isGreaterThan(TOL).isLessThan(0.05 * scale);
            s.cache().close();
        }
    }

    @Test
    void samplingIsSeededAndIndependentOfBatching(@TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(true), 3);
        List<int[]> prompts = List.of(new int[]{4, 9, 33}, new int[]{12, 1, 7}, new int[]{5});
        GenerationConfig s = GenerationConfig.greedy(6, Set.of()).withSampling(1.0, 0.9, 20, 11);
        try (OrtEvaluator ev = export(m, dir)) {
            List<Generation> a = ev.generate(prompts, s.withBatchSize(1), null);
            List<Generation> b = ev.generate(prompts, s.withBatchSize(3), null);
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(b.get(i).generatedIds()).containsExactly(a.get(i).generatedIds());
            }
        }
    }

    @Test
    void presentCachesAreWrittenByTheirProducersWithoutIdentityCopies() {
        RandomLlama m = new RandomLlama(RandomLlama.config(false), 42);
        ai.onnx.proto.OnnxMl.GraphProto g = LlamaOnnxExporter.build(m.cfg, m).getGraph();
        java.util.Set<String> produced = new java.util.HashSet<>();
        for (ai.onnx.proto.OnnxMl.NodeProto n : g.getNodeList()) {
            assertThat(n.getOpType()).as(n.getName()).isNotEqualTo("Identity");
            produced.addAll(n.getOutputList());
        }
        for (ai.onnx.proto.OnnxMl.ValueInfoProto o : g.getOutputList()) {
            assertThat(produced).as("output " + o.getName()).contains(o.getName());
        }
    }

    @Test
    void badInputsAreRejectedClearly(@TempDir Path dir) throws Exception {
        RandomLlama m = new RandomLlama(RandomLlama.config(false), 1);
        ModelConfig wrong = new ModelConfig(61, 16, 41, 2, 4, 2, 4, 10000, 1e-6, 64, false);
        assertThatThrownBy(() -> LlamaOnnxExporter.build(wrong, m))
                .hasMessageContaining("mlp.gate_proj.weight").hasMessageContaining("[40, 16]").hasMessageContaining("[41, 16]");
        try (OrtEvaluator ev = export(m, dir)) {
            assertThatThrownBy(() -> ev.generate(List.of(new int[60]), GenerationConfig.greedy(8, Set.of()), null))
                    .hasMessageContaining("prompt 0 has 60 tokens").hasMessageContaining("context of 64");
            assertThatThrownBy(() -> ev.generate(List.of(), GenerationConfig.greedy(8, Set.of()), null))
                    .hasMessageContaining("no prompts");
            assertThatThrownBy(() -> ev.generate(List.of(new int[]{99}), GenerationConfig.greedy(8, Set.of()), null))
                    .hasMessageContaining("token id 99");
        }
        assertThatThrownBy(() -> new OrtEvaluator(dir.resolve("missing.onnx"), m.cfg, 0, 1)).hasMessageContaining("missing.onnx");
        assertThatThrownBy(() -> LlamaOnnxExporter.build(m.cfg, m, LlamaOnnxExporter.Attention.GQA))
                .hasMessageContaining("multiple of 8").hasMessageContaining("has 4");
    }

    @Test
    void defaultVariantIsGqaWhereItRuns() {
        assertThat(LlamaOnnxExporter.fastest(RandomLlama.config(false, 8))).isEqualTo(LlamaOnnxExporter.Attention.GQA);
        assertThat(LlamaOnnxExporter.fastest(RandomLlama.config(false, 4))).isEqualTo(LlamaOnnxExporter.Attention.PLAIN);
        RandomLlama m = new RandomLlama(RandomLlama.config(false, 8), 1);
        // per layer an If: GroupQueryAttention, or the plain block for several new tokens on a cache
        assertThat(LlamaOnnxExporter.build(m.cfg, m).getGraph().getNodeList())
                .filteredOn(n -> n.getOpType().equals("If")).hasSize(m.cfg.numLayers())
                .allSatisfy(n -> {
                    assertThat(n.getAttribute(0).getName()).isEqualTo("then_branch");
                    assertThat(n.getAttribute(0).getG().getNode(0).getOpType()).isEqualTo("GroupQueryAttention");
                    assertThat(n.getAttribute(0).getG().getNode(0).getDomain()).isEqualTo("com.microsoft");
                    assertThat(n.getAttribute(1).getG().getNodeList()).extracting(ai.onnx.proto.OnnxMl.NodeProto::getOpType)
                            .contains("Concat", "Softmax", "MatMul");
                });
    }

    static void assertClose(float[] got, int off, double[] want, String what) {
        double worst = 0;
        for (int j = 0; j < want.length; j++) {
            worst = Math.max(worst, Math.abs(got[off + j] - want[j]));
        }
        assertThat(worst).as("%s: max |ORT - float64 reference|", what).isLessThan(TOL);
    }
}
