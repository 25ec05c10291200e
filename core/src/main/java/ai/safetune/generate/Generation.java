package ai.safetune.generate;

/**
 * One prompt's result.
 *
 * @param promptIds    the prompt as given
 * @param generatedIds new tokens, including the stop token that ended it
 * @param stopReason   why it ended
 */
public record Generation(int[] promptIds, int[] generatedIds, StopReason stopReason) {
    /** Why generation of a row ended. */
    public enum StopReason { STOP_TOKEN, STOP_STRING, MAX_NEW_TOKENS }
}
