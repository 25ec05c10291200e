package ai.safetune.tokenizer;

import ai.safetune.data.Message;
import ai.safetune.data.Role;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The model's own chat template (tiny-llama's chat_template.jinja) against the reference renderings and masks. */
class ChatTemplateReferenceTest {
    static ChatTemplate template;

    @BeforeAll
    static void load() {
        Tokenizer tok = Shared.tinyTokenizer();
        template = ChatTemplate.fromHfFiles(Shared.tinyLlama(), tok);
    }

    static List<Message> messages(JsonNode array) {
        List<Message> out = new ArrayList<>();
        for (JsonNode m : array) {
            out.add(new Message(Role.parse(m.get("role").asText()), m.get("content").asText()));
        }
        return out;
    }

    @TestFactory
    Stream<DynamicTest> chatCasesMatchHuggingFace() {
        return Shared.tokenizerCases().stream().filter(c -> c.get("kind").asText().equals("chat"))
                .map(c -> DynamicTest.dynamicTest("chat " + c.get("messages").toString(), () -> {
                    List<Message> msgs = messages(c.get("messages"));
                    boolean gen = c.get("add_generation_prompt").asBoolean();
                    assertThat(template.render(msgs, gen)).isEqualTo(c.get("rendered").asText());
                    ChatEncoding enc = template.renderWithMask(msgs, gen);
                    assertThat(enc.rendered()).isEqualTo(c.get("rendered").asText());
                    assertThat(enc.ids()).containsExactly(Shared.ints(c.get("ids")));
                    assertThat(enc.assistantMask()).containsExactly(Shared.ints(c.get("assistant_mask")));
                }));
    }

    /** More chats (the reference's hold-out kind, edge whitespace) rendered by Jinja2 + HF tokenizers: make_hf_chat_cases.py. */
    @TestFactory
    Stream<DynamicTest> jinja2AndHfTokenizersChats() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        List<JsonNode> cases = new ArrayList<>();
        try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(
                getClass().getResourceAsStream("hf_chat_cases.jsonl"), java.nio.charset.StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                cases.add(om.readTree(line));
            }
        }
        assertThat(cases).hasSize(4);
        return cases.stream().map(c -> DynamicTest.dynamicTest("chat " + c.get("messages").toString(), () -> {
            ChatEncoding enc = template.renderWithMask(messages(c.get("messages")), c.get("add_generation_prompt").asBoolean());
            assertThat(enc.rendered()).isEqualTo(c.get("rendered").asText());
            assertThat(enc.ids()).containsExactly(Shared.ints(c.get("ids")));
            assertThat(enc.assistantMask()).containsExactly(Shared.ints(c.get("assistant_mask")));
        }));
    }

    @Test
    void sixChatCases() {
        assertThat(Shared.tokenizerCases().stream().filter(c -> c.get("kind").asText().equals("chat"))).hasSize(6);
    }
}
