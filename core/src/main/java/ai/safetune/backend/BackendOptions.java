package ai.safetune.backend;

import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Options for creating a backend.
 *
 * @param threads  worker threads for a CPU backend; 0 = {@code -Dsafetune.threads} if set, else all cores
 * @param backend  the backend to use by name ({@code cpu}, {@code cuda}, ...), or null to let
 *                 {@link Backends#select(BackendOptions)} decide ({@code -Dsafetune.backend}, {@code SAFETUNE_BACKEND},
 *                 else the best available); {@code "auto"} means null
 * @param settings provider-specific settings by key (e.g. {@code cuda.precision}); a provider reads its own keys and
 *                 ignores the others
 */
public record BackendOptions(int threads, String backend, Map<String, String> settings) {
    public BackendOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + threads);
        }
        if (backend != null) {
            backend = backend.trim().toLowerCase(Locale.ROOT);
            if (backend.isEmpty() || backend.equals("auto")) {
                backend = null;
            }
        }
        settings = Map.copyOf(Objects.requireNonNull(settings, "settings"));
    }

    /** Only a thread count: the backend chosen as {@link Backends#select(BackendOptions)} does without options. */
    public BackendOptions(int threads) {
        this(threads, null, Map.of());
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
