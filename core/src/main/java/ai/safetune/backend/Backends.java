package ai.safetune.backend;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/** Finds backends through {@link ServiceLoader} and picks one. */
public final class Backends {
    private static final Logger LOG = LoggerFactory.getLogger(Backends.class);

    /** System property that forces a backend by name. */
    public static final String PROPERTY = "safetune.backend";
    /** Environment variable that forces a backend by name (the property wins). */
    public static final String ENV = "SAFETUNE_BACKEND";

    private Backends() {
    }

    /** Every provider on the class path, highest priority first. */
    public static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(list::add);
        list.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return list;
    }

    /** {@link #select(BackendOptions)} with default options. */
    public static Backend select() {
        return select(BackendOptions.defaults());
    }

    /**
     * The backend named by {@code options.backend()} if set, else the one forced by {@code -Dsafetune.backend} or
     * {@code SAFETUNE_BACKEND}, else the available provider with the highest priority. Logs the choice and why
     * others were skipped.
     *
     * @throws IllegalStateException if the named or forced backend is unknown or unavailable (with its reason)
     */
    public static Backend select(BackendOptions options) {
        String forced = options.backend();
        String source = "the backend option";
        if (forced == null) {
            forced = System.getProperty(PROPERTY);
            source = "-D" + PROPERTY;
        }
        if (forced == null || forced.isBlank()) {
            forced = System.getenv(ENV);
            source = ENV;
        }
        List<BackendProvider> providers = providers();
        if (forced != null && !forced.isBlank()) {
            String name = forced.trim().toLowerCase(Locale.ROOT);
            for (BackendProvider p : providers) {
                if (p.name().equals(name)) {
                    BackendProvider.Availability a = p.availability();
                    if (!a.available()) {
                        throw new IllegalStateException("backend '" + name + "' forced by " + source
                                + " is not available: " + a.reason());
                    }
                    Backend b = p.create(options);
                    LOG.info("backend: {} (forced by {}): {}", name, source, b.description());
                    return b;
                }
            }
            throw new IllegalStateException("backend '" + name + "' forced by " + source + " is unknown; known: "
                    + providers.stream().map(BackendProvider::name).toList());
        }
        for (BackendProvider p : providers) {
            BackendProvider.Availability a = p.availability();
            if (a.available()) {
                Backend b = p.create(options);
                LOG.info("backend: {}: {}", p.name(), b.description());
                return b;
            }
            LOG.info("backend {} skipped: {}", p.name(), a.reason());
        }
        throw new IllegalStateException("no backend available; providers: "
                + providers.stream().map(BackendProvider::name).toList());
    }
}
