package ai.safetune.eval.onnx;

/**
 * One generated response.
 *
 * @param generatedIds the new tokens (including a final EOS when it stopped on one)
 * @param text         the decoded response without EOS, cut before a stop string; null without a decoder
 * @param finish       why it stopped
 */
public record Generation(int[] generatedIds, String text, Finish finish) {
    public enum Finish { EOS, STOP_STRING, MAX_NEW_TOKENS }
}
