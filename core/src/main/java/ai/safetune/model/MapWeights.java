package ai.safetune.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** {@link ModelWeights} over a fixed name → weight map, with an action run once on close. */
public final class MapWeights implements ModelWeights {
    private final String source;
    private final Map<String, Weight> weights;
    private final Runnable onClose;
    private boolean closed;

    /**
     * @param source  where the weights came from (named in "missing tensor" errors)
     * @param onClose releases the backing files; may be a no-op
     */
    public MapWeights(String source, Map<String, ? extends Weight> weights, Runnable onClose) {
        this.source = source;
        this.weights = Collections.unmodifiableMap(new LinkedHashMap<>(weights));
        this.onClose = onClose;
    }

    @Override
    public Optional<Weight> find(String hfName) {
        return Optional.ofNullable(weights.get(hfName));
    }

    @Override
    public Weight get(String hfName) {
        Weight w = weights.get(hfName);
        if (w == null) {
            throw new IllegalArgumentException("no tensor '" + hfName + "' in " + source + " (it has " + weights.size()
                    + " tensors, e.g. " + weights.keySet().stream().limit(3).toList() + ")");
        }
        return w;
    }

    @Override
    public Set<String> names() {
        return weights.keySet();
    }

    /** Where these weights came from. */
    public String source() {
        return source;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            onClose.run();
        }
    }

    @Override
    public String toString() {
        return "weights of " + source + " (" + weights.size() + " tensors)";
    }
}
