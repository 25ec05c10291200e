package ai.safetune.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The shared data folder: {@code --data-dir}, else env SAFETUNE_DATA, else {@code ../shared/data}. */
final class DataDirOption {
    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Shared data folder (default: $SAFETUNE_DATA, else ../shared/data).")
    Path dataDir;

    Path resolve() {
        if (dataDir != null) {
            return dataDir;
        }
        String env = System.getenv("SAFETUNE_DATA");
        return env != null && !env.isBlank() ? Path.of(env) : Path.of("..", "shared", "data");
    }
}
