package ai.safetune.train;

/**
 * Evaluates the adapter as trained so far, called by {@link FineTuner} every N optimizer steps (see
 * {@link FineTuner.Builder#evaluateEvery}). Implementations own whatever model copy they evaluate on; the
 * trainer hands over the adapter only, so the evaluation cannot disturb training state.
 */
@FunctionalInterface
public interface TrainingEvaluator {
    /**
     * @param stepsDone optimizer steps completed when this adapter was taken
     * @param adapter   the current adapter (a snapshot; safe to keep)
     */
    EvalMetrics evaluate(int stepsDone, PeftAdapter adapter);
}
