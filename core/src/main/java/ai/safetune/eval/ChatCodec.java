package ai.safetune.eval;

import ai.safetune.data.Message;
import java.util.List;
import java.util.Set;

/**
 * What evaluation needs from a model's tokenizer and chat template. Kept to these few methods so any
 * tokenizer (the project's own, or a user's) can drive an evaluation.
 */
public interface ChatCodec {

    /** The chat rendered with the model's template and tokenized (special tokens matched, no extra BOS). */
    int[] encodeChat(List<Message> messages, boolean addGenerationPrompt);

    /** Plain text, no special tokens added. */
    int[] encode(String text);

    /** Ids to text, special tokens dropped. */
    String decode(int[] ids);

    /** Tokens that end an assistant turn. */
    Set<Integer> eosIds();

    /** A token id to put on padding positions (masked out). */
    int padId();
}
