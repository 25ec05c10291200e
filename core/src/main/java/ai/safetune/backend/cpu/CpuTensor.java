package ai.safetune.backend.cpu;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Tensor;

/** A {@link Tensor} backed by a Java {@code float[]}. */
final class CpuTensor implements Tensor {
    private final CpuBackend backend;
    private float[] data;

    CpuTensor(CpuBackend backend, float[] data) {
        this.backend = backend;
        this.data = data;
    }

    float[] data() {
        float[] d = data;
        if (d == null) {
            throw new IllegalStateException("tensor used after close");
        }
        return d;
    }

    @Override
    public int size() {
        return data().length;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public void close() {
        data = null;
    }
}
