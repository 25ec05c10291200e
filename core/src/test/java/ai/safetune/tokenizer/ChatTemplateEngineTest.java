package ai.safetune.tokenizer;

import ai.safetune.data.Message;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Jinja features other models' templates use. Expected strings were rendered by Python Jinja2 3.1.6 set up
 * as Hugging Face sets it up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
 * raise_exception), with bos_token "&lt;|im_start|&gt;" and eos_token "&lt;|im_end|&gt;".
 */
class ChatTemplateEngineTest {
    static Tokenizer tok;

    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
    static final String BLOCKS = "{%- for message in messages %}\n    {% if message.role == 'system' %}\n        {% continue %}\n    {% endif %}\n<{{ message.role }}>{{ message.content }}\n    {% if loop.index >= 4 %}\n        {% break %}\n    {% endif %}\n{% endfor %}\n{% if add_generation_prompt %}\n<assistant>\n{% endif %}\n";

    static final List<Message> FIVE = List.of(Message.system("sys"), Message.user("  Hi there \n"),
            Message.assistant("Hello!"), Message.user("Bye"), Message.assistant("ciao"));
    static final List<Message> FOUR = FIVE.subList(1, 5);

    @BeforeAll
    static void load() {
        tok = Tokenizer.fromHfFiles(Shared.tinyLlama());
    }

    @Test
    void escapesFiltersAndSetLikeLlama3() {
        ChatTemplate t = ChatTemplate.of(LLAMA3, "llama3 test", tok);
        assertThat(t.render(FIVE, true)).isEqualTo("<|im_start|><|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nciao<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThat(t.render(FOUR, false)).isEqualTo("<|im_start|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nciao<|eot_id|>");
    }

    @Test
    void raiseExceptionNamesTheTemplateAndItsMessage() {
        ChatTemplate t = ChatTemplate.of(MISTRAL, "mistral test", tok);
        assertThat(t.render(FOUR, false)).isEqualTo("<|im_start|>[INST]   Hi there \n [/INST]Hello!<|im_end|>[INST] Bye [/INST]ciao<|im_end|>");
        assertThatThrownBy(() -> t.render(FIVE, true)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining("mistral test")
                .hasMessageContaining("Conversation roles must alternate user/assistant/user/assistant/...");
    }

    @Test
    void trimAndLstripBlocksWithLoopControls() {
        ChatTemplate t = ChatTemplate.of(BLOCKS, "blocks test", tok);
        assertThat(t.render(FIVE, true)).isEqualTo("<user>  Hi there \n\n<assistant>Hello!\n<user>Bye\n<assistant>\n");
        assertThat(t.render(FOUR, true)).isEqualTo("<user>  Hi there \n\n<assistant>Hello!\n<user>Bye\n<assistant>ciao\n<assistant>\n");
        assertThat(t.render(FIVE, false)).isEqualTo("<user>  Hi there \n\n<assistant>Hello!\n<user>Bye\n");
        assertThat(t.render(FOUR, false)).isEqualTo("<user>  Hi there \n\n<assistant>Hello!\n<user>Bye\n<assistant>ciao\n");
    }

    @Test
    void maskFollowsAssistantContentInOtherTemplates() {
        // the mistral layout closes assistant turns with eos: content + <|im_end|> are masked
        ChatEncoding enc = ChatTemplate.of(MISTRAL, "mistral test", tok).renderWithMask(FOUR, false);
        assertThat(maskedText(enc)).isEqualTo("Hello!<|im_end|>ciao<|im_end|>");
        assertThat(enc.ids()).containsExactly(tok.encode(enc.rendered()));
    }

    @Test
    void maskFallsBackToSearchingWhenTheTemplateRewritesContent() {
        // "| trim" cannot see the whitespace inside the markers, so the marked rendering differs from the
        // plain one and the trimmed content is found by search instead
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{{ m.role + ': ' + m.content | trim + eos_token }}{% endfor %}",
                "trim test", tok);
        ChatEncoding enc = t.renderWithMask(List.of(Message.user("Hi"), Message.assistant(" Yo ")), false);
        assertThat(enc.rendered()).isEqualTo("user: Hi<|im_end|>assistant: Yo<|im_end|>");
        // " Yo" straddles the content's start: it is the token the model must produce, so it is masked
        assertThat(maskedText(enc)).isEqualTo(" Yo<|im_end|>");
    }

    @Test
    void maskFollowsContentTheTemplateTransforms() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{{ m.role }}:\n{{ m.content | upper }}\n{% endfor %}", "upper.jinja", tok);
        ChatEncoding enc = t.renderWithMask(List.of(Message.user("a"), Message.assistant("bc")), false);
        assertThat(enc.rendered()).isEqualTo("user:\nA\nassistant:\nBC\n");
        assertThat(maskedText(enc)).isEqualTo("BC");
    }

