package ai.safetune.model.gguf;

import java.util.Arrays;

/**
 * One tensor of a GGUF file.
 *
 * @param dims       GGUF order, fastest-varying first: {@code [cols, rows, ...]}
 * @param offset     byte offset from the start of the data section
 * @param byteSize   bytes of data
 */
public record GgufTensorInfo(String name, long[] dims, GgmlType type, long offset, long byteSize) {
    public GgufTensorInfo {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    public long numel() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /** Elements per row: the first (fastest) GGUF dim. */
    public long cols() {
        return dims[0];
    }

    /** Rows: the product of the other dims (1 for a vector). */
    public long rows() {
        return numel() / dims[0];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && name.equals(t.name) && Arrays.equals(dims, t.dims) && type == t.type
                && offset == t.offset && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(dims) + " @" + offset;
    }
}
