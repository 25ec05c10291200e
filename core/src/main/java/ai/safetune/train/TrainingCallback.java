package ai.safetune.train;

/** Hooks into a {@link FineTuner} run (progress bars, metrics files, evaluation every N steps). */
public interface TrainingCallback {
    /** Called once before the first step with the planned number of steps and the step it starts from. */
    default void onStart(int totalSteps, int startStep, TrainingData data) {
    }

    /** Called after every optimizer step. */
    default void onStep(StepMetrics metrics, LoraTrainingModel model) {
    }

    /** Called after an evaluation during training ({@link FineTuner.Builder#evaluateEvery}). */
    default void onEval(EvalMetrics metrics) {
    }

    /** Called after a checkpoint was written. */
    default void onCheckpoint(int step, java.nio.file.Path dir) {
    }
}
