package ai.safetune.data;

import java.util.List;

/**
 * What a read produced: the well-formed records in file order and every error found (always empty after a
 * strict read, which throws instead).
 */
public record ReadResult<T>(List<T> records, List<DataFormatException> errors) {
    public ReadResult {
        records = List.copyOf(records);
        errors = List.copyOf(errors);
    }

    public boolean hasErrors() {
        return !errors.isEmpty();
    }

    /**
     * The records, or a {@link DataFormatException} listing every error when there was any.
     */
    public List<T> recordsOrThrow() {
        if (hasErrors()) {
            throw DataFormatException.of(errors);
        }
        return records;
    }
}
