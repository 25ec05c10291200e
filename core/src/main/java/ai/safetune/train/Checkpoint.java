package ai.safetune.train;

import ai.safetune.model.safetensors.SafetensorsDType;
import ai.safetune.model.safetensors.SafetensorsFile;
import ai.safetune.model.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A resumable training state: the adapter (PEFT layout), AdamW's moments and step count, the optimizer step,
 * the data cursor (examples consumed; the shuffle order is a pure function of seed and epoch, so this is the
 * whole RNG state) and the settings fingerprint. Written into {@code <dir>/checkpoint-NNNNNN/} through a
 * temporary folder whose files are fsynced before one atomic rename, so a crash (even {@code kill -9}) leaves
 * either the previous checkpoint or the new one, never half of one.
 *
 * @param step        optimizer steps completed
 * @param consumed    training examples consumed so far (across epochs)
 * @param adapter     the LoRA factors after {@code step} steps
 * @param firstMoments  AdamW m per parameter tensor
 * @param secondMoments AdamW v per parameter tensor
 * @param adamSteps   AdamW's own step count
 * @param fingerprint the settings that must match to resume (model, data hash, LoRA, batch, seed...)
 */
public record Checkpoint(int step, long consumed, PeftAdapter adapter, float[][] firstMoments, float[][] secondMoments,
                         long adamSteps, String fingerprint) {
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
    private static final String STATE = "trainer_state.json";
    private static final String OPTIMIZER = "optimizer.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Writes this checkpoint under {@code root} and keeps the newest {@code keep} checkpoints there. */
    public Path write(Path root, String baseModel, int keep) {
        try {
            Files.createDirectories(root);
            String name = String.format("checkpoint-%06d", step);
            Path tmp = root.resolve("." + name + ".tmp");
            deleteTree(tmp);
            Files.createDirectories(tmp);
            adapter.save(tmp, baseModel);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "safetune-adamw");
            for (int i = 0; i < firstMoments.length; i++) {
                w.add("exp_avg." + i, SafetensorsDType.F32, new long[] {firstMoments[i].length}, firstMoments[i]);
                w.add("exp_avg_sq." + i, SafetensorsDType.F32, new long[] {secondMoments[i].length}, secondMoments[i]);
            }
            w.write(tmp.resolve(OPTIMIZER));
            ObjectNode state = JSON.createObjectNode();
            state.put("step", step);
            state.put("consumed", consumed);
            state.put("adam_steps", adamSteps);
            state.put("fingerprint", fingerprint);
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve(STATE).toFile(), state);
            try (Stream<Path> files = Files.list(tmp)) {
                for (Path f : files.toList()) {
                    fsync(f);
                }
            }
            fsync(tmp);
            Path dst = root.resolve(name);
            deleteTree(dst);
            Files.move(tmp, dst, StandardCopyOption.ATOMIC_MOVE);
            fsync(root);
            prune(root, keep);
            return dst;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + root + ": " + e.getMessage(), e);
        }
    }

    /** The newest complete checkpoint in {@code dir} (a checkpoint root, or one checkpoint folder), if any. */
    public static Optional<Path> latest(Path dir) {
        if (Files.isRegularFile(dir.resolve(STATE))) {
            return Optional.of(dir);
        }
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> NAME.matcher(p.getFileName().toString()).matches())
                    .filter(p -> Files.isRegularFile(p.resolve(STATE)))
                    .max(Comparator.comparingInt(Checkpoint::stepOf));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list checkpoints in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Reads a checkpoint folder written by {@link #write}. */
    public static Checkpoint read(Path dir) {
        Path statePath = dir.resolve(STATE);
        JsonNode state;
        try {
            state = JSON.readTree(statePath.toFile());
        } catch (IOException e) {
            throw new TrainingException(statePath + ": cannot read the trainer state: " + e.getMessage(), e);
        }
        for (String f : List.of("step", "consumed", "adam_steps", "fingerprint")) {
            if (!state.hasNonNull(f)) {
                throw new TrainingException(statePath + ": field \"" + f + "\" is missing");
            }
        }
        PeftAdapter adapter = PeftAdapter.load(dir);
        int tensors = adapter.weights().modules().size() * 2;
        float[][] m = new float[tensors][];
        float[][] v = new float[tensors][];
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(OPTIMIZER))) {
            for (int i = 0; i < tensors; i++) {
                m[i] = f.readFloats("exp_avg." + i);
                v[i] = f.readFloats("exp_avg_sq." + i);
            }
        } catch (IllegalArgumentException e) {
            throw new TrainingException(dir.resolve(OPTIMIZER) + ": " + e.getMessage(), e);
        }
        return new Checkpoint(state.get("step").asInt(), state.get("consumed").asLong(), adapter, m, v,
                state.get("adam_steps").asLong(), state.get("fingerprint").asText());
    }

    private static int stepOf(Path p) {
        Matcher m = NAME.matcher(p.getFileName().toString());
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    private static void prune(Path root, int keep) throws IOException {
        if (keep <= 0) {
            return;
        }
        List<Path> all;
        try (Stream<Path> s = Files.list(root)) {
            all = s.filter(p -> NAME.matcher(p.getFileName().toString()).matches())
                    .sorted(Comparator.comparingInt(Checkpoint::stepOf).reversed()).toList();
        }
        for (int i = keep; i < all.size(); i++) {
            deleteTree(all.get(i));
        }
    }

    private static void fsync(Path p) throws IOException {
        if (Files.isDirectory(p)) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ch.force(true);
            } catch (IOException e) {
                // some file systems refuse to open directories for sync; the files themselves were synced
            }
            return;
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
