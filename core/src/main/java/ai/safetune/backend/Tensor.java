package ai.safetune.backend;

/**
 * A flat fp32 buffer owned by one {@link Backend} (a Java array on the CPU, device memory on a GPU).
 * Shapes are not stored: every op takes its dimensions as arguments (llm.c style), so one buffer can
 * hold a whole activation arena and be viewed with different shapes.
 * <p>Close it when done; using a closed tensor throws {@link IllegalStateException}.
 */
public interface Tensor extends AutoCloseable {
    /** Number of floats. */
    int size();

    /** The backend that allocated it; ops reject tensors of another backend. */
    Backend backend();

    @Override
    void close();
}
