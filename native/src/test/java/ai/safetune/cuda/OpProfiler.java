package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.WeightHandle;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a training step's time goes on the GPU, with no profiler on the device machine: a {@link Backend} proxy
 * that, while {@link #enabled}, waits for the stream before and after every op and books the wall time under
 * the op's name (the frozen matmuls under their module, e.g. {@code matmul[mlp.down_proj]}). The waits remove
 * the overlap of host work with queued kernels, so the total exceeds an unprofiled step; the split is what
 * counts. Off, it only forwards.
 */
final class OpProfiler {
    private final Backend delegate;
    private final Runnable sync;
    private final Map<String, long[]> book = new LinkedHashMap<>();  // name -> {calls, nanos}
    boolean enabled;

    private OpProfiler(Backend delegate, Runnable sync) {
        this.delegate = delegate;
        this.sync = sync;
    }

    /** A profiling view of {@code delegate}; {@code sync} waits for its queued work. */
    static OpProfiler wrap(Backend delegate, Runnable sync) {
        return new OpProfiler(delegate, sync);
    }

    Backend backend() {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, m, args) -> call(m, args));
    }

    private Object call(Method m, Object[] args) throws Throwable {
        boolean timed = enabled && !m.getName().equals("close") && !m.getName().equals("description")
                && !m.getName().equals("name");
        long t0 = 0;
        if (timed) {
            sync.run();
            t0 = System.nanoTime();
        }
        Object r;
        try {
            r = m.invoke(delegate, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
        if (timed) {
            sync.run();
            long[] e = book.computeIfAbsent(key(m, args), k -> new long[2]);
            e[0]++;
            e[1] += System.nanoTime() - t0;
        }
        return r;
    }

    private static String key(Method m, Object[] args) {
        String name = m.getName();
        if (args != null) {
            for (Object a : args) {
                if (a instanceof WeightHandle w) {
                    String n = w.name().replaceFirst("^model\\.layers\\.\\d+\\.", "").replaceFirst("\\.weight$", "");
                    return name + "[" + n + "]";
                }
            }
            if (name.startsWith("matmul")) {
                return name + "[lora r]";
            }
        }
        return name;
    }

    /** The booked ops, most expensive first, as table lines; {@code steps} divides the times. */
    List<String> table(int steps) {
        List<Map.Entry<String, long[]>> es = new ArrayList<>(book.entrySet());
        es.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
        long total = es.stream().mapToLong(e -> e.getValue()[1]).sum();
        List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "%-34s %8s %10s %6s", "op (synchronized)", "calls", "ms/step", "share"));
        for (Map.Entry<String, long[]> e : es) {
            out.add(String.format(Locale.ROOT, "%-34s %8d %10.2f %5.1f%%", e.getKey(), e.getValue()[0] / steps,
                    e.getValue()[1] / 1e6 / steps, 100.0 * e.getValue()[1] / total));
        }
        out.add(String.format(Locale.ROOT, "%-34s %8s %10.2f", "total", "", total / 1e6 / steps));
        return out;
    }
}
