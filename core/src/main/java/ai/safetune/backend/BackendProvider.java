package ai.safetune.backend;

/**
 * Service-provider interface, found with {@link java.util.ServiceLoader}: list implementations in
 * {@code META-INF/services/ai.safetune.backend.BackendProvider}. {@link Backends#select} picks the available
 * provider with the highest priority unless one is forced.
 */
public interface BackendProvider {
    /** Name used to force it: {@code -Dsafetune.backend=NAME} or {@code SAFETUNE_BACKEND=NAME}. */
    String name();

    /** Higher wins among available providers (CPU is 0). */
    int priority();

    /** Whether it can run here; cheap and without side effects beyond probing (no exceptions). */
    Availability availability();

    Backend create(BackendOptions options);

    /** @param reason why not, when unavailable (e.g. "no CUDA driver") */
    record Availability(boolean available, String reason) {
        public static Availability yes() {
            return new Availability(true, "available");
        }

        public static Availability no(String reason) {
            return new Availability(false, reason);
        }
    }
}
