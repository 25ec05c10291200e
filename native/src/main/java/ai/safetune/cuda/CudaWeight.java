package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.WeightHandle;

/**
 * A frozen weight resident on the device in one of the kernel library's formats ({@code wtype}: f32 or bf16
 * here; the kernels also read Q8_0/Q4_1 blocks directly).
 */
final class CudaWeight implements WeightHandle {
    private final CudaBackend backend;
    private final String name;
    private final int rows;
    private final int cols;
    private final int wtype;
    private final CudaTensor storage;
    private boolean closed;

    CudaWeight(CudaBackend backend, String name, int rows, int cols, int wtype, CudaTensor storage) {
        this.backend = backend;
        this.name = name;
        this.rows = rows;
        this.cols = cols;
        this.wtype = wtype;
        this.storage = storage;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    int wtype() {
        return wtype;
    }

    long ptr() {
        if (closed) {
            throw new IllegalStateException("weight " + name + " used after close");
        }
        return storage.ptr();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            storage.close();
        }
    }
}
