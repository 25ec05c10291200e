package ai.safetune.data;

import java.util.ArrayList;
import java.util.List;

/** Strict: rethrows the first error. Lenient: remembers every error. */
final class ErrorSink {
    private final boolean strict;
    private final List<DataFormatException> errors = new ArrayList<>();

    ErrorSink(boolean strict) {
        this.strict = strict;
    }

    void report(DataFormatException e) {
        if (strict) {
            throw e;
        }
        errors.addAll(e.errors());
    }

    List<DataFormatException> errors() {
        return errors;
    }
}
