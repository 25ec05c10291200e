package ai.safetune.train;

/**
 * One tokenized training conversation.
 *
 * @param id             the source example's id
 * @param ids            token ids (possibly truncated to the maximum sequence length)
 * @param labels         the token id where the loss applies, −100 elsewhere (HF convention, unshifted)
 * @param originalLength token count before truncation
 */
public record TrainingExample(String id, int[] ids, int[] labels, int originalLength) {
    public TrainingExample {
        if (ids.length != labels.length) {
            throw new IllegalArgumentException(id + ": ids and labels differ in length");
        }
        if (ids.length == 0) {
            throw new IllegalArgumentException(id + ": renders to no tokens");
        }
    }

    public boolean truncated() {
        return originalLength > ids.length;
    }

    /** Tokens the loss is computed on (labels of positions 1.., since position 0 is never predicted). */
    public int lossTokens() {
        int n = 0;
        for (int i = 1; i < labels.length; i++) {
            if (labels[i] >= 0) {
                n++;
            }
        }
        return n;
    }
}
