package ai.safetune.train;

import java.nio.file.Path;

final class TrainShared {
    private TrainShared() {
    }

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    static Path reference(String rel) {
        return shared().resolve("reference").resolve(rel);
    }
}
