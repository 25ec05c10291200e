package ai.safetune.data;

/**
 * Turns one JSON record into a value; throws {@link DataFormatException} (usually via
 * {@link JsonRecord#fail}) when the record does not fit. Must not return null: nothing is dropped silently.
 */
@FunctionalInterface
public interface RecordMapper<T> {
    T map(JsonRecord record);
}
