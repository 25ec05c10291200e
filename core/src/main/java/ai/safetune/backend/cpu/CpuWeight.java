package ai.safetune.backend.cpu;

import ai.safetune.backend.Backend;
import ai.safetune.backend.WeightHandle;
import ai.safetune.model.QuantizedWeight;
import ai.safetune.model.Weight;

/** A frozen weight on the CPU: either the source {@link Weight} (expanded per tile) or a dense fp32 copy. */
final class CpuWeight implements WeightHandle, Gemm.Rows {
    private final CpuBackend backend;
    private Weight source;
    private float[] dense;
    private volatile PackedQuant packed;

    CpuWeight(CpuBackend backend, Weight source, float[] dense) {
        this.backend = backend;
        this.source = source;
        this.dense = dense;
    }

    /** Dense fp32 values when expanded once (or stored as F32), else null. */
    @Override
    public float[] dense() {
        check();
        return dense;
    }

    /** Writes rows {@code [row, row+count)} as fp32 into {@code dst} at {@code off}. */
    @Override
    public void rows(int row, int count, float[] dst, int off) {
        check();
        if (dense != null) {
            System.arraycopy(dense, row * source.cols(), dst, off, count * source.cols());
        } else {
            source.dequantizeRows(row, count, dst, off);
        }
    }

    /** The source weight (quantized products read its blocks directly). */
    Weight source() {
        check();
        return source;
    }

    /**
     * The source re-laid for the fused products ({@link PackedQuant}), made on first use (so weights only ever used
     * by larger products never pay its memory); null when it does not fit one array.
     */
    PackedQuant packed(QuantizedWeight q, QuantFormat f, int group) {
        PackedQuant p = packed;
        if (p == null && PackedQuant.fits(q, f, group)) {
            synchronized (this) {
                p = packed;
                if (p == null) {
                    packed = p = PackedQuant.pack(q, f, group);
                }
            }
        }
        return p;
    }

    private void check() {
        if (source == null) {
            throw new IllegalStateException("weight used after close");
        }
    }

    @Override
    public String name() {
        check();
        return source.name();
    }

    @Override
    public int rows() {
        check();
        return source.rows();
    }

    @Override
    public int cols() {
        check();
        return source.cols();
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public void close() {
        source = null;
        dense = null;
        packed = null;
    }
}
