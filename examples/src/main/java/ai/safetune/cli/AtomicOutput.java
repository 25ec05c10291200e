package ai.safetune.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes an output file whole or not at all: the body writes a sibling {@code .tmp} file, which replaces the
 * output only when the body succeeds and is deleted when it fails, so a half-written file never looks finished.
 */
final class AtomicOutput {
    @FunctionalInterface
    interface Body {
        void writeTo(Path tmp) throws IOException;
    }

    private AtomicOutput() {
    }

    static void write(Path out, Body body) throws IOException {
        Path tmp = out.toAbsolutePath().resolveSibling(out.getFileName() + ".tmp");
        try {
            body.writeTo(tmp);
        } catch (RuntimeException | IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING);
    }
}
