package ai.safetune.model;

/**
 * Shape and numerics of a Llama-family decoder, read from GGUF metadata or an HF {@code config.json}.
 *
 * @param vocabSize         number of token ids
 * @param hiddenSize        model width
 * @param intermediateSize  SwiGLU MLP width
 * @param numLayers         decoder blocks
 * @param numHeads          query heads
 * @param numKvHeads        key/value heads (grouped-query attention when fewer than {@code numHeads})
 * @param headDim           width of one head
 * @param ropeTheta         RoPE base frequency
 * @param rmsNormEps        RMSNorm epsilon
 * @param maxPositions      context length the model was trained for
 * @param tieWordEmbeddings whether the output head reuses the token embedding
 */
public record ModelConfig(int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                          int numKvHeads, int headDim, double ropeTheta, double rmsNormEps, int maxPositions,
                          boolean tieWordEmbeddings) {
    public ModelConfig {
        positive("vocabSize", vocabSize);
        positive("hiddenSize", hiddenSize);
        positive("intermediateSize", intermediateSize);
        positive("numLayers", numLayers);
        positive("numHeads", numHeads);
        positive("numKvHeads", numKvHeads);
        positive("headDim", headDim);
        positive("maxPositions", maxPositions);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("numHeads " + numHeads + " is not a multiple of numKvHeads " + numKvHeads);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim must be even for RoPE, got " + headDim);
        }
        if (!(ropeTheta > 0) || !(rmsNormEps > 0)) {
            throw new IllegalArgumentException("ropeTheta and rmsNormEps must be > 0, got " + ropeTheta + ", " + rmsNormEps);
        }
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, got " + v);
        }
    }
}
