package ai.safetune.eval;

import ai.safetune.data.Message;
import ai.safetune.eval.onnx.Generation;
import ai.safetune.eval.onnx.GenerationConfig;
import ai.safetune.eval.onnx.OrtEvaluator;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Responses from a model on ONNX Runtime: each prompt is rendered as a single user turn with the model's own
 * chat template (its default system prompt included, as HF's {@code apply_chat_template} does).
 */
public final class OrtChatGenerator implements ResponseGenerator {
    private final OrtEvaluator ort;
    private final ChatCodec codec;
    private final GenerationConfig config;
    private java.util.function.BiConsumer<Integer, Integer> progress = (done, total) -> { };

    public OrtChatGenerator(OrtEvaluator ort, ChatCodec codec, GenerationConfig config) {
        this.ort = Objects.requireNonNull(ort, "ort");
        this.codec = Objects.requireNonNull(codec, "codec");
        this.config = Objects.requireNonNull(config, "config");
    }

    /** Called with (prompts done, prompts total) after each batch. */
    public OrtChatGenerator onProgress(java.util.function.BiConsumer<Integer, Integer> listener) {
        this.progress = Objects.requireNonNull(listener, "listener");
        return this;
    }

    @Override
    public String describe() {
        return "onnxruntime " + ort.precision().name().toLowerCase(java.util.Locale.ROOT) + ", " + (config.greedy() ? "greedy" : "sampled T=" + config.temperature() + " top-p=" + config.topP())
                + ", batch " + config.batchSize() + ", " + config.maxNewTokens() + " new tokens";
    }

    @Override
    public List<String> respondChats(List<List<Message>> chats) {
        List<int[]> ids = new ArrayList<>(chats.size());
        for (List<Message> chat : chats) {
            ids.add(codec.encodeChat(chat, true));
        }
        List<Generation> gens = ort.generate(ids, config, codec::decode, n -> progress.accept(n, ids.size()));
        List<String> out = new ArrayList<>(gens.size());
        for (Generation g : gens) {
            out.add(g.text());
        }
        return out;
    }
}
