package ai.safetune.eval;

import ai.safetune.data.Message;
import ai.safetune.model.ModelFiles;
import ai.safetune.model.TokenizerSource;
import ai.safetune.tokenizer.ChatTemplate;
import ai.safetune.tokenizer.Tokenizer;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/** {@link ChatCodec} over the project's tokenizer and the model's own chat template. */
public final class TokenizerChatCodec implements ChatCodec {
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final Set<Integer> eos;
    private final int pad;

    public TokenizerChatCodec(Tokenizer tokenizer, ChatTemplate template) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.template = Objects.requireNonNull(template, "template");
        Set<Integer> e = new HashSet<>();
        if (tokenizer.eosId() >= 0) {
            e.add(tokenizer.eosId());
        }
        // ChatML turns end with <|im_end|> even when the tokenizer's EOS is another token
        tokenizer.tokenId("<|im_end|>").ifPresent(e::add);
        if (e.isEmpty()) {
            throw new IllegalArgumentException(tokenizer.source() + ": the tokenizer has no EOS token; cannot tell where a response ends");
        }
        this.eos = Set.copyOf(e);
        this.pad = tokenizer.padId() >= 0 ? tokenizer.padId() : e.iterator().next();
    }

    /** The tokenizer and chat template of a model file or directory. */
    public static TokenizerChatCodec of(ModelFiles files) {
        TokenizerSource src = files.tokenizerSource();
        if (src instanceof TokenizerSource.Gguf g) {
            Tokenizer t = Tokenizer.fromGgufMetadata(g.metadata());
            if (g.chatTemplate().isEmpty()) {
                throw new IllegalArgumentException(g.file() + " has no tokenizer.chat_template; evaluation renders prompts as chats");
            }
            return new TokenizerChatCodec(t, ChatTemplate.fromGgufMetadata(g.metadata(), t));
        }
        TokenizerSource.HfFiles h = (TokenizerSource.HfFiles) src;
        if (h.tokenizerJson().isEmpty()) {
            throw new IllegalArgumentException("model directory " + h.directory() + " has no tokenizer.json");
        }
        Tokenizer t = Tokenizer.fromHfFiles(h.directory());
        return new TokenizerChatCodec(t, ChatTemplate.fromHfFiles(h.directory(), t));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int[] encodeChat(List<Message> messages, boolean addGenerationPrompt) {
        return tokenizer.encode(template.render(messages, addGenerationPrompt), false, true);
    }

    @Override
    public int[] encode(String text) {
        return tokenizer.encode(text, false, false);
    }

    @Override
    public String decode(int[] ids) {
        return tokenizer.decode(ids, true);
    }

    @Override
    public Set<Integer> eosIds() {
        return eos;
    }

    @Override
    public int padId() {
        return pad;
    }
}
