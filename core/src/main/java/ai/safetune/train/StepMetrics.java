package ai.safetune.train;

/**
 * What one optimizer step measured (written as one JSON line by {@code --metrics-out}).
 *
 * @param step         optimizer step, from 0
 * @param epoch        fractional epoch reached after this step
 * @param loss         mean token loss of this step's batch before the update
 * @param gradNorm     total gradient L2 norm before clipping
 * @param lr           learning rate used for the update
 * @param lossTokens   tokens the loss was computed on
 * @param seqTokens    tokens processed (padding excluded)
 * @param tokensPerSec processed tokens per second for this step
 * @param elapsedSec   seconds since the run (or the resumed run) started
 */
public record StepMetrics(int step, double epoch, double loss, double gradNorm, double lr, int lossTokens,
                          int seqTokens, double tokensPerSec, double elapsedSec) {
}
