package ai.safetune.backend;

import ai.safetune.model.Weight;

/**
 * A frozen {@link Weight} prepared for one backend: kept quantized and expanded per tile when used
 * (QLoRA-style), or expanded once to fp32 for speed. Logical shape {@code rows × cols}, row-major,
 * Hugging Face row order.
 */
public interface WeightHandle extends AutoCloseable {
    String name();

    int rows();

    int cols();

    /** The backend that prepared it. */
    Backend backend();

    @Override
    void close();
}
