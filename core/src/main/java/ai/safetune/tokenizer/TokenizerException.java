package ai.safetune.tokenizer;

/** A tokenizer or chat template that cannot be built or used; the message names the source and what is wrong. */
public class TokenizerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
