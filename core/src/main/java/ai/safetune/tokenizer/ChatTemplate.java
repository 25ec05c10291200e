package ai.safetune.tokenizer;

import ai.safetune.data.Message;
import ai.safetune.data.Role;
import ai.safetune.model.TokenizerSource;
import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's own Jinja chat template, rendered with HubSpot Jinjava configured the way Hugging Face
 * configures Jinja2 for {@code apply_chat_template}: {@code trim_blocks}, {@code lstrip_blocks}, loop
 * controls ({@code break}/{@code continue}), a {@code raise_exception(msg)} function, the template's
 * final newline dropped ({@code keep_trailing_newline=False}), the Python {@code str}/{@code dict} methods
 * templates call ({@code strip}, {@code startswith}, {@code split}, {@code get}, {@code items}, ...), and the tokenizer's special tokens ({@code bos_token}, {@code eos_token}, ...) in scope.
 *
 * <p>{@link #renderWithMask} also marks the tokens of every assistant turn (its content and the special
 * token that closes it) for response-only loss; it finds the turns by rendering the conversation with
 * invisible markers around each assistant content, so it works for any template that copies the
 * content through unchanged.
 */
public final class ChatTemplate {
    /** Marks the start and end of an assistant content in the marked rendering (private-use code points). */
    private static final char OPEN = '\uE000', CLOSE = '\uE001';

    private final String template;
    /** The template as Jinja2 sees it with keep_trailing_newline=False (HF's setting). */
    private final String effectiveTemplate;
    private final String source;
    private final Tokenizer tokenizer;
    private final Jinjava jinjava;

    private ChatTemplate(String template, String source, Tokenizer tokenizer) {
        Objects.requireNonNull(template, "template");
        this.template = template;
        this.effectiveTemplate = template.endsWith("\r\n") ? template.substring(0, template.length() - 2)
                : template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
        this.source = Objects.requireNonNull(source, "source");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.jinjava = newEngine();
        // parse errors surface now, naming the source, rather than at the first render
        render(List.of(Message.user("x")), true);
    }

    /**
     * A template given as text.
     *
     * @param source where it came from, for error messages (a file path, "GGUF tokenizer.chat_template", ...)
     * @throws TokenizerException when the template does not parse or fails on a one-message chat
     */
    public static ChatTemplate of(String template, String source, Tokenizer tokenizer) {
        if (template == null || template.isBlank()) {
            throw new TokenizerException(source + ": the chat template is empty");
        }
        return new ChatTemplate(template, source, tokenizer);
    }

    /** The chat template of a model opened with {@link ai.safetune.model.ModelFiles}. */
    public static ChatTemplate from(TokenizerSource source, Tokenizer tokenizer) {
        Objects.requireNonNull(source, "source");
        if (source instanceof TokenizerSource.Gguf) {
            return fromGgufMetadata(((TokenizerSource.Gguf) source).metadata(), tokenizer);
        }
        return fromHfFiles(((TokenizerSource.HfFiles) source).directory(), tokenizer);
    }

