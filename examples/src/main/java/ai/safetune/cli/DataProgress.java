package ai.safetune.cli;

import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar on stderr for long data runs; silent below {@link #THRESHOLD} items. */
final class DataProgress implements AutoCloseable {
    static final long THRESHOLD = 20_000;
    private final ProgressBar bar;

    private DataProgress(ProgressBar bar) {
        this.bar = bar;
    }

    static DataProgress start(String task, long max) {
        if (max < THRESHOLD) {
            return new DataProgress(null);
        }
        PrintStream err = System.err;
        return new DataProgress(new ProgressBarBuilder().setTaskName(task).setInitialMax(max)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(err)).continuousUpdate().build());
    }

    /** A bar without a known total (counts and rate) when {@code show}; silent otherwise. */
    static DataProgress unbounded(String task, boolean show) {
        if (!show) {
            return new DataProgress(null);
        }
        return new DataProgress(new ProgressBarBuilder().setTaskName(task).setInitialMax(-1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).continuousUpdate().build());
    }

    void step() {
        if (bar != null) {
            bar.step();
        }
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
