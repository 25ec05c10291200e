package ai.safetune.eval;

import java.util.SplittableRandom;

/**
 * A rate over {@code n} items with a bootstrap 95% confidence interval.
 *
 * @param n      items counted (never zero: an empty set has no rate)
 * @param count  items with the outcome
 * @param value  {@code count / n}
 * @param ciLow  2.5th percentile of the bootstrap distribution
 * @param ciHigh 97.5th percentile of the bootstrap distribution
 */
public record Proportion(int n, int count, double value, double ciLow, double ciHigh) {

    public static final int DEFAULT_RESAMPLES = 2000;

    public Proportion {
        if (n <= 0) {
            throw new IllegalArgumentException("a rate needs at least one item, got n=" + n);
        }
        if (count < 0 || count > n) {
            throw new IllegalArgumentException("count " + count + " outside [0, " + n + "]");
        }
        if (!(ciLow <= value && value <= ciHigh)) {
            throw new IllegalArgumentException("confidence interval [" + ciLow + ", " + ciHigh + "] excludes " + value);
        }
    }

    /**
     * Percentile bootstrap: resamples the outcomes with replacement {@code resamples} times from a
     * generator seeded with {@code seed}, so the same outcomes and seed always give the same interval.
     */
    public static Proportion bootstrap(boolean[] outcomes, int resamples, long seed) {
        int n = outcomes.length;
        if (n == 0) {
            throw new IllegalArgumentException("cannot compute a rate over zero items");
        }
        if (resamples < 100) {
            throw new IllegalArgumentException("need at least 100 bootstrap resamples, got " + resamples);
        }
        int count = 0;
        for (boolean o : outcomes) {
            if (o) {
                count++;
            }
        }
        double value = (double) count / n;
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] stats = new double[resamples];
        for (int b = 0; b < resamples; b++) {
            int c = 0;
            for (int i = 0; i < n; i++) {
                if (outcomes[rnd.nextInt(n)]) {
                    c++;
                }
            }
            stats[b] = (double) c / n;
        }
        java.util.Arrays.sort(stats);
        double lo = Math.min(value, percentile(stats, 0.025));
        double hi = Math.max(value, percentile(stats, 0.975));
        return new Proportion(n, count, value, lo, hi);
    }

    // Linear interpolation between order statistics (numpy's default "linear" method).
    static double percentile(double[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int i = (int) Math.floor(pos);
        int j = Math.min(i + 1, sorted.length - 1);
        return sorted[i] + (pos - i) * (sorted[j] - sorted[i]);
    }
}
