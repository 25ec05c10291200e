package ai.safetune.mix;

import ai.safetune.format.TaskFormat;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.Map;

/**
 * What {@link SafeMixer} did, for the record of a training run.
 *
 * @param strategy                 none, generic or mimic
 * @param seed                     the interleaving/selection seed
 * @param requestedCount           the requested number of safety examples, or null when a fraction was asked
 * @param requestedFraction        the requested share of safety examples in the final set, or null
 * @param counts                   examples per source in the output ({@code user}, {@code safety}) and {@code total}
 * @param safetyInput              safety examples given
 * @param safetyDuplicates         safety examples dropped because an earlier safety example has the same request
 * @param safetyOverlappingUser    safety examples dropped because the user data already holds the same prompt
 * @param userSha256               SHA-256 over the user examples (roles and contents, in order; see {@link SafeMixer})
 * @param safetySha256             SHA-256 over the safety examples given, same encoding
 * @param format                   the learned user format (mimic only)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MixReport(String strategy, long seed, Integer requestedCount, Double requestedFraction,
                        Map<String, Long> counts, long safetyInput, long safetyDuplicates,
                        long safetyOverlappingUser, String userSha256, String safetySha256, TaskFormat format) {

    public MixReport {
        counts = Map.copyOf(counts);
    }

    public long userCount() {
        return counts.getOrDefault("user", 0L);
    }

    public long safetyCount() {
        return counts.getOrDefault("safety", 0L);
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize mix report", e);
        }
    }

    public static MixReport fromJson(String json) {
        try {
            return JSON.readValue(json, MixReport.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a MixReport JSON: " + e.getOriginalMessage(), e);
        }
    }
}
