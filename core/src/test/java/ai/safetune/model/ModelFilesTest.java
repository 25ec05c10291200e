package ai.safetune.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFilesTest {
    @Test
    void opensGgufWithMetadataAsTokenizerSource() {
        try (ModelFiles m = ModelFiles.open(SharedFiles.smolGguf())) {
            assertThat(m.format()).isEqualTo(ModelFiles.Format.GGUF);
            assertThat(m.config()).isEqualTo(new ModelConfig(49152, 576, 1536, 30, 9, 3, 64, 100000.0,
                    m.config().rmsNormEps(), 8192, true));
            assertThat((float) m.config().rmsNormEps()).isEqualTo(1e-5f);
            assertThat(m.weights().names()).hasSize(272).doesNotContain(LlamaLayout.LM_HEAD);
            TokenizerSource.Gguf src = (TokenizerSource.Gguf) m.tokenizerSource();
            assertThat(src.metadata().get("tokenizer.ggml.model")).isEqualTo("gpt2");
            assertThat(src.chatTemplate()).hasValueSatisfying(t -> assertThat(t).contains("<|im_start|>"));
            // the heap copy keeps names, HF row order and exact values
            ModelWeights heap = m.weights().dequantized();
            assertThat(heap.names()).containsExactlyElementsOf(m.weights().names());
            String q = "model.layers.3.self_attn.q_proj.weight";
            assertThat(heap.get(q)).isInstanceOf(FloatWeight.class);
            assertThat(java.util.Arrays.mismatch(heap.get(q).toFloatArray(), m.weights().get(q).toFloatArray())).isEqualTo(-1);
        }
    }

    @Test
    void opensHfDirectoryWithTokenizerFiles() {
        Path dir = SharedFiles.tinyLlama();
        try (ModelFiles m = ModelFiles.open(dir)) {
            assertThat(m.format()).isEqualTo(ModelFiles.Format.HF_DIRECTORY);
            assertThat(m.config()).isEqualTo(new ModelConfig(49152, 32, 96, 2, 4, 2, 8, 10000.0, 1e-6, 512, false));
            assertThat(m.weights().get(LlamaLayout.LM_HEAD).storageType()).isEqualTo("BF16");
            TokenizerSource.HfFiles src = (TokenizerSource.HfFiles) m.tokenizerSource();
            assertThat(src.tokenizerJson()).contains(dir.resolve("tokenizer.json"));
            assertThat(src.tokenizerConfigJson()).contains(dir.resolve("tokenizer_config.json"));
            assertThat(src.chatTemplateJinja()).contains(dir.resolve("chat_template.jinja"));
        }
    }

    @Test
    void rejectsMissingPathAndNonModelFile(@TempDir Path tmp) throws Exception {
        assertThatThrownBy(() -> ModelFiles.open(tmp.resolve("nope.gguf")))
                .isInstanceOf(ModelFileException.class).hasMessageContaining("nope.gguf");
        Path txt = Files.writeString(tmp.resolve("x.gguf"), "hello, this is not a model at all");
        assertThatThrownBy(() -> ModelFiles.open(txt)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("not a GGUF file");
        assertThatThrownBy(() -> ModelFiles.open(tmp)).isInstanceOf(ModelFileException.class)
                .hasMessageContaining("config.json");
    }
}
