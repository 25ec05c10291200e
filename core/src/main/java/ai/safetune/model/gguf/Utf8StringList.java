package ai.safetune.model.gguf;

import java.nio.charset.StandardCharsets;
import java.util.AbstractList;
import java.util.RandomAccess;

/** An immutable list of strings stored as concatenated UTF-8 bytes; each {@link #get} decodes one. */
final class Utf8StringList extends AbstractList<String> implements RandomAccess {
    private final byte[] data;
    private final int[] offsets;

    /** @param offsets {@code size + 1} ascending offsets into {@code data}; element i is [offsets[i], offsets[i+1]) */
    Utf8StringList(byte[] data, int[] offsets) {
        this.data = data;
        this.offsets = offsets;
    }

    @Override
    public String get(int index) {
        if (index < 0 || index >= offsets.length - 1) {
            throw new IndexOutOfBoundsException("index " + index + ", size " + (offsets.length - 1));
        }
        return new String(data, offsets[index], offsets[index + 1] - offsets[index], StandardCharsets.UTF_8);
    }

    @Override
    public int size() {
        return offsets.length - 1;
    }
}
