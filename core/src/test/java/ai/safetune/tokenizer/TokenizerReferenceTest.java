package ai.safetune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The HF tokenizer.json path against the independent reference ids and decodings. */
class TokenizerReferenceTest {
    static Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Tokenizer.fromHfFiles(Shared.tinyLlama());
    }

    @TestFactory
    Stream<DynamicTest> textCasesMatchHuggingFace() {
        return Shared.tokenizerCases().stream().filter(c -> c.get("kind").asText().equals("text"))
                .map(c -> DynamicTest.dynamicTest("text " + c.get("text").toString(), () -> {
                    String text = c.get("text").asText();
                    int[] ids = tok.encode(text);
                    assertThat(ids).as("ids of %s", text).containsExactly(Shared.ints(c.get("ids")));
                    assertThat(tok.decode(ids)).isEqualTo(c.get("decoded").asText());
                }));
    }

    @Test
    void referenceHasAllCases() {
        assertThat(Shared.tokenizerCases().stream().filter(c -> c.get("kind").asText().equals("text"))).hasSize(57);
    }

    @Test
    void modelFacts() {
        assertThat(tok.vocabSize()).isEqualTo(49152);
        assertThat(tok.bosId()).isEqualTo(1);
        assertThat(tok.eosId()).isEqualTo(2);
        assertThat(tok.padId()).isEqualTo(2);
        assertThat(tok.unkId()).isEqualTo(0);
        assertThat(tok.addBos()).isFalse();
        assertThat(tok.token(1)).isEqualTo("<|im_start|>");
        assertThat(tok.isSpecial(2)).isTrue();
        assertThat(tok.tokenId("<|im_end|>")).hasValue(2);
    }

    @Test
    void specialTokensCanBeEncodedAsText() {
        int[] asText = tok.encode("<|im_end|>", false, false);
        assertThat(asText).hasSizeGreaterThan(1).doesNotContain(2);
        assertThat(tok.decode(asText)).isEqualTo("<|im_end|>");
        assertThat(tok.encode("<|im_end|>", false, true)).containsExactly(2);
    }

    @Test
    void decodeSkipsSpecialTokensOnRequest() {
        int[] ids = tok.encode("<|im_start|>user\nHi<|im_end|>");
        assertThat(tok.decode(ids, true)).isEqualTo("user\nHi");
    }

    @Test
    void offsetsCoverTheTextInOrder() {
        String text = "Hé 👨‍👩‍👧 <|im_end|> 123";
        Encoding enc = tok.encodeWithOffsets(text);
        assertThat(enc.ids()).containsExactly(tok.encode(text));
        assertThat(enc.starts()[0]).isZero();
        assertThat(enc.ends()[enc.size() - 1]).isEqualTo(text.length());
        for (int i = 0; i < enc.size(); i++) {
            assertThat(enc.starts()[i]).isLessThan(enc.ends()[i]);
            if (i > 0) {
                assertThat(enc.starts()[i]).isGreaterThanOrEqualTo(enc.starts()[i - 1]);
            }
        }
        int special = indexOf(enc.ids(), 2);
        assertThat(text.substring(enc.starts()[special], enc.ends()[special])).isEqualTo("<|im_end|>");
    }

    @Test
    void badIdsAreRejectedWithTheId() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> tok.decode(new int[] {5, 49152}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("49152");
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }
}
