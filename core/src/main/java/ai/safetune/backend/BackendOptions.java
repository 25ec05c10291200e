package ai.safetune.backend;

/**
 * Options for creating a backend.
 *
 * @param threads worker threads for a CPU backend; 0 = {@code -Dsafetune.threads} if set, else all cores
 */
public record BackendOptions(int threads) {
    public BackendOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + threads);
        }
    }

    public static BackendOptions defaults() {
        return new BackendOptions(0);
    }

    /** The thread count to use: explicit, else {@code safetune.threads}, else the available processors. */
    public int resolvedThreads() {
        if (threads > 0) {
            return threads;
        }
        String prop = System.getProperty("safetune.threads");
        if (prop != null && !prop.isBlank()) {
            try {
                int t = Integer.parseInt(prop.trim());
                if (t > 0) {
                    return t;
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-Dsafetune.threads must be a positive integer, got '" + prop + "'", e);
            }
            throw new IllegalArgumentException("-Dsafetune.threads must be a positive integer, got '" + prop + "'");
        }
        return Runtime.getRuntime().availableProcessors();
    }
}
