package ai.safetune.model;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Where a model's tokenizer and chat template come from, as stored; the tokenizer package builds the
 * tokenizer from it. Either the GGUF metadata ({@code tokenizer.ggml.*}, {@code tokenizer.chat_template}) or the
 * files of a Hugging Face directory.
 */
public sealed interface TokenizerSource permits TokenizerSource.Gguf, TokenizerSource.HfFiles {

    /**
     * GGUF metadata: {@code tokenizer.ggml.model}, {@code .pre}, {@code .tokens} (List&lt;String&gt;),
     * {@code .merges} (List&lt;String&gt;), {@code .token_type} (int[]), {@code .bos_token_id}/{@code .eos_token_id}/...
     * (Long for UINT32), {@code .add_bos_token} (Boolean), {@code tokenizer.chat_template} (String).
     * Value types as in {@link ai.safetune.model.gguf.GgufValueType}.
     */
    record Gguf(Path file, Map<String, Object> metadata) implements TokenizerSource {
        public Gguf {
            Objects.requireNonNull(file);
            Objects.requireNonNull(metadata);
        }

        /** {@code tokenizer.chat_template}, if the file has one. */
        public Optional<String> chatTemplate() {
            return metadata.get("tokenizer.chat_template") instanceof String s ? Optional.of(s) : Optional.empty();
        }
    }

    /** Files of an HF model directory; each is present only if the directory has it. */
    record HfFiles(Path directory, Optional<Path> tokenizerJson, Optional<Path> tokenizerConfigJson,
                   Optional<Path> chatTemplateJinja) implements TokenizerSource {
        public HfFiles {
            Objects.requireNonNull(directory);
            Objects.requireNonNull(tokenizerJson);
            Objects.requireNonNull(tokenizerConfigJson);
            Objects.requireNonNull(chatTemplateJinja);
        }
    }
}