    /**
     * The template of a Hugging Face model directory: {@code chat_template.jinja}, else
     * {@code tokenizer_config.json}'s {@code chat_template} (a string, or a list of named templates, of
     * which "default" is used).
     */
    public static ChatTemplate fromHfFiles(Path dir, Tokenizer tokenizer) {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return of(Files.readString(jinja), jinja.toString(), tokenizer);
            } catch (IOException e) {
                throw new TokenizerException(jinja + ": cannot read: " + e.getMessage(), e);
            }
        }
        Path config = dir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(config)) {
            throw new TokenizerException(dir + ": no chat template (neither chat_template.jinja nor tokenizer_config.json)");
        }
        JsonNode ct = HfTokenizerLoader.readJson(config).path("chat_template");
        String source = config + " chat_template";
        if (ct.isTextual()) {
            return of(ct.asText(), source, tokenizer);
        }
        if (ct.isArray()) {
            for (JsonNode named : ct) {
                if (named.path("name").asText().equals("default") && named.path("template").isTextual()) {
                    return of(named.get("template").asText(), source + "[default]", tokenizer);
                }
            }
            throw new TokenizerException(source + ": a list of templates without one named 'default'");
        }
        throw new TokenizerException(dir + ": no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json)");
    }

    /** The template in GGUF metadata key {@code tokenizer.chat_template}. */
    public static ChatTemplate fromGgufMetadata(Map<String, ?> metadata, Tokenizer tokenizer) {
        Object t = metadata.get("tokenizer.chat_template");
        if (t == null) {
            throw new TokenizerException(tokenizer.source() + ": no tokenizer.chat_template key in the GGUF metadata");
        }
        return of(t.toString(), "GGUF tokenizer.chat_template", tokenizer);
    }

    /** The template text. */
    public String template() {
        return template;
    }

    /** Where the template came from. */
    public String source() {
        return source;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * Renders a conversation as the model expects it.
     *
     * @param addGenerationPrompt append the header that opens the assistant's reply
     * @throws TokenizerException when the template raises (its message included) or fails
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> wire = new ArrayList<>(messages.size());
        for (Message m : messages) {
            wire.add(wireMessage(m.role(), m.content()));
        }
        return renderWire(wire, addGenerationPrompt);
    }

    /**
     * Renders and tokenizes a conversation and marks the assistant tokens: the tokens of each assistant
     * message's content and of the special token right after it (its closing end token, e.g.
     * {@code <|im_end|>}); everything else (system and user turns, role headers, separators) is 0.
     * A token counts as assistant when it overlaps such a span: one that straddles its edge (the space
     * a template puts before the content, merged with its first word) is a token the model has to produce.
     */
    public ChatEncoding renderWithMask(List<Message> messages, boolean addGenerationPrompt) {
        String rendered = render(messages, addGenerationPrompt);
        List<int[]> spans = assistantSpans(messages, addGenerationPrompt, rendered);
        Encoding enc = tokenizer.encodeWithOffsets(rendered);
        int[] mask = new int[enc.size()];
        for (int i = 0; i < mask.length; i++) {
            int start = enc.starts()[i];
            int end = enc.ends()[i];
            for (int[] span : spans) {
                if (start < span[1] && end > span[0]) {
                    mask[i] = 1;
                    break;
                }
            }
        }
        return new ChatEncoding(rendered, enc.ids(), mask);
    }

    /** Character spans [start, end) of each assistant content plus its closing special token. */
    private List<int[]> assistantSpans(List<Message> messages, boolean addGenerationPrompt, String rendered) {
        List<int[]> spans = markedSpans(messages, addGenerationPrompt, rendered);
        if (spans == null) {
            spans = searchedSpans(messages, rendered);
        }
        for (int[] span : spans) {
            span[1] += closingTokenLength(rendered, span[1]);
        }
        return spans;
    }

    /** Renders with markers around each assistant content; null when the template changes the content. */
    private List<int[]> markedSpans(List<Message> messages, boolean addGenerationPrompt, String rendered) {
        List<Map<String, Object>> wire = new ArrayList<>(messages.size());
        for (Message m : messages) {
            if (m.content().indexOf(OPEN) >= 0 || m.content().indexOf(CLOSE) >= 0) {
                return null;
            }
            String content = m.role() == Role.ASSISTANT ? OPEN + m.content() + CLOSE : m.content();
            wire.add(wireMessage(m.role(), content));
        }
        String marked = renderWire(wire, addGenerationPrompt);
        List<int[]> spans = new ArrayList<>();
        StringBuilder plain = new StringBuilder(marked.length());
        int open = -1;
        for (int i = 0; i < marked.length(); i++) {
            char c = marked.charAt(i);
            if (c == OPEN) {
                if (open >= 0) {
                    return null;
                }
                open = plain.length();
            } else if (c == CLOSE) {
                if (open < 0) {
                    return null;
                }
                spans.add(new int[] {open, plain.length()});
                open = -1;
            } else {
                plain.append(c);
            }
        }
        return open < 0 && plain.toString().equals(rendered) ? spans : null;
    }

    /** Fallback: find each message's content (or its trimmed form) in order in the rendering. */
    private List<int[]> searchedSpans(List<Message> messages, String rendered) {
        List<int[]> spans = new ArrayList<>();
        int pos = 0;
        for (int k = 0; k < messages.size(); k++) {
            Message m = messages.get(k);
            if (m.content().isEmpty()) {
                continue;
            }
            String content = m.content();
            int at = rendered.indexOf(content, pos);
            if (at < 0 && !content.strip().isEmpty()) {
                // templates commonly trim the content ("| trim", ".strip()")
                content = content.strip();
                at = rendered.indexOf(content, pos);
            }
            if (at < 0) {
                if (m.role() == Role.ASSISTANT) {
                    throw new TokenizerException(source + ": cannot find assistant message " + k
                            + " in the rendered chat (the template rewrites it), so its tokens cannot be masked");
                }
                continue;
            }
            if (m.role() == Role.ASSISTANT) {
                spans.add(new int[] {at, at + content.length()});
            }
            pos = at + content.length();
        }
        return spans;
    }

    /** Length of the special token starting at {@code at}, or 0. */
    private int closingTokenLength(String rendered, int at) {
        int best = 0;
        for (Tokenizer.AddedToken t : tokenizer.addedTokens()) {
            if (t.special() && t.content().length() > best && rendered.startsWith(t.content(), at)) {
                best = t.content().length();
            }
        }
        return best;
    }

    private static Map<String, Object> wireMessage(Role role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role.wireName());
        m.put("content", content);
        return m;
    }

    private String renderWire(List<Map<String, Object>> messages, boolean addGenerationPrompt) {
        Map<String, Object> context = new HashMap<>(tokenizer.specialTokenStrings());
        context.put("messages", messages);
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = jinjava.renderForResult(effectiveTemplate, context);
        } catch (RuntimeException e) {
            throw failure(e);
        }
        for (TemplateError err : result.getErrors()) {
            if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
                Exception ex = err.getException();
                RaisedByTemplate raised = ex == null ? null : findRaised(ex);
                if (raised != null) {
                    throw new TokenizerException("chat template " + source + " raised: " + raised.getMessage());
                }
                throw new TokenizerException("chat template " + source + " failed: " + err.getMessage()
                        + (err.getLineno() > 0 ? " (line " + err.getLineno() + ")" : ""));
            }
        }
        return result.getOutput();
    }

    private TokenizerException failure(RuntimeException e) {
        RaisedByTemplate raised = findRaised(e);
        if (raised != null) {
            return new TokenizerException("chat template " + source + " raised: " + raised.getMessage(), e);
        }
        return new TokenizerException("chat template " + source + " failed: " + e.getMessage(), e);
    }

    private static RaisedByTemplate findRaised(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof RaisedByTemplate) {
                return (RaisedByTemplate) t;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return null;
    }

    private static Jinjava newEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withElResolver(resolver)
                // Jinjava would otherwise render "{{ ... }}" found in message contents again: user data
                // must come out verbatim (as in Jinja2), never be executed as template code
                .withNestedInterpretationEnabled(false)
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // Jinja2 drops one newline at the end of the template source (done in the constructor);
                // Jinjava's own option would also drop newlines that expressions print at the end
                .withKeepTrailingNewline(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .build())
                .build();
        Jinjava engine = new Jinjava(config);
        engine.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
        return engine;
    }

    /** {@code raise_exception(msg)} in templates (public for the template engine only). */
    public static Object raiseException(String message) {
        throw new RaisedByTemplate(message);
    }

    /** Thrown by {@code raise_exception}; turned into a {@link TokenizerException} naming the template. */
    static final class RaisedByTemplate extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RaisedByTemplate(String message) {
            super(message);
        }
    }
}
