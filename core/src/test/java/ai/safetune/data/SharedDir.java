package ai.safetune.data;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Where the shared read-only material is: the {@code safetune.shared} property, else ../shared. */
final class SharedDir {
    private SharedDir() {
    }

    static Path data() {
        String p = System.getProperty("safetune.shared");
        Path shared = p == null || p.isBlank() ? Path.of("../shared") : Path.of(p);
        if (!shared.resolve("data").toFile().isDirectory()) {
            // tests run from core/: the repository root is one level up
            shared = Path.of("../../shared");
        }
        return shared.resolve("data");
    }

    private static final Map<String, List<TaskExample>> TASKS = new ConcurrentHashMap<>();

    /** A shared task, loaded once per test JVM (the loaders are deterministic; the lists are immutable). */
    static List<TaskExample> task(String name) {
        return TASKS.computeIfAbsent(name, n -> SharedDatasets.task(data(), n));
    }
}