    @Test
    void templateThatScramblesAssistantContentCannotBeMasked() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{{ m.content | reverse }}{% endfor %}", "reverse.jinja", tok);
        assertThat(t.render(List.of(Message.user("a"), Message.assistant("bc")), false)).isEqualTo("acb");
        assertThatThrownBy(() -> t.renderWithMask(List.of(Message.user("a"), Message.assistant("bc")), false))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("reverse.jinja")
                .hasMessageContaining("assistant message 1");
    }

    private static String maskedText(ChatEncoding enc) {
        StringBuilder masked = new StringBuilder();
        for (int i = 0; i < enc.ids().length; i++) {
            if (enc.assistantMask()[i] == 1) {
                masked.append(tok.decode(new int[] {enc.ids()[i]}));
            }
        }
        return masked.toString();
    }

    @Test
    void pythonStringAndDictMethods() {
        String tpl = "{% for m in messages %}{{ m.role.upper() }}:{{ m.content.strip() }}|{{ m.content.lstrip() }}|{{ m.content.rstrip('\\n ') }}|{{ m.content.split() | length }}|{{ m.content.split('l', 1) | join('/') }}|{{ 'S' if m.role.startswith(('sys', 'x')) else '-' }}{{ 'E' if m.content.endswith('\\n') else '-' }}|{{ m.get('name', 'anon') }}|{% for k, v in m.items() %}{{ k }}{% endfor %}\n{% endfor %}";
        ChatTemplate t = ChatTemplate.of(tpl, "python methods test", tok);
        String out = t.render(List.of(Message.system("sys prompt"), Message.user(" Hi\n"), Message.assistant("Hello world ")), false);
        assertThat(out).isEqualTo("SYSTEM:sys prompt|sys prompt|sys prompt|2|sys prompt|S-|anon|rolecontentUSER:Hi|Hi\n| Hi|1| Hi\n|-E|anon|rolecontentASSISTANT:Hello world|Hello world |Hello world|2|He/lo world |--|anon|rolecontent");
    }

    @Test
    void contentIsDataNeverTemplateCode() throws Exception {
        ChatTemplate t = ChatTemplate.fromHfFiles(Shared.tinyLlama(), tok);
        String tricky = "{{ 7*7 }} {% if true %}x{% endif %} {# c #} \\n '\"";
        String rendered = t.render(List.of(Message.user(tricky)), false);
        assertThat(rendered).contains("<|im_start|>user\n" + tricky + "<|im_end|>\n");
    }

    @Test
    void brokenTemplatesFailWithTheirSource() {
        assertThatThrownBy(() -> ChatTemplate.of("{% for m in messages %}{{ m.content }}", "unclosed.jinja", tok))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("unclosed.jinja");
        assertThatThrownBy(() -> ChatTemplate.of("{% frobnicate %}", "unknown-tag.jinja", tok))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("unknown-tag.jinja");
        assertThatThrownBy(() -> ChatTemplate.of("  ", "blank.jinja", tok))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("blank.jinja");
        assertThatThrownBy(() -> ChatTemplate.of("{{ raise_exception('no chats here') }}", "raising.jinja", tok))
                .isInstanceOf(TokenizerException.class).hasMessageContaining("raising.jinja").hasMessageContaining("no chats here");
    }
}
