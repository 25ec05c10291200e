package ai.safetune.eval;

/** Log-probabilities from a row of logits, shared by the ONNX Runtime and Java-forward scorers. */
public final class LogProbs {
    private LogProbs() {
    }

    /** {@code log softmax(logits[off .. off+v))[target]}, in double with the max subtracted first. */
    public static double logSoftmaxAt(float[] logits, int off, int v, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) {
            max = Math.max(max, logits[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < v; i++) {
            sum += Math.exp(logits[off + i] - max);
        }
        return logits[off + target] - max - Math.log(sum);
    }
}
