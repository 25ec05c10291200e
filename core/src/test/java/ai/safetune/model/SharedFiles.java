package ai.safetune.model;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code ../shared} for tests (surefire sets {@code safetune.shared}). */
public final class SharedFiles {
    private SharedFiles() {
    }

    public static Path shared() {
        String p = System.getProperty("safetune.shared");
        Path dir = p != null ? Path.of(p) : Path.of("../shared");
        if (!Files.isDirectory(dir)) {
            dir = Path.of("../../shared"); // running from inside core/
        }
        return dir;
    }

    public static Path smolGguf() {
        return shared().resolve("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    }

    public static Path tinyLlama() {
        return shared().resolve("models/tiny-llama");
    }
}
