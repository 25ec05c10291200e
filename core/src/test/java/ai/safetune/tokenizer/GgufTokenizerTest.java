package ai.safetune.tokenizer;

import ai.safetune.data.Message;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.gguf.GgufFile;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The GGUF metadata path (the shared SmolLM2 file) against the reference and against the tokenizer.json path. */
class GgufTokenizerTest {
    static GgufFile gguf;
    static Tokenizer fromGguf;
    static Tokenizer fromHf;
    static ChatTemplate template;

    @BeforeAll
    static void load() {
        gguf = GgufFile.open(Shared.smolGguf());
        fromGguf = Tokenizer.fromGgufMetadata(gguf.metadata());
        fromHf = Tokenizer.fromHfFiles(Shared.tinyLlama());
        template = ChatTemplate.fromGgufMetadata(gguf.metadata(), fromGguf);
    }

    @AfterAll
    static void close() {
        gguf.close();
    }

    @Test
    void everyReferenceCaseMatches() {
        int n = 0;
        for (JsonNode c : Shared.tokenizerCases()) {
            if (c.get("kind").asText().equals("text")) {
                String text = c.get("text").asText();
                assertThat(fromGguf.encode(text)).as(text).containsExactly(Shared.ints(c.get("ids")));
                assertThat(fromGguf.decode(Shared.ints(c.get("ids")))).isEqualTo(c.get("decoded").asText());
            } else {
                List<Message> msgs = ChatTemplateReferenceTest.messages(c.get("messages"));
                ChatEncoding enc = template.renderWithMask(msgs, c.get("add_generation_prompt").asBoolean());
                assertThat(enc.rendered()).isEqualTo(c.get("rendered").asText());
                assertThat(enc.ids()).containsExactly(Shared.ints(c.get("ids")));
                assertThat(enc.assistantMask()).containsExactly(Shared.ints(c.get("assistant_mask")));
            }
            n++;
        }
        assertThat(n).isEqualTo(63);
    }

    @Test
    void sameVocabularyAndSpecialsAsTokenizerJson() {
        assertThat(fromGguf.vocabSize()).isEqualTo(fromHf.vocabSize());
        for (int id = 0; id < fromHf.vocabSize(); id++) {
            assertThat(fromGguf.token(id)).isEqualTo(fromHf.token(id));
            assertThat(fromGguf.isSpecial(id)).as("special %d", id).isEqualTo(fromHf.isSpecial(id));
        }
        assertThat(fromGguf.bosId()).isEqualTo(fromHf.bosId());
        assertThat(fromGguf.eosId()).isEqualTo(fromHf.eosId());
        assertThat(fromGguf.padId()).isEqualTo(fromHf.padId());
        assertThat(fromGguf.addBos()).isEqualTo(fromHf.addBos()).isFalse();
        assertThat(fromGguf.specialTokenStrings()).isEqualTo(fromHf.specialTokenStrings());
    }

    @Test
    void ggufAndHfEncodeOtherTextsIdentically() {
        // beyond the reference: the holdout kinds of text, mixed scripts, digits next to letters
        String[] texts = {"  double  spaced  text  ", "Bonjour à tous, ça va ?", "ÆØÅ æøå", "तुम कैसे हो",
            "Xin chào thế giới", "🙂🙃🤖💡", "SELECT * FROM users WHERE id = 42;", "if x:\n\tpass\nelse:\n\treturn None",
            "9999999999 0.000001 -17", "won't can't shan't y'all'd've", "<|im_start|>assistant\nSure<|im_end|>\n",
            "\r\n\r\n", "long ".repeat(30), "C++ and C# and F#", "日本語のテキストとEnglish", "   \n\t  mixed whitespace",
            "abc123def 4five", "<|endoftext|><|endoftext|>x<repo_name>y"};
        for (String t : texts) {
            int[] ids = fromGguf.encode(t);
            assertThat(ids).as(t).containsExactly(fromHf.encode(t));
            assertThat(fromGguf.decode(ids)).isEqualTo(t);
        }
    }

    @Test
    void modelFilesSourceGivesTheSameTokenizer() {
        try (ModelFiles m = ModelFiles.open(Shared.smolGguf()); ModelFiles d = ModelFiles.open(Shared.tinyLlama())) {
            Tokenizer a = Tokenizer.from(m.tokenizerSource());
            Tokenizer b = Tokenizer.from(d.tokenizerSource());
            assertThat(a.encode("Hello, world! 123")).containsExactly(b.encode("Hello, world! 123"));
            List<Message> chat = List.of(Message.user("Hi"), Message.assistant("Hello"));
            assertThat(ChatTemplate.from(m.tokenizerSource(), a).render(chat, false))
                    .isEqualTo(ChatTemplate.from(d.tokenizerSource(), b).render(chat, false));
        }
    }

    @Test
    void unsupportedOrBrokenMetadataIsNamed() {
        Map<String, Object> md = new HashMap<>(gguf.metadata());
        md.put("tokenizer.ggml.model", "llama");
        assertThatThrownBy(() -> Tokenizer.fromGgufMetadata(md)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining("tokenizer.ggml.model 'llama'");
        md.put("tokenizer.ggml.model", "gpt2");
        md.put("tokenizer.ggml.pre", "qwen2");
        assertThatThrownBy(() -> Tokenizer.fromGgufMetadata(md)).hasMessageContaining("tokenizer.ggml.pre 'qwen2'");
        md.put("tokenizer.ggml.pre", "smollm");
        md.put("tokenizer.ggml.merges", List.of("Ġ t", "nosuchtoken x"));
        assertThatThrownBy(() -> Tokenizer.fromGgufMetadata(md)).hasMessageContaining("merge 1 'nosuchtoken x'");
        md.remove("tokenizer.ggml.tokens");
        assertThatThrownBy(() -> Tokenizer.fromGgufMetadata(md)).hasMessageContaining("missing tokenizer.ggml.tokens");
        Map<String, Object> noTemplate = new HashMap<>(gguf.metadata());
        noTemplate.remove("tokenizer.chat_template");
        assertThatThrownBy(() -> ChatTemplate.fromGgufMetadata(noTemplate, fromGguf))
                .hasMessageContaining("no tokenizer.chat_template");
    }
}
