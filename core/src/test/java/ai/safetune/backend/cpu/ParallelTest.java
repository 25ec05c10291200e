package ai.safetune.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {

    @Test
    void everyTaskRunsExactlyOnceOverManySmallJobs() {
        try (Parallel par = new Parallel(3)) {
            for (int count : new int[] {0, 1, 2, 3, 7, 64, 1000}) {
                for (int rep = 0; rep < 200; rep++) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(count, 1));
                    par.forEach(count, i -> hits.incrementAndGet(i));
                    for (int i = 0; i < count; i++) {
                        assertEquals(1, hits.get(i), "count " + count + " task " + i);
                    }
                }
            }
        }
    }

    @Test
    void forRangeCoversTheRangeOnce() {
        try (Parallel par = new Parallel(2)) {
            for (int n : new int[] {0, 1, 5, 8, 9, 1023}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                par.forRange(n, (s, e) -> {
                    for (int i = s; i < e; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "n " + n + " index " + i);
                }
            }
        }
    }

    @Test
    void workersTakeTasks() {
        try (Parallel par = new Parallel(2)) {
            Set<Thread> seen = ConcurrentHashMap.newKeySet();
            par.forEach(64, i -> {
                seen.add(Thread.currentThread());
                sleep(1);
            });
            assertEquals(2, seen.size(), "the caller and one worker share the tasks");
        }
    }

    @Test
    void anExceptionInATaskReachesTheCaller() {
        try (Parallel par = new Parallel(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> par.forEach(50, i -> {
                if (i == 17) {
                    throw boom;
                }
            }));
            assertSame(boom, thrown);
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            par.forEach(10, hits::incrementAndGet);
            for (int i = 0; i < 10; i++) {
                assertEquals(1, hits.get(i), "the pool still works after a failed job");
            }
        }
    }

    @Test
    void nestedCallsRunInline() {
        try (Parallel par = new Parallel(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(8 * 8);
            par.forEach(8, i -> par.forEach(8, j -> hits.incrementAndGet(i * 8 + j)));
            for (int k = 0; k < 64; k++) {
                assertEquals(1, hits.get(k));
            }
        }
    }

    @Test
    void callsFromTwoThreadsAtOnceBothComplete() throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(2);
        try (Parallel par = new Parallel(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(2 * 500);
            Future<?> a = ex.submit(() -> {
                for (int r = 0; r < 50; r++) {
                    int base = 10 * r;
                    par.forEach(10, i -> hits.incrementAndGet(i + base));
                }
            });
            Future<?> b = ex.submit(() -> {
                for (int r = 0; r < 50; r++) {
                    int base = 500 + 10 * r;
                    par.forEach(10, i -> hits.incrementAndGet(i + base));
                }
            });
            a.get();
            b.get();
            for (int k = 0; k < 1000; k++) {
                assertEquals(1, hits.get(k), "index " + k);
            }
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void idleWorkersExitAndComeBack() {
        try (Parallel par = new Parallel(2, 20_000_000L)) {
            par.forEach(4, i -> sleep(1));
            assertEquals(1, par.liveWorkers());
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (par.liveWorkers() > 0 && System.nanoTime() < deadline) {
                sleep(5);
            }
            assertEquals(0, par.liveWorkers(), "an idle worker ends its thread");
            Set<Thread> seen = ConcurrentHashMap.newKeySet();
            par.forEach(64, i -> {
                seen.add(Thread.currentThread());
                sleep(1);
            });
            assertEquals(2, seen.size(), "a new worker is started for the next job");
        }
    }

    @Test
    void afterCloseCallsRunInline() {
        Parallel par = new Parallel(3);
        par.close();
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        par.forEach(16, i -> seen.add(Thread.currentThread()));
        assertEquals(Set.of(Thread.currentThread()), seen);
        assertTrue(par.threads() == 3);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
