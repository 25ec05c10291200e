package ai.safetune.model;

import java.nio.file.Path;

/** Locates {@code ../shared} for the forward-pass tests (system property {@code safetune.shared} or a relative path). */
final class ForwardShared {
    private ForwardShared() {
    }

    static Path root() {
        String p = System.getProperty("safetune.shared");
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        Path here = Path.of("").toAbsolutePath();
        Path repo = here.getFileName() != null && here.getFileName().toString().equals("core") ? here.getParent() : here;
        return repo.resolve("../shared").normalize();
    }

    static Path reference(String name) {
        return root().resolve("reference").resolve(name);
    }

    static Path model(String name) {
        return root().resolve("models").resolve(name);
    }
}
