package ai.safetune.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Runs loop bodies on {@code threads − 1} worker threads plus the calling thread, which claims tasks too.
 * <p>Why not a ForkJoinPool: a decode step is ~450 small parallel ops, and waking parked pool workers for each
 * (and parking the caller while they run) cost more than the ops themselves — two threads decoded no faster than
 * one. Here workers spin briefly after a job ({@link #SPIN_NS}) so the next op finds them awake, then park; a
 * worker idle for {@link #IDLE_EXIT_NS} exits and is restarted on demand, so unclosed backends leak no threads.
 * <p>Tasks are claimed from a counter, so which thread runs which task varies; callers already make results
 * independent of that (each task owns its outputs). A call made while a job is running — from a task body
 * (nested) or from another thread — runs inline on its own thread.
 */
final class Parallel implements AutoCloseable {
    /** How long a worker keeps polling for the next job before parking. */
    private static final long SPIN_NS = 200_000;
    /** How long a parked worker waits for work before its thread ends. */
    private static final long IDLE_EXIT_NS = 10_000_000_000L;

    private final int threads;
    private final long idleExitNs;
    private final Worker[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile Job current;
    private volatile boolean closed;

    Parallel(int threads) {
        this(threads, IDLE_EXIT_NS);
    }

    /** With a shorter idle exit, for tests of the worker restart. */
    Parallel(int threads, long idleExitNs) {
        if (threads <= 0) {
            throw new IllegalArgumentException("threads must be > 0, got " + threads);
        }
        this.threads = threads;
        this.idleExitNs = idleExitNs;
        this.workers = new Worker[threads - 1];
    }

    int threads() {
        return threads;
    }

    /** Calls {@code body.accept(i)} for every {@code i} in {@code [0, count)}, in parallel. */
    void forEach(int count, IntConsumer body) {
        if (workers.length == 0 || count <= 1 || closed || !busy.compareAndSet(false, true)) {
            for (int i = 0; i < count; i++) {
                body.accept(i);
            }
            return;
        }
        try {
            Job job = new Job(body, count);
            current = job;
            for (int w = 0; w < workers.length; w++) {
                Worker worker = workers[w];
                if (worker == null || worker.exited) {
                    workers[w] = worker = new Worker();
                    worker.start();
                } else if (worker.waiting) {
                    LockSupport.unpark(worker);
                }
            }
            job.work();
            job.awaitDone();
            job.rethrow();
        } finally {
            busy.set(false);
        }
    }

    /** Splits {@code [0, n)} into about {@code 4 × threads} contiguous chunks: {@code body(start, end)}. */
    void forRange(int n, RangeBody body) {
        int chunks = Math.min(n, workers.length == 0 ? 1 : threads * 4);
        if (chunks <= 1) {
            if (n > 0) {
                body.run(0, n);
            }
            return;
        }
        forEach(chunks, c -> body.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)));
    }

    /** Worker threads currently alive (for tests). */
    int liveWorkers() {
        int n = 0;
        for (Worker w : workers) {
            if (w != null && !w.exited && w.isAlive()) {
                n++;
            }
        }
        return n;
    }

    interface RangeBody {
        void run(int start, int end);
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            if (w != null) {
                LockSupport.unpark(w);
            }
        }
    }

    /** One forEach call: its own counters, so a worker still leaving an old job cannot claim a new job's task. */
    private static final class Job {
        final IntConsumer body;
        final int count;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final AtomicReference<Throwable> error = new AtomicReference<>();

        Job(IntConsumer body, int count) {
            this.body = body;
            this.count = count;
        }

        void work() {
            int i;
            while ((i = next.getAndIncrement()) < count) {
                try {
                    if (error.get() == null) {
                        body.accept(i);
                    }
                } catch (Throwable t) {
                    error.compareAndSet(null, t);
                } finally {
                    done.incrementAndGet();
                }
            }
        }

        void awaitDone() {
            long start = System.nanoTime();
            while (done.get() < count) {
                if (System.nanoTime() - start < SPIN_NS) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
        }

        void rethrow() {
            Throwable t = error.get();
            if (t instanceof RuntimeException) {
                throw (RuntimeException) t;
            }
            if (t instanceof Error) {
                throw (Error) t;
            }
            if (t != null) {
                throw new IllegalStateException(t);
            }
        }
    }

    private final class Worker extends Thread {
        volatile boolean waiting;
        volatile boolean exited;

        Worker() {
            super("safetune-cpu-worker");
            setDaemon(true);
        }

        @Override
        public void run() {
            Job seen = null;
            long idleSince = System.nanoTime();
            while (!closed) {
                Job job = current;
                if (job != seen) {
                    seen = job;
                    job.work();
                    idleSince = System.nanoTime();
                    continue;
                }
                long idle = System.nanoTime() - idleSince;
                if (idle < SPIN_NS) {
                    Thread.onSpinWait();
                    continue;
                }
                if (idle > idleExitNs) {
                    // the submitter restarts an exited worker; a job published meanwhile is finished by the
                    // submitter itself, which claims tasks too
                    exited = true;
                    return;
                }
                waiting = true;
                if (current == seen && !closed) {
                    LockSupport.parkNanos(this, idleExitNs);
                }
                waiting = false;
            }
            exited = true;
        }
    }
}
