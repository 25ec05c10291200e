package ai.safetune.model.gguf;

import static ai.safetune.model.gguf.GgufTestWriter.f32s;
import static ai.safetune.model.gguf.GgufTestWriter.le;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.LlamaLayout;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.SharedFiles;
import ai.safetune.model.Weight;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufFileTest {
    @Test
    void readsSmolLm2HeaderMetadataAndTensorInfos() {
        try (GgufFile f = GgufFile.open(SharedFiles.smolGguf())) {
            assertThat(f.version()).isEqualTo(3);
            assertThat(f.metadata()).hasSize(33);
            assertThat(f.tensors()).hasSize(272);
            assertThat(f.alignment()).isEqualTo(32);
            Map<GgmlType, Long> counts = f.tensors().values().stream()
                    .collect(Collectors.groupingBy(GgufTensorInfo::type, TreeMap::new, Collectors.counting()));
            assertThat(counts).containsExactlyEntriesOf(new TreeMap<>(Map.of(GgmlType.F32, 61L, GgmlType.Q4_1, 210L, GgmlType.Q8_0, 1L)));
            GgufTensorInfo embd = f.tensor("token_embd.weight");
            assertThat(embd.dims()).containsExactly(576, 49152);
            assertThat(embd.type()).isEqualTo(GgmlType.Q8_0);
            assertThat(embd.byteSize()).isEqualTo(49152L * 576 / 32 * 34);
            assertThat(f.findTensor("output.weight")).isEmpty();

            assertThat(f.getString("general.architecture")).isEqualTo("llama");
            assertThat(f.getString("tokenizer.ggml.model")).isEqualTo("gpt2");
            assertThat(f.getString("tokenizer.ggml.pre")).isEqualTo("smollm");
            List<String> tokens = f.getStringList("tokenizer.ggml.tokens");
            assertThat(tokens).hasSize(49152);
            assertThat(tokens.subList(0, 3)).containsExactly("<|endoftext|>", "<|im_start|>", "<|im_end|>");
            assertThat(f.getStringList("tokenizer.ggml.merges")).hasSize(48900);
            assertThat(f.getIntArray("tokenizer.ggml.token_type")).hasSize(49152);
            assertThat(f.getInt("tokenizer.ggml.bos_token_id")).isEqualTo(1);
            assertThat(f.getInt("tokenizer.ggml.eos_token_id")).isEqualTo(2);
            assertThat(f.getInt("tokenizer.ggml.padding_token_id")).isEqualTo(2);
            assertThat(f.getBoolean("tokenizer.ggml.add_bos_token")).isFalse();
            assertThat(f.getString("tokenizer.chat_template")).contains("You are a helpful AI assistant named SmolLM");
            assertThat(f.getFloat("llama.rope.freq_base")).isEqualTo(100000f);
            assertThat(f.valueType("llama.block_count")).contains(GgufValueType.UINT32);
            assertThatThrownBy(() -> f.getString("llama.block_count")).isInstanceOf(ModelFileException.class)
                    .hasMessageContaining("llama.block_count").hasMessageContaining("UINT32").hasMessageContaining("string");
            assertThatThrownBy(() -> f.getInt("no.such.key")).hasMessageContaining("'no.such.key'");
        }
    }

    @Test
    void smolLm2ModelConfigAndWeightNames() {
        try (GgufModel m = GgufModel.open(SharedFiles.smolGguf())) {
            ModelConfig c = m.config();
            assertThat(c.vocabSize()).isEqualTo(49152);
            assertThat(c.hiddenSize()).isEqualTo(576);
            assertThat(c.intermediateSize()).isEqualTo(1536);
            assertThat(c.numLayers()).isEqualTo(30);
            assertThat(c.numHeads()).isEqualTo(9);
            assertThat(c.numKvHeads()).isEqualTo(3);
            assertThat(c.headDim()).isEqualTo(64);
            assertThat(c.ropeTheta()).isEqualTo(100000.0);
            assertThat((float) c.rmsNormEps()).isEqualTo(1e-5f);
            assertThat(c.maxPositions()).isEqualTo(8192);
            assertThat(c.tieWordEmbeddings()).isTrue();
            assertThat(m.weights().names()).containsExactlyInAnyOrderElementsOf(LlamaLayout.expectedShapes(c).keySet());
            Weight embed = m.weights().get(LlamaLayout.EMBED);
            assertThat(embed.rows()).isEqualTo(49152);
            assertThat(embed.cols()).isEqualTo(576);
            assertThat(embed.storageType()).isEqualTo("Q8_0");
            Weight q = m.weights().get("model.layers.0.self_attn.q_proj.weight");
            assertThat(q.storageType()).isEqualTo("Q4_1");
            assertThat(m.weights().get("model.layers.29.mlp.down_proj.weight").rows()).isEqualTo(576);
            assertThat(m.weights().get("model.layers.29.mlp.down_proj.weight").cols()).isEqualTo(1536);
            assertThat(m.weights().get(LlamaLayout.FINAL_NORM).storageType()).isEqualTo("F32");
            assertThat(m.file().mappedSegments()).isEqualTo(1); // 98 MB of tensors: one mapping for all
        }
    }

    /**
     * The converter stored {@code gguf = w.reshape(nHead, 2, hd/2, in).swapaxes(1, 2).reshape(out, in)}.
     * Applying that to the HF-order rows the loader returns must give back the stored rows exactly.
     */
    @Test
    void qAndKRowsAreUnpermutedToHfOrder() {
        try (GgufModel m = GgufModel.open(SharedFiles.smolGguf())) {
            for (int layer : new int[] {0, 17}) {
                checkPermutesBack(m, "blk." + layer + ".attn_q.weight", "model.layers." + layer + ".self_attn.q_proj.weight", 9);
                checkPermutesBack(m, "blk." + layer + ".attn_k.weight", "model.layers." + layer + ".self_attn.k_proj.weight", 3);
            }
            // V is not permuted: identical to the stored rows
            float[] v = m.weights().get("model.layers.0.self_attn.v_proj.weight").toFloatArray();
            assertThat(java.util.Arrays.mismatch(v, m.file().weight("blk.0.attn_v.weight").toFloatArray())).isEqualTo(-1);
        }
    }

    private static void checkPermutesBack(GgufModel m, String ggufName, String hfName, int nHead) {
        Weight hf = m.weights().get(hfName);
        float[] w = hf.toFloatArray();
        float[] stored = m.file().weight(ggufName).toFloatArray();
        int out = hf.rows();
        int in = hf.cols();
        int hd = out / nHead;
        assertThat(java.util.Arrays.mismatch(w, stored)).isNotEqualTo(-1); // the permutation really moves rows
        float[] permuted = new float[w.length];
        // index of the swapped array [h][a][b] (shape nHead, hd/2, 2) reads w.reshape(nHead, 2, hd/2)[h][b][a]
        for (int r = 0; r < out; r++) {
            int h = r / hd;
            int a = (r % hd) / 2;
            int b = r % 2;
            int src = h * hd + b * (hd / 2) + a;
            System.arraycopy(w, src * in, permuted, r * in, in);
        }
        assertThat(java.util.Arrays.mismatch(permuted, stored)).as("first differing element").isEqualTo(-1);
    }

    @Test
    void readsEveryMetadataValueTypeInV2AndV3(@TempDir Path tmp) throws Exception {
        for (int version : new int[] {2, 3}) {
            ByteArrayOutputStream nested = new ByteArrayOutputStream();
            nested.writeBytes(le(4).putInt(9).array()); // array of arrays
            nested.writeBytes(le(8).putLong(2).array());
            for (int i = 0; i < 2; i++) {
                nested.writeBytes(le(4).putInt(5).array()); // INT32
                nested.writeBytes(le(8).putLong(1).array());
                nested.writeBytes(le(4).putInt(i + 40).array());
            }
            GgufTestWriter w = new GgufTestWriter().version(version)
                    .raw("u8", 0, new byte[] {(byte) 200})
                    .raw("i8", 1, new byte[] {(byte) -5})
                    .raw("u16", 2, le(2).putShort((short) 60000).array())
                    .raw("i16", 3, le(2).putShort((short) -3000).array())
                    .raw("u32", 4, le(4).putInt(-1).array())
                    .raw("i32", 5, le(4).putInt(-7).array())
                    .f32("f32", 1.5f)
                    .bool("bool", true)
                    .string("str", "héllo ✓")
                    .raw("u64", 10, le(8).putLong(1L << 40).array())
                    .raw("i64", 11, le(8).putLong(-9L).array())
                    .raw("f64", 12, le(8).putDouble(0.1).array())
                    .raw("arr_u8", 9, concat(le(4).putInt(0).array(), le(8).putLong(3).array(), new byte[] {1, (byte) 255, 3}))
                    .raw("arr_u32", 9, concat(le(4).putInt(4).array(), le(8).putLong(2).array(), le(8).putInt(5).putInt(-1).array()))
                    .raw("arr_f32", 9, concat(le(4).putInt(6).array(), le(8).putLong(2).array(), f32s(0.25f, -2f)))
                    .raw("arr_bool", 9, concat(le(4).putInt(7).array(), le(8).putLong(2).array(), new byte[] {0, 1}))
                    .raw("arr_str", 9, concat(le(4).putInt(8).array(), le(8).putLong(2).array(),
                            le(8).putLong(1).array(), "a".getBytes(), le(8).putLong(0).array()))
                    .raw("arr_f64", 9, concat(le(4).putInt(12).array(), le(8).putLong(1).array(), le(8).putDouble(2.5).array()))
                    .raw("arr_arr", 9, nested.toByteArray());
            Path p = w.write(tmp.resolve("all" + version + ".gguf"));
            try (GgufFile f = GgufFile.open(p)) {
                assertThat(f.version()).isEqualTo(version);
                assertThat(f.getInt("u8")).isEqualTo(200);
                assertThat(f.getInt("i8")).isEqualTo(-5);
                assertThat(f.getInt("u16")).isEqualTo(60000);
                assertThat(f.getInt("i16")).isEqualTo(-3000);
                assertThat(f.getLong("u32")).isEqualTo(4294967295L);
                assertThatThrownBy(() -> f.getInt("u32")).hasMessageContaining("does not fit in an int");
                assertThat(f.getInt("i32")).isEqualTo(-7);
                assertThat(f.getFloat("f32")).isEqualTo(1.5f);
                assertThat(f.getBoolean("bool")).isTrue();
                assertThat(f.getString("str")).isEqualTo("héllo ✓");
                assertThat(f.getLong("u64")).isEqualTo(1L << 40);
                assertThat(f.getLong("i64")).isEqualTo(-9L);
                assertThat(f.getDouble("f64")).isEqualTo(0.1);
                assertThat(f.getIntArray("arr_u8")).containsExactly(1, 255, 3);
                assertThat((long[]) f.metadata().get("arr_u32")).containsExactly(5L, 4294967295L);
                assertThat(f.getFloatArray("arr_f32")).containsExactly(0.25f, -2f);
                assertThat((boolean[]) f.metadata().get("arr_bool")).containsExactly(false, true);
                assertThat(f.getStringList("arr_str")).containsExactly("a", "");
                assertThat((double[]) f.metadata().get("arr_f64")).containsExactly(2.5);
                List<?> arr = (List<?>) f.metadata().get("arr_arr");
                assertThat((int[]) arr.get(0)).containsExactly(40);
                assertThat((int[]) arr.get(1)).containsExactly(41);
                assertThat(f.metadata().keySet()).startsWith("u8", "i8", "u16");
            }
        }
    }

    @Test
    void mapsTensorsOfEachPlainTypeAndHonoursAlignment(@TempDir Path tmp) throws Exception {
        // F16 1.0 = 0x3C00, -2.0 = 0xC000; BF16 1.0 = 0x3F80, 0.5 = 0x3F00
        byte[] f16 = le(8).putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x3800).putShort((short) 0x0001).array();
        byte[] bf16 = le(4).putShort((short) 0x3F80).putShort((short) 0x3F00).array();
        Path p = new GgufTestWriter().alignment(64).u32("general.alignment", 64)
                .tensor("a", new long[] {3, 2}, 0, f32s(1, 2, 3, 4, 5, 6))
                .tensor("b", new long[] {2, 2}, 1, f16)
                .tensor("c", new long[] {2}, 30, bf16)
                .write(tmp.resolve("t.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.alignment()).isEqualTo(64);
            assertThat(f.dataOffset() % 64).isZero();
            assertThat(f.tensor("b").offset()).isEqualTo(64);
            Weight a = f.weight("a");
            assertThat(a.rows()).isEqualTo(2);
            assertThat(a.cols()).isEqualTo(3);
            float[] row1 = new float[3];
            a.dequantizeRows(1, 1, row1, 0);
            assertThat(row1).containsExactly(4, 5, 6);
            assertThat(f.weight("b").toFloatArray()).containsExactly(1f, -2f, 0.5f, 0x1p-24f);
            assertThat(f.weight("c").toFloatArray()).containsExactly(1f, 0.5f);
            assertThatThrownBy(() -> a.dequantizeRows(1, 2, new float[6], 0)).isInstanceOf(IndexOutOfBoundsException.class);
        }
        GgufFile f = GgufFile.open(p);
        Weight a = f.weight("a");
        f.close();
        assertThatThrownBy(() -> a.toFloatArray()).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    /** A 1-layer llama in F32 written from scratch: names map to HF, Q/K get un-permuted, ties follow output.weight. */
    @Test
    void ggufModelFromSyntheticLlama(@TempDir Path tmp) throws Exception {
        int h = 8;
        int heads = 2;
        int kv = 1;
        int hd = 4;
        int ff = 16;
        int vocab = 5;
        GgufTestWriter w = llamaHeader(h, heads, kv, ff, vocab);
        float[] q = new float[h * h];
        for (int i = 0; i < q.length; i++) {
            q[i] = i; // row r holds r*h .. r*h+h-1, so the row order is visible
        }
        w.tensor("token_embd.weight", new long[] {h, vocab}, 0, f32s(new float[h * vocab]))
                .tensor("blk.0.attn_norm.weight", new long[] {h}, 0, f32s(new float[h]))
                .tensor("blk.0.attn_q.weight", new long[] {h, heads * hd}, 0, f32s(q))
                .tensor("blk.0.attn_k.weight", new long[] {h, kv * hd}, 0, f32s(java.util.Arrays.copyOf(q, kv * hd * h)))
                .tensor("blk.0.attn_v.weight", new long[] {h, kv * hd}, 0, f32s(new float[kv * hd * h]))
                .tensor("blk.0.attn_output.weight", new long[] {heads * hd, h}, 0, f32s(new float[h * h]))
                .tensor("blk.0.ffn_norm.weight", new long[] {h}, 0, f32s(new float[h]))
                .tensor("blk.0.ffn_gate.weight", new long[] {h, ff}, 0, f32s(new float[h * ff]))
                .tensor("blk.0.ffn_up.weight", new long[] {h, ff}, 0, f32s(new float[h * ff]))
                .tensor("blk.0.ffn_down.weight", new long[] {ff, h}, 0, f32s(new float[h * ff]))
                .tensor("output_norm.weight", new long[] {h}, 0, f32s(new float[h]));
        Path tied = w.write(tmp.resolve("tied.gguf"));
        try (GgufModel m = GgufModel.open(tied)) {
            assertThat(m.config()).isEqualTo(new ModelConfig(vocab, h, ff, 1, heads, kv, hd, 10000.0, (double) 1e-5f, 128, true));
            Weight wq = m.weights().get("model.layers.0.self_attn.q_proj.weight");
            float[] first = new float[h];
            // HF row 1 (head 0, first half, i=1) was stored at GGUF row 2; HF row 2 (second half, i=0) at GGUF row 1
            wq.dequantizeRows(1, 1, first, 0);
            assertThat(first[0]).isEqualTo(2 * h);
            wq.dequantizeRows(2, 1, first, 0);
            assertThat(first[0]).isEqualTo(1 * h);
            wq.dequantizeRows(4, 1, first, 0); // head 1 starts where it did
            assertThat(first[0]).isEqualTo(4 * h);
        }
        Path untied = w.tensor("output.weight", new long[] {h, vocab}, 0, f32s(new float[h * vocab])).write(tmp.resolve("untied.gguf"));
        try (GgufModel m = GgufModel.open(untied)) {
            assertThat(m.config().tieWordEmbeddings()).isFalse();
            assertThat(m.weights().names()).contains(LlamaLayout.LM_HEAD);
        }
        Path extra = w.tensor("rope_freqs.weight", new long[] {2}, 0, f32s(1, 1)).write(tmp.resolve("extra.gguf"));
        assertThatThrownBy(() -> GgufModel.open(extra)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("rope_freqs.weight");
        Path missing = llamaHeader(h, heads, kv, ff, vocab)
                .tensor("token_embd.weight", new long[] {h, vocab}, 0, f32s(new float[h * vocab]))
                .write(tmp.resolve("missing.gguf"));
        assertThatThrownBy(() -> GgufModel.open(missing)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("model.layers.0.self_attn.q_proj.weight is missing");
        Path qwen = new GgufTestWriter().string("general.architecture", "qwen2").write(tmp.resolve("qwen.gguf"));
        assertThatThrownBy(() -> GgufModel.open(qwen)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("unsupported architecture 'qwen2'");
    }

    private static GgufTestWriter llamaHeader(int h, int heads, int kv, int ff, int vocab) {
        return new GgufTestWriter()
                .string("general.architecture", "llama")
                .u32("llama.block_count", 1)
                .u32("llama.context_length", 128)
                .u32("llama.embedding_length", h)
                .u32("llama.feed_forward_length", ff)
                .u32("llama.attention.head_count", heads)
                .u32("llama.attention.head_count_kv", kv)
                .f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .u32("llama.vocab_size", vocab);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }
}
