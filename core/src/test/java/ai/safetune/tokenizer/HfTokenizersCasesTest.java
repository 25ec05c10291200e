package ai.safetune.tokenizer;

import ai.safetune.model.gguf.GgufFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * 620 random mixed-script texts (every script block, combining marks, control and format characters,
 * contractions, special tokens, whitespace runs) encoded and decoded by Hugging Face tokenizers 0.23.3
 * (benchmarks/tokenizer/make_hf_cases.py): both the tokenizer.json and the GGUF path must agree exactly.
 */
class HfTokenizersCasesTest {
    static List<JsonNode> cases() throws Exception {
        ObjectMapper om = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                HfTokenizersCasesTest.class.getResourceAsStream("hf_tokenizers_cases.jsonl"), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                out.add(om.readTree(line));
            }
        }
        return out;
    }

    @Test
    void tokenizerJsonAndGgufMatchHfTokenizers() throws Exception {
        Tokenizer hf = Tokenizer.fromHfFiles(Shared.tinyLlama());
        Tokenizer gg;
        try (GgufFile f = GgufFile.open(Shared.smolGguf())) {
            gg = Tokenizer.fromGgufMetadata(f.metadata());
        }
        List<JsonNode> cases = cases();
        assertThat(cases).hasSize(620);
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] ids = Shared.ints(c.get("ids"));
            assertThat(hf.encode(text)).as("tokenizer.json: %s", c.get("text")).containsExactly(ids);
            assertThat(gg.encode(text)).as("gguf: %s", c.get("text")).containsExactly(ids);
            assertThat(hf.decode(ids)).isEqualTo(c.get("decoded").asText());
            assertThat(gg.decode(ids)).isEqualTo(c.get("decoded").asText());
            Encoding enc = hf.encodeWithOffsets(text);
            assertThat(enc.ids()).containsExactly(ids);
        }
    }

    @Test
    void bytesMissingFromTheVocabularyAreDroppedLikeHf() {
        // SmolLM2's vocabulary has no token for byte 0x1D; HF tokenizers 0.23.3 encodes "a\u001Db" as [81, 82]
        Tokenizer hf = Tokenizer.fromHfFiles(Shared.tinyLlama());
        assertThat(hf.encode("a\u001Db")).containsExactly(81, 82);
        Encoding enc = hf.encodeWithOffsets("a\u001Db");
        assertThat(enc.ids()).containsExactly(81, 82);
    }
}
