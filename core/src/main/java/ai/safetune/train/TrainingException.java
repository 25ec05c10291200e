package ai.safetune.train;

/** Training cannot go on (non-finite loss or gradients, a broken checkpoint); the message names where. */
public class TrainingException extends RuntimeException {
    public TrainingException(String message) {
        super(message);
    }

    public TrainingException(String message, Throwable cause) {
        super(message, cause);
    }
}
