package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;

/**
 * A flat fp32 device buffer of a {@link CudaBackend}. Closing it returns the memory to the backend's pool
 * (stream-ordered reuse: every op runs on the backend's one stream, so later work cannot overtake earlier
 * reads). Use after close throws {@link IllegalStateException}.
 */
final class CudaTensor implements Tensor {
    private final CudaBackend backend;
    private final int size;
    private final long capacityBytes;
    private long ptr;
    private boolean closed;

    CudaTensor(CudaBackend backend, long ptr, int size, long capacityBytes) {
        this.backend = backend;
        this.ptr = ptr;
        this.size = size;
        this.capacityBytes = capacityBytes;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    /** Device address; throws if closed. */
    long ptr() {
        if (closed) {
            throw new IllegalStateException("cuda tensor of " + size + " floats used after close");
        }
        return ptr;
    }

    long capacityBytes() {
        return capacityBytes;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.release(this, ptr);
            ptr = 0;
        }
    }
}
