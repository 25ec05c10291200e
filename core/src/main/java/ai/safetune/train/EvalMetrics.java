package ai.safetune.train;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One evaluation during training.
 *
 * @param step      index of the optimizer step after which it ran (the {@link StepMetrics#step()} it follows)
 * @param evaluator what evaluated (engine, judge, decoding), for the metrics file
 * @param values    named results in a stable order, e.g. {@code advbench/asr -> 0.96}
 * @param seconds   wall time of the evaluation
 */
public record EvalMetrics(int step, String evaluator, Map<String, Double> values, double seconds) {
    public EvalMetrics {
        Objects.requireNonNull(evaluator, "evaluator");
        values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
        if (values.isEmpty()) {
            throw new IllegalArgumentException("an evaluation must report at least one value");
        }
    }
}
