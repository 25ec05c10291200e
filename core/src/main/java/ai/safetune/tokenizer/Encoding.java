package ai.safetune.tokenizer;

/**
 * Token ids with the part of the input each token came from, as UTF-16 index ranges
 * {@code [starts[i], ends[i])} of the encoded string. A token holding only some bytes of a code point
 * (byte-level BPE can split a character) spans that whole code point.
 */
public record Encoding(int[] ids, int[] starts, int[] ends) {
    public Encoding {
        if (ids.length != starts.length || ids.length != ends.length) {
            throw new IllegalArgumentException("ids, starts and ends differ in length: "
                    + ids.length + ", " + starts.length + ", " + ends.length);
        }
    }

    public int size() {
        return ids.length;
    }
}
