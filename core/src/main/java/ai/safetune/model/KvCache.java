package ai.safetune.model;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;

import java.util.Arrays;

/**
 * Keys and values of every layer for {@code batch} rows and up to {@code capacity} slots, plus which slots
 * hold real tokens and the next RoPE position of each row. Filled by {@link LlamaModel#forward}.
 */
public final class KvCache implements AutoCloseable {
    private final int batch;
    private final int capacity;
    private final Tensor[] keys;
    private final Tensor[] values;
    private final int[] mask;
    private final int[] nextPosition;
    private int length;

    KvCache(Backend backend, ModelConfig cfg, int batch, int capacity) {
        if (batch <= 0 || capacity <= 0) {
            throw new IllegalArgumentException("KV cache batch and capacity must be > 0, got " + batch + ", " + capacity);
        }
        this.batch = batch;
        this.capacity = capacity;
        int size = Math.multiplyExact(Math.multiplyExact(batch, capacity), cfg.numKvHeads() * cfg.headDim());
        keys = new Tensor[cfg.numLayers()];
        values = new Tensor[cfg.numLayers()];
        for (int l = 0; l < cfg.numLayers(); l++) {
            keys[l] = backend.allocate(size);
            values[l] = backend.allocate(size);
        }
        mask = new int[batch * capacity];
        nextPosition = new int[batch];
    }

    public int batch() {
        return batch;
    }

    public int capacity() {
        return capacity;
    }

    /** Slots filled so far (the same for every row; padding slots are masked out). */
    public int length() {
        return length;
    }

    /** The RoPE position the next token of {@code row} gets: one past its last real token. */
    public int nextPosition(int row) {
        return nextPosition[row];
    }

    Tensor keys(int layer) {
        return keys[layer];
    }

    Tensor values(int layer) {
        return values[layer];
    }

    int[] mask() {
        return mask;
    }

    /**
     * Marks the slots of a step's tokens before the layers run (attention of the step reads their mask)
     * and returns the first slot.
     */
    int begin(TokenBatch step) {
        if (step.batch() != batch) {
            throw new IllegalArgumentException("step has " + step.batch() + " rows, the KV cache " + batch);
        }
        if (length + step.length() > capacity) {
            throw new IllegalArgumentException("KV cache full: " + length + " + " + step.length()
                    + " tokens exceed its capacity " + capacity);
        }
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < step.length(); t++) {
                int i = b * step.length() + t;
                mask[b * capacity + length + t] = step.mask()[i];
                if (step.mask()[i] != 0) {
                    nextPosition[b] = Math.max(nextPosition[b], step.positions()[i] + 1);
                }
            }
        }
        return length;
    }

    /** Commits a step once every layer wrote its keys and values. */
    void end(TokenBatch step) {
        length += step.length();
    }

    /** Forgets every token (keeps the buffers). */
    public void clear() {
        length = 0;
        Arrays.fill(mask, 0);
        Arrays.fill(nextPosition, 0);
    }

    @Override
    public void close() {
        for (int l = 0; l < keys.length; l++) {
            keys[l].close();
            values[l].close();
        }
    }
}
