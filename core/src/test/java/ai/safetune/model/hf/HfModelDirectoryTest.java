package ai.safetune.model.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.LlamaLayout;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelFileException;
import ai.safetune.model.SharedFiles;
import ai.safetune.model.safetensors.SafetensorsDType;
import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.model.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfModelDirectoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void tinyLlamaLoadsWithConfigFromTheModelsReadme() {
        try (HfModelDirectory d = HfModelDirectory.open(SharedFiles.tinyLlama())) {
            ModelConfig c = d.config();
            assertThat(c.numLayers()).isEqualTo(2);
            assertThat(c.hiddenSize()).isEqualTo(32);
            assertThat(c.numHeads()).isEqualTo(4);
            assertThat(c.numKvHeads()).isEqualTo(2);
            assertThat(c.headDim()).isEqualTo(8);
            assertThat(c.intermediateSize()).isEqualTo(96);
            assertThat(c.vocabSize()).isEqualTo(49152);
            assertThat(c.ropeTheta()).isEqualTo(10000.0); // given as rope_parameters.rope_theta
            assertThat(c.rmsNormEps()).isEqualTo(1e-6);
            assertThat(c.tieWordEmbeddings()).isFalse();
            assertThat(c.maxPositions()).isEqualTo(512);
            assertThat(d.weights().names()).hasSize(1 + 2 * 9 + 1 + 1)
                    .containsAll(LlamaLayout.expectedShapes(c).keySet());
            assertThat(d.weights().get("model.layers.1.self_attn.k_proj.weight").rows()).isEqualTo(16);
            assertThat(d.weights().get("model.layers.1.self_attn.k_proj.weight").storageType()).isEqualTo("BF16");
            assertThat(d.weights().get("model.norm.weight").rows()).isEqualTo(1);
            assertThat(d.weights().get("model.norm.weight").cols()).isEqualTo(32);
            assertThat(d.tokenizerJson()).isPresent();
            assertThat(d.chatTemplateJinja()).isPresent();
            assertThatThrownBy(() -> d.weights().get("model.layers.9.mlp.up_proj.weight"))
                    .hasMessageContaining("model.layers.9.mlp.up_proj.weight").hasMessageContaining("tiny-llama");
        }
    }

    @Test
    void ropeThetaAtTopLevelOrNestedAndDefaults() throws Exception {
        ObjectNode c = baseConfig();
        c.put("rope_theta", 500000.0);
        assertThat(HfConfig.parse(c, tmp).ropeTheta()).isEqualTo(500000.0);
        c.remove("rope_theta");
        c.putObject("rope_parameters").put("rope_theta", 1234.5).put("rope_type", "default");
        assertThat(HfConfig.parse(c, tmp).ropeTheta()).isEqualTo(1234.5);
        c.remove("rope_parameters");
        ModelConfig d = HfConfig.parse(c, tmp);
        assertThat(d.ropeTheta()).isEqualTo(10000.0);
        assertThat(d.headDim()).isEqualTo(16); // hidden / heads
        assertThat(d.numKvHeads()).isEqualTo(4); // defaults to heads
        assertThat(d.rmsNormEps()).isEqualTo(1e-6);
        assertThat(d.tieWordEmbeddings()).isFalse();
        assertThat(d.maxPositions()).isEqualTo(2048);
        c.put("tie_word_embeddings", true).put("num_key_value_heads", 2).put("head_dim", 8).put("rms_norm_eps", 1e-5);
        assertThat(HfConfig.parse(c, tmp)).isEqualTo(new ModelConfig(100, 64, 128, 2, 4, 2, 8, 10000.0, 1e-5, 2048, true));
    }

    @Test
    void unsupportedOrBrokenConfigsAreRejected() throws Exception {
        ObjectNode c = baseConfig().put("model_type", "qwen2");
        assertThatThrownBy(() -> HfConfig.parse(c, tmp)).hasMessageContaining("model_type 'qwen2'");
        ObjectNode r = baseConfig();
        r.putObject("rope_parameters").put("rope_theta", 5e5).put("rope_type", "llama3");
        assertThatThrownBy(() -> HfConfig.parse(r, tmp)).hasMessageContaining("rope_type 'llama3'");
        ObjectNode m = baseConfig();
        m.remove("intermediate_size");
        assertThatThrownBy(() -> HfConfig.parse(m, tmp)).hasMessageContaining("'intermediate_size'");
        ObjectNode t = baseConfig().put("num_hidden_layers", "two");
        assertThatThrownBy(() -> HfConfig.parse(t, tmp)).hasMessageContaining("'num_hidden_layers'").hasMessageContaining("integer");
        ObjectNode k = baseConfig().put("num_key_value_heads", 3);
        assertThatThrownBy(() -> HfConfig.parse(k, tmp)).isInstanceOf(ModelFileException.class).hasMessageContaining("numKvHeads 3");
        Path bad = Files.writeString(tmp.resolve("config.json"), "{\"hidden_size\": ");
        assertThatThrownBy(() -> HfConfig.read(bad)).isInstanceOf(ModelFileException.class).hasMessageContaining("config.json");
    }

    /** A sharded checkpoint (index + two files) loads; a missing tensor or a wrong shape is named. */
    @Test
    void shardedDirectoryAndShapeChecks() throws Exception {
        ModelConfig cfg = new ModelConfig(10, 8, 16, 1, 2, 1, 4, 10000.0, 1e-6, 64, true);
        Path dir = Files.createDirectories(tmp.resolve("m"));
        ObjectNode c = JSON.createObjectNode().put("model_type", "llama").put("vocab_size", 10).put("hidden_size", 8)
                .put("intermediate_size", 16).put("num_hidden_layers", 1).put("num_attention_heads", 2)
                .put("num_key_value_heads", 1).put("tie_word_embeddings", true).put("max_position_embeddings", 64);
        Files.writeString(dir.resolve("config.json"), c.toString());
        Map<String, int[]> shapes = LlamaLayout.expectedShapes(cfg);
        SafetensorsWriter a = new SafetensorsWriter();
        SafetensorsWriter b = new SafetensorsWriter();
        ObjectNode index = JSON.createObjectNode();
        ObjectNode map = index.putObject("weight_map");
        int i = 0;
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            int[] s = e.getValue();
            float[] v = new float[s[0] * s[1]];
            v[0] = i;
            long[] shape = s[0] == 1 ? new long[] {s[1]} : new long[] {s[0], s[1]};
            (i % 2 == 0 ? a : b).add(e.getKey(), SafetensorsDType.F32, shape, v);
            map.put(e.getKey(), i % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            i++;
        }
        a.write(dir.resolve("model-00001-of-00002.safetensors"));
        b.write(dir.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        try (HfModelDirectory d = HfModelDirectory.open(dir)) {
            assertThat(d.config()).isEqualTo(cfg);
            assertThat(d.weights().names()).hasSize(shapes.size());
            assertThat(d.weights().get("model.norm.weight").toFloatArray()[0]).isEqualTo(shapes.size() - 1);
            assertThat(d.tokenizerJson()).isEmpty();
        }
        // replace shard 2 by one that lacks tensors and has a wrong shape
        new SafetensorsWriter().add("model.layers.0.self_attn.o_proj.weight", SafetensorsDType.F32, new long[] {8, 4}, new float[32])
                .write(dir.resolve("model-00002-of-00002.safetensors"));
        assertThatThrownBy(() -> HfModelDirectory.open(dir)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("is missing").hasMessageContaining("o_proj.weight is [8, 4], expected [8, 8]");
        // a tensor in two shards is ambiguous
        new SafetensorsWriter().add("model.layers.0.self_attn.q_proj.weight", SafetensorsDType.F32, new long[] {8, 8}, new float[64])
                .write(dir.resolve("model-00002-of-00002.safetensors"));
        assertThatThrownBy(() -> HfModelDirectory.open(dir)).hasMessageContaining("q_proj.weight' also appears in another shard");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertThatThrownBy(() -> HfModelDirectory.open(dir)).hasMessageContaining("model-00002-of-00002.safetensors");
        Files.delete(dir.resolve("model.safetensors.index.json"));
        assertThatThrownBy(() -> HfModelDirectory.open(dir)).hasMessageContaining("no model.safetensors");
        // the tiny model's own file is usable through SafetensorsFile too
        try (SafetensorsFile f = SafetensorsFile.open(SharedFiles.tinyLlama().resolve("model.safetensors"))) {
            assertThat(f.tensors()).hasSize(21);
        }
    }

    private static ObjectNode baseConfig() {
        return JSON.createObjectNode().put("model_type", "llama").put("vocab_size", 100).put("hidden_size", 64)
                .put("intermediate_size", 128).put("num_hidden_layers", 2).put("num_attention_heads", 4);
    }
}
