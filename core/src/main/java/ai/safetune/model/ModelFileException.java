package ai.safetune.model;

import java.nio.file.Path;

/**
 * A model file (GGUF, safetensors, {@code config.json}) is malformed, truncated or unsupported.
 * The message always starts with the file and says what was expected.
 */
public class ModelFileException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    public ModelFileException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    public ModelFileException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
        this.file = file;
    }

    /** The offending file. */
    public Path file() {
        return file;
    }
}
