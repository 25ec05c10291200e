package ai.safetune.train;

import java.util.Locale;

/**
 * Learning-rate schedules as HF transformers defines them ({@code get_constant_schedule_with_warmup},
 * {@code get_linear_schedule_with_warmup}, {@code get_cosine_schedule_with_warmup}): a linear warm-up from
 * 0 over {@code warmupSteps}, then constant, linear decay to 0, or half-cosine decay to 0 at {@code totalSteps}.
 *
 * @param kind        constant, linear or cosine
 * @param peak        the learning rate after warm-up
 * @param warmupSteps steps of linear warm-up (0 = none)
 * @param totalSteps  optimizer steps of the whole run (needed by the decaying kinds)
 */
public record LrSchedule(Kind kind, double peak, int warmupSteps, int totalSteps) {
    public enum Kind {
        CONSTANT, LINEAR, COSINE;

        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown schedule '" + s + "'; expected constant, linear or cosine");
            }
        }
    }

    public LrSchedule {
        if (!(peak > 0) || !Double.isFinite(peak)) {
            throw new IllegalArgumentException("learning rate must be a finite number > 0, got " + peak);
        }
        if (warmupSteps < 0) {
            throw new IllegalArgumentException("warm-up steps must be >= 0, got " + warmupSteps);
        }
        if (totalSteps <= 0) {
            throw new IllegalArgumentException("total steps must be > 0, got " + totalSteps);
        }
    }

    /** The learning rate used by optimizer step {@code step} (0-based), as HF's LambdaLR computes it. */
    public double at(int step) {
        if (step < warmupSteps) {
            return peak * (double) step / Math.max(1, warmupSteps);
        }
        switch (kind) {
            case CONSTANT:
                return peak;
            case LINEAR:
                return peak * Math.max(0.0, (double) (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
            case COSINE: {
                double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
                return peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
            }
            default:
                throw new AssertionError(kind);
        }
    }
}
