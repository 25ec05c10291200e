package ai.safetune.model;

import java.util.List;

/**
 * A rectangular batch of token rows for one forward call: {@code ids}, {@code positions} (RoPE position of
 * each token) and {@code mask} (1 = real token, 0 = padding), each {@code [batch × length]} row-major.
 */
public record TokenBatch(int batch, int length, int[] ids, int[] positions, int[] mask) {
    public TokenBatch {
        if (batch <= 0 || length <= 0) {
            throw new IllegalArgumentException("batch and length must be > 0, got " + batch + " x " + length);
        }
        int n = batch * length;
        if (ids.length != n || positions.length != n || mask.length != n) {
            throw new IllegalArgumentException("ids, positions and mask must each have batch*length = " + n
                    + " entries, got " + ids.length + ", " + positions.length + ", " + mask.length);
        }
    }

    /** One unpadded row with positions {@code 0..len-1}. */
    public static TokenBatch of(int[] ids) {
        return rightPadded(List.of(ids), 0);
    }

    /**
     * Rows padded on the left with {@code padId} to the longest row; real tokens of each row get positions
     * {@code 0..len-1} (so the last column holds every row's last token — what generation wants).
     */
    public static TokenBatch leftPadded(List<int[]> rows, int padId) {
        int len = maxLength(rows);
        int b = rows.size();
        int[] ids = new int[b * len];
        int[] pos = new int[b * len];
        int[] mask = new int[b * len];
        for (int r = 0; r < b; r++) {
            int[] row = rows.get(r);
            int pad = len - row.length;
            for (int t = 0; t < len; t++) {
                int i = r * len + t;
                if (t < pad) {
                    ids[i] = padId;
                } else {
                    ids[i] = row[t - pad];
                    pos[i] = t - pad;
                    mask[i] = 1;
                }
            }
        }
        return new TokenBatch(b, len, ids, pos, mask);
    }

    /** Rows padded on the right with {@code padId}; positions are {@code 0..length-1} in every row. */
    public static TokenBatch rightPadded(List<int[]> rows, int padId) {
        int len = maxLength(rows);
        int b = rows.size();
        int[] ids = new int[b * len];
        int[] pos = new int[b * len];
        int[] mask = new int[b * len];
        for (int r = 0; r < b; r++) {
            int[] row = rows.get(r);
            for (int t = 0; t < len; t++) {
                int i = r * len + t;
                pos[i] = t;
                if (t < row.length) {
                    ids[i] = row[t];
                    mask[i] = 1;
                } else {
                    ids[i] = padId;
                }
            }
        }
        return new TokenBatch(b, len, ids, pos, mask);
    }

    private static int maxLength(List<int[]> rows) {
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one row");
        }
        int len = 0;
        for (int r = 0; r < rows.size(); r++) {
            if (rows.get(r).length == 0) {
                throw new IllegalArgumentException("row " + r + " of the batch is empty");
            }
            len = Math.max(len, rows.get(r).length);
        }
        return len;
    }
}
