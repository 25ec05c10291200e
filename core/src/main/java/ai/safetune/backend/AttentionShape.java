package ai.safetune.backend;

/**
 * Geometry of one causal grouped-query attention call.
 * <p>Layouts (row-major): queries {@code q[batch][queryLen][numHeads][headDim]}; keys and values in slots
 * {@code k,v[batch][capacity][numKvHeads][headDim]} of which the first {@code keyLen} are filled; the
 * output has the layout of {@code q}. Query {@code i} of a row sits at slot {@code queryStart + i} and
 * attends to slots {@code j <= queryStart + i} whose key mask is 1 (padding slots are 0). Without a
 * KV cache {@code queryStart = 0}, {@code keyLen = capacity = queryLen}. Positions (for RoPE) are
 * independent of slots, which is what lets left- and right-padded rows share one cache.
 *
 * @param batch      rows
 * @param queryLen   new query positions per row
 * @param keyLen     filled key slots per row ({@code >= queryStart + queryLen})
 * @param capacity   allocated key slots per row (stride of the k/v buffers and the key mask)
 * @param queryStart slot of the first query
 * @param numHeads   query heads
 * @param numKvHeads key/value heads; query head {@code h} reads kv head {@code h / (numHeads/numKvHeads)}
 * @param headDim    width of one head; scores are scaled by {@code 1/sqrt(headDim)}
 */
public record AttentionShape(int batch, int queryLen, int keyLen, int capacity, int queryStart,
                             int numHeads, int numKvHeads, int headDim) {
    public AttentionShape {
        if (batch <= 0 || queryLen <= 0 || headDim <= 0 || numHeads <= 0 || numKvHeads <= 0) {
            throw new IllegalArgumentException("attention dimensions must be > 0: " + thisString(batch, queryLen,
                    keyLen, capacity, queryStart, numHeads, numKvHeads, headDim));
        }
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("numHeads " + numHeads + " is not a multiple of numKvHeads " + numKvHeads);
        }
        if (queryStart < 0 || queryStart + queryLen > keyLen || keyLen > capacity) {
            throw new IllegalArgumentException("need 0 <= queryStart, queryStart + queryLen <= keyLen <= capacity: "
                    + thisString(batch, queryLen, keyLen, capacity, queryStart, numHeads, numKvHeads, headDim));
        }
    }

    /** Shape of a full causal pass without a cache. */
    public static AttentionShape full(int batch, int len, int numHeads, int numKvHeads, int headDim) {
        return new AttentionShape(batch, len, len, len, 0, numHeads, numKvHeads, headDim);
    }

    public int querySize() {
        return batch * queryLen * numHeads * headDim;
    }

    public int kvSize() {
        return batch * capacity * numKvHeads * headDim;
    }

    private static String thisString(int b, int tq, int tk, int cap, int qs, int h, int hkv, int d) {
        return "batch=" + b + " queryLen=" + tq + " keyLen=" + tk + " capacity=" + cap + " queryStart=" + qs
                + " numHeads=" + h + " numKvHeads=" + hkv + " headDim=" + d;
    }
}
