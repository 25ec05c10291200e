package ai.safetune.attack;

import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import java.nio.file.Path;
import java.util.List;

/** Test access to ../shared/data (surefire sets {@code safetune.shared}). */
public final class TestTasks {
    private TestTasks() {
    }

    public static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    public static Path data() {
        return shared().resolve("data");
    }

    public static List<TaskExample> gsm8k(String split) {
        return SharedDatasets.task(data(), split.equals("test") ? "gsm8k:test" : "gsm8k");
    }

    public static List<TaskExample> bbh(String task) {
        return SharedDatasets.task(data(), "bbh/" + task);
    }

    public static List<TaskExample> task(String name) {
        return SharedDatasets.task(data(), name);
    }
}
