package ai.safetune.tokenizer;

import java.util.Arrays;

/**
 * BPE merges as an open-addressing hash map from a pair of token ids to (rank, merged id), so the hot
 * loop looks merges up without building strings.
 */
final class MergeTable {
    private static final long EMPTY = -1L;
    private final long[] keys;
    private final long[] values;
    private final int mask;

    MergeTable(int capacityHint) {
        int cap = Integer.highestOneBit(Math.max(16, capacityHint * 2 - 1)) << 1;
        keys = new long[cap];
        values = new long[cap];
        mask = cap - 1;
        Arrays.fill(keys, EMPTY);
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private static int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29));
    }

    /** Adds a merge unless the pair already has one (the first listed, lowest rank, wins as in HF). */
    void put(int left, int right, int rank, int merged) {
        long k = key(left, right);
        int i = slot(k) & mask;
        while (keys[i] != EMPTY) {
            if (keys[i] == k) {
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = k;
        values[i] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    }

    /** (rank &lt;&lt; 32 | merged id) for the pair, or -1 when the pair does not merge. */
    long get(int left, int right) {
        long k = key(left, right);
        int i = slot(k) & mask;
        while (true) {
            long stored = keys[i];
            if (stored == k) {
                return values[i];
            }
            if (stored == EMPTY) {
                return -1L;
            }
            i = (i + 1) & mask;
        }
    }
}
