package ai.safetune.data;

import java.nio.file.Path;

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
}
