package ai.safetune.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The bf16 copies of fp32 device tensors that a producer op wrote beside its fp32 output (RMSNorm, SwiGLU), kept
 * for the frozen GEMMs that read that tensor next, so they skip their own fp32 → bf16 cast pass. A copy is valid
 * only while its source is unchanged: the backend drops every copy when an op that does not track its writes
 * runs, and the ops that do track them report their outputs through {@link #written}. Bookkeeping only (device
 * addresses as numbers); the buffers are released through the given callback when a copy is dropped.
 *
 * @param <B> the buffer type holding a copy
 */
final class Bf16Copies<B> {
    /** A bf16 copy of {@code elements} fp32 values at device address {@code source}. */
    private record Entry<B>(long source, long elements, B buffer) {
        boolean overlaps(long address, long bytes) {
            return address < source + 4 * elements && source < address + bytes;
        }
    }

    private final int capacity;
    private final Consumer<? super B> release;
    private final List<Entry<B>> entries = new ArrayList<>();

    /**
     * @param capacity the most copies kept at once (the oldest is dropped beyond it)
     * @param release  called with a copy's buffer when the copy is dropped
     */
    Bf16Copies(int capacity, Consumer<? super B> release) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.release = Objects.requireNonNull(release, "release");
    }

    /** Records {@code buffer} as the bf16 copy of the {@code elements} floats at {@code source}. */
    void put(long source, long elements, B buffer) {
        if (elements <= 0) {
            throw new IllegalArgumentException("elements must be > 0, got " + elements);
        }
        written(source, 4 * elements);
        if (entries.size() == capacity) {
            release.accept(entries.remove(0).buffer());
        }
        entries.add(new Entry<>(source, elements, Objects.requireNonNull(buffer, "buffer")));
    }

    /** The copy of at least {@code elements} floats starting at {@code source}, or null if none is valid. */
    B find(long source, long elements) {
        for (Entry<B> e : entries) {
            if (e.source() == source && e.elements() >= elements) {
                return e.buffer();
            }
        }
        return null;
    }

    /** Drops the copies whose source overlaps the {@code bytes} written at {@code address}. */
    void written(long address, long bytes) {
        if (entries.isEmpty() || bytes <= 0) {
            return;
        }
        List<B> dropped = new ArrayList<>();
        entries.removeIf(e -> {
            boolean hit = e.overlaps(address, bytes);
            if (hit) {
                dropped.add(e.buffer());
            }
            return hit;
        });
        dropped.forEach(release);
    }

    /** Drops every copy. */
    void clear() {
        if (entries.isEmpty()) {
            return;
        }
        List<Entry<B>> dropped = new ArrayList<>(entries);
        entries.clear();
        for (Entry<B> e : dropped) {
            release.accept(e.buffer());
        }
    }

    int size() {
        return entries.size();
    }
}
