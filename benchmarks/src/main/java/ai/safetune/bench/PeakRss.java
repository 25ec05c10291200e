package ai.safetune.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** Peak resident set size of this process from /proc/self/status (Linux). */
final class PeakRss {
    private PeakRss() {
    }

    static String describe() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return line.substring(6).trim();
                }
            }
        } catch (Exception e) {
            return "unavailable (" + e.getMessage() + ")";
        }
        return "unavailable";
    }
}
