package ai.safetune.backend.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/** Runs loop bodies on a fixed-size {@link ForkJoinPool}; inline when there is one thread or one task. */
final class Parallel implements AutoCloseable {
    private final int threads;
    private final ForkJoinPool pool;

    Parallel(int threads) {
        this.threads = threads;
        this.pool = threads > 1 ? new ForkJoinPool(threads) : null;
    }

    int threads() {
        return threads;
    }

    /** Calls {@code body.accept(i)} for every {@code i} in {@code [0, count)}, in parallel. */
    void forEach(int count, IntConsumer body) {
        if (pool == null || count <= 1 || ForkJoinTask.inForkJoinPool()) {
            for (int i = 0; i < count; i++) {
                body.accept(i);
            }
            return;
        }
        List<RecursiveAction> tasks = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int idx = i;
            tasks.add(new RecursiveAction() {
                @Override
                protected void compute() {
                    body.accept(idx);
                }
            });
        }
        pool.invoke(new RecursiveAction() {
            @Override
            protected void compute() {
                invokeAll(tasks);
            }
        });
    }

    /** Splits {@code [0, n)} into about {@code 4 × threads} contiguous chunks: {@code body(start, end)}. */
    void forRange(int n, RangeBody body) {
        int chunks = Math.min(n, pool == null ? 1 : threads * 4);
        if (chunks <= 1) {
            if (n > 0) {
                body.run(0, n);
            }
            return;
        }
        forEach(chunks, c -> body.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)));
    }

    interface RangeBody {
        void run(int start, int end);
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdown();
        }
    }
}
