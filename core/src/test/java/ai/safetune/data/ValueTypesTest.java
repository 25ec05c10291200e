package ai.safetune.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ValueTypesTest {
    @Test
    void taskExampleRejectsAnswerOutsideChoices() {
        assertThatThrownBy(() -> new TaskExample("x", Optional.empty(), "q",
                List.of(new Choice("A", "a"), new Choice("B", "b")), "C", Map.of()))
                .hasMessageContaining("'C'").hasMessageContaining("[A, B]");
    }

    @Test
    void chatExampleAccessors() {
        ChatExample c = ChatExample.of("c", Message.system("s"), Message.user("u"), Message.assistant("a"));
        assertThat(c.systemPrompt()).contains("s");
        assertThat(c.firstUser()).contains("u");
        assertThat(c.lastAssistant()).contains("a");
        assertThat(Role.parse("gpt")).isEqualTo(Role.ASSISTANT);
        assertThatThrownBy(() -> Role.parse("bot")).hasMessageContaining("'bot'");
    }
}
