package ai.safetune.tokenizer;

/**
 * A rendered conversation, its token ids and the assistant mask (1 on the tokens of assistant turns —
 * content plus closing end token — 0 elsewhere), for response-only loss.
 */
public record ChatEncoding(String rendered, int[] ids, int[] assistantMask) {
    public ChatEncoding {
        if (ids.length != assistantMask.length) {
            throw new IllegalArgumentException("ids and assistantMask differ in length: " + ids.length + " vs " + assistantMask.length);
        }
    }
}
