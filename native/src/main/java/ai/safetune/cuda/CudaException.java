package ai.safetune.cuda;

/**
 * A failed kernel-library call: carries the op name and the native message (CUDA or cuBLAS error string,
 * or the argument check that failed). The native side never exits the process.
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String op;
    private final int code;

    public CudaException(String op, int code, String nativeMessage) {
        super(op + " failed (code " + code + "): " + nativeMessage);
        this.op = op;
        this.code = code;
    }

    /** The Java-side op that failed, e.g. {@code attention}. */
    public String op() {
        return op;
    }

    /** The library's status code (1 argument, 2 CUDA, 3 cuBLAS, 4 no device). */
    public int code() {
        return code;
    }
}
