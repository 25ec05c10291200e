package ai.safetune.eval;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything one evaluation run measured, immutable, with its JSON form.
 *
 * @param label        a name for the run in reports (training condition, mix fraction...)
 * @param model        the model path evaluated
 * @param adapter      the merged LoRA adapter directory, or null for the base model
 * @param engine       what generated the responses (e.g. {@code onnxruntime-1.23.2 fp32})
 * @param maxNewTokens generation budget per response
 * @param seed         seed of the bootstrap intervals (and of sampling, if any)
 * @param createdAt    ISO-8601 UTC time of the run
 * @param tags         free metadata for grouping in reports ({@code condition}, {@code mix_fraction}...)
 * @param suites       one result per prompt set, in the order asked for
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record EvalReport(String label, String model, String adapter, String engine, int maxNewTokens, long seed,
                         String createdAt, Map<String, String> tags, List<SuiteResult> suites) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    public EvalReport {
        Objects.requireNonNull(label, "label");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(engine, "engine");
        Objects.requireNonNull(createdAt, "createdAt");
        tags = Map.copyOf(tags == null ? Map.of() : tags);
        suites = List.copyOf(Objects.requireNonNull(suites, "suites"));
        if (suites.isEmpty()) {
            throw new IllegalArgumentException("an evaluation report needs at least one suite");
        }
    }

    public Optional<SuiteResult> suite(String name) {
        return suites.stream().filter(s -> s.suite().equals(name)).findFirst();
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static EvalReport fromJson(String json) {
        try {
            return JSON.readValue(json, EvalReport.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IllegalArgumentException("not an eval report: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public void write(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, toJson());
    }

    public static EvalReport read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("eval report " + file + " does not exist");
        }
        try {
            return JSON.readValue(file.toFile(), EvalReport.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IllegalArgumentException(file + ": not an eval report: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " at line " + e.getLocation().getLineNr() : ""), e);
        }
    }
}
