package ai.safetune.audit;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the shared read-only material lives during tests. */
final class SharedDir {
    private SharedDir() {}

    static Path data() {
        String p = System.getProperty("safetune.shared");
        Path shared = p != null ? Path.of(p) : Path.of("../shared");
        if (!Files.isDirectory(shared) && p == null) {
            shared = Path.of("../../shared");
        }
        return shared.resolve("data");
    }
}
