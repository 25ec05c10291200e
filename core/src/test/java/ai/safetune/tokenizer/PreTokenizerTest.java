package ai.safetune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The GPT-2 split pattern, piece by piece, and the tokenizer.json pre-tokenizer variants. */
class PreTokenizerTest {
    static List<String> pieces(PreTokenizer p, String text) {
        List<String> out = new ArrayList<>();
        p.split(text, 0, text.length(), (s, e) -> out.add(text.substring(s, e)));
        return out;
    }

    @Test
    void gpt2Pattern() {
        PreTokenizer p = new PreTokenizer(false);
        assertThat(pieces(p, "I'm here  now\n\n x")).containsExactly("I", "'m", " here", " ", " now", "\n\n", " x");
        assertThat(pieces(p, "trailing   ")).containsExactly("trailing", "   ");
        assertThat(pieces(p, "a 'sb")).containsExactly("a", " '", "sb");
        assertThat(pieces(p, "x123 456")).containsExactly("x", "123", " 456");
        // U+00A0 is Unicode White_Space (Oniguruma's \s) although Java's isWhitespace says no
        assertThat(pieces(p, "a\u00a0b")).containsExactly("a", "\u00a0b".substring(0, 1), "b");
        // a combining mark is neither letter nor number: it starts a punctuation-class run
        assertThat(pieces(p, "e\u0301t")).containsExactly("e", "\u0301", "t");
        assertThat(pieces(p, "👍🏽!")).containsExactly("👍🏽!");
    }

    @Test
    void individualDigits() {
        PreTokenizer p = new PreTokenizer(true);
        assertThat(pieces(p, "x123 45")).containsExactly("x", "1", "2", "3", " ", "4", "5");
    }

    @Test
    void digitsStepInTokenizerJson() throws Exception {
        ObjectMapper om = new ObjectMapper();
        JsonNode root = HfTokenizerLoader.readJson(Shared.tinyLlama().resolve("tokenizer.json"));
        ObjectNode seq = om.createObjectNode();
        seq.put("type", "Sequence");
        seq.putArray("pretokenizers").add(om.readTree("{\"type\":\"Digits\",\"individual_digits\":true}"))
                .add(root.get("pre_tokenizer"));
        ((ObjectNode) root).set("pre_tokenizer", seq);
        Tokenizer digits = HfTokenizerLoader.build(root, null, "digits test");
        assertThat(digits.splitsDigits()).isTrue();
        // Roman numerals are numbers (Nl): one piece each, so no merge joins their bytes across characters
        int[] both = digits.encode("ⅶⅪ");
        int[] a = digits.encode("ⅶ");
        int[] b = digits.encode("Ⅺ");
        assertThat(both).hasSize(a.length + b.length);
        assertThat(digits.decode(both)).isEqualTo("ⅶⅪ");

        ((ObjectNode) root).set("pre_tokenizer", om.readTree("{\"type\":\"Metaspace\"}"));
        assertThatThrownBy(() -> HfTokenizerLoader.build(root, null, "metaspace test"))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("metaspace test")
                .hasMessageContaining("Metaspace");
    }
}
