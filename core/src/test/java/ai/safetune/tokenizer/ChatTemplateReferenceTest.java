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
        Tokenizer tok = Tokenizer.fromHfFiles(Shared.tinyLlama());
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

    @Test
    void sixChatCases() {
        assertThat(Shared.tokenizerCases().stream().filter(c -> c.get("kind").asText().equals("chat"))).hasSize(6);
    }
}
