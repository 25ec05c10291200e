package ai.safetune.data;

/** Turns one CSV/TSV row into a value; throws {@link DataFormatException} (via {@link CsvRow#fail}) when it does not fit. */
@FunctionalInterface
public interface RowMapper<T> {
    T map(CsvRow row);
}
