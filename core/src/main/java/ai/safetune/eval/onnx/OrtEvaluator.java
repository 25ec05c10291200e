package ai.safetune.eval.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.safetune.model.ModelConfig;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Runs a decoder exported by {@link LlamaOnnxExporter} on ONNX Runtime: batched generation with the KV cache,
 * and log-likelihood scoring. Not thread-safe; one instance per thread.
 */
public final class OrtEvaluator implements AutoCloseable {

    private final OrtEnvironment env;
    private final OrtSession session;
    // the head model beside the decoder (LlamaOnnxExporter.headFile); null: score inside the decoder graph
    private final OrtSession head;
    // the worker threads of scoring and generation (see logLikelihoods, generate); null with one thread
    private final java.util.concurrent.ExecutorService scorePool;
    // the decoder again with one intra-op thread, for the worker threads (made on first use, see workerSession)
    private OrtSession scoreSession;
    private final Path decoderFile;
    private final ModelConfig cfg;
    private final int padId;
    // what each kind of run asks ONNX Runtime for: a generation step, a context's cache, a scoring pass
    private final java.util.Set<String> STEP_OUTPUTS = new java.util.HashSet<>();
    private final java.util.Set<String> CACHE_OUTPUTS = new java.util.HashSet<>();
    private final java.util.Set<String> SCORE_OUTPUTS = java.util.Set.of(LlamaOnnxExporter.TARGET_LOGPROBS);
    private final java.util.Set<String> HIDDEN_OUTPUTS = java.util.Set.of(LlamaOnnxExporter.HIDDEN);
    // a scoring context pass that also scores the continuation tokens its options share
    private final java.util.Set<String> CACHE_AND_HIDDEN = new java.util.HashSet<>();
    private final java.util.Set<String> CACHE_AND_SCORE = new java.util.HashSet<>();
    private final java.util.Set<String> LOGITS_ONLY = java.util.Set.of(LlamaOnnxExporter.LOGITS);
    // the attention variant the decoder was exported with (LlamaOnnxExporter.ATTENTION_METADATA)
    private final LlamaOnnxExporter.Attention attention;
    private final LlamaOnnxExporter.Precision precision;
    // GroupQueryAttention appends in place when past and present are one buffer: generation then writes each step's
    // keys and values into a preallocated cache instead of copying the whole cache into a new one
    private final boolean inPlaceKv;
    // direct buffers backing the in-place caches, reused from batch to batch (key and value of every layer)
    // reusable cache buffers of the in-place KV batches: one set per batch in flight (a worker thread each)
    private final java.util.ArrayDeque<java.nio.ByteBuffer[]> kvPools = new java.util.ArrayDeque<>();

    /**
     * @param onnxFile a model written by {@link LlamaOnnxExporter#export}
     * @param cfg      its configuration (layers, KV heads, head dim, vocab, context)
     * @param padId    the token fed on padding positions (masked out, any valid id)
     * @param threads  intra-op threads (0 = ONNX Runtime's default)
     */
    public OrtEvaluator(Path onnxFile, ModelConfig cfg, int padId, int threads) {
        this.cfg = Objects.requireNonNull(cfg, "config");
        if (!Files.isRegularFile(onnxFile)) {
            throw new IllegalArgumentException("ONNX model " + onnxFile + " does not exist");
        }
        if (padId < 0 || padId >= cfg.vocabSize()) {
            throw new IllegalArgumentException("pad id " + padId + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
        }
        this.padId = padId;
        for (int l = 0; l < cfg.numLayers(); l++) {
            CACHE_OUTPUTS.add(LlamaOnnxExporter.presentKey(l));
            CACHE_OUTPUTS.add(LlamaOnnxExporter.presentValue(l));
        }
        STEP_OUTPUTS.addAll(CACHE_OUTPUTS);
        CACHE_AND_HIDDEN.addAll(CACHE_OUTPUTS);
        CACHE_AND_HIDDEN.add(LlamaOnnxExporter.HIDDEN);
        CACHE_AND_SCORE.addAll(CACHE_OUTPUTS);
        CACHE_AND_SCORE.add(LlamaOnnxExporter.TARGET_LOGPROBS);
        STEP_OUTPUTS.add(LlamaOnnxExporter.LOGITS);
        this.env = OrtEnvironment.getEnvironment();
        this.decoderFile = onnxFile;
        String profile = System.getProperty("safetune.ort.profile");
        try (OrtSession.SessionOptions opts = options(threads, profile)) {
            this.session = env.createSession(onnxFile.toString(), opts);
            Path headFile = LlamaOnnxExporter.headFile(onnxFile);
            OrtSession h = null;
            if (Files.isRegularFile(headFile)) {
                try {
                    if (profile != null) {
                        // one file per session: two sessions writing under one prefix interleave their JSON
                        opts.enableProfiling(profile + "-head");
                    }
                    // one thread per head run: scoring runs its batches on scorePool's threads, each making its own
                    // head runs, which uses the cores better than one run's Gemm and LogSoftmax split over a pool
                    opts.setIntraOpNumThreads(1);
                    h = env.createSession(headFile.toString(), opts);
                } catch (OrtException e) {
                    session.close();
                    throw new IllegalStateException("ONNX Runtime could not load " + headFile + ": " + e.getMessage(), e);
                }
            }
            this.head = h;
            int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
            this.scorePool = workers <= 1 ? null : java.util.concurrent.Executors.newFixedThreadPool(workers, r -> {
                Thread t = new Thread(r, "safetune-ort-score");
                t.setDaemon(true);
                return t;
            });
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime could not load " + onnxFile + ": " + e.getMessage(), e);
        }
        LlamaOnnxExporter.Attention att = LlamaOnnxExporter.Attention.PLAIN;
        LlamaOnnxExporter.Precision prec = LlamaOnnxExporter.Precision.FP32;
        String key = LlamaOnnxExporter.ATTENTION_METADATA;
        try {
            Map<String, String> meta = session.getMetadata().getCustomMetadata();
            String a = meta.get(key);
            if (a != null) {
                att = LlamaOnnxExporter.Attention.valueOf(a);
            }
            key = LlamaOnnxExporter.PRECISION_METADATA;
            String p = meta.get(key);
            if (p != null) {
                prec = LlamaOnnxExporter.Precision.valueOf(p);
            }
        } catch (OrtException | IllegalArgumentException e) {
            close();
            throw new IllegalArgumentException(onnxFile + ": unreadable " + key + " metadata: " + e.getMessage(), e);
        }
        this.precision = prec;
        this.attention = att;
        this.inPlaceKv = att == LlamaOnnxExporter.Attention.GQA
                && Boolean.parseBoolean(System.getProperty("safetune.ort.inPlaceKv", "true"));
        for (String in : List.of(LlamaOnnxExporter.INPUT_IDS, LlamaOnnxExporter.ATTENTION_MASK, LlamaOnnxExporter.POSITION_IDS,
                LlamaOnnxExporter.LOGIT_ROWS, LlamaOnnxExporter.TARGET_ROWS, LlamaOnnxExporter.TARGET_IDS, LlamaOnnxExporter.HIDDEN_ROWS, LlamaOnnxExporter.pastKey(cfg.numLayers() - 1))) {
            if (!session.getInputNames().contains(in)) {
                close();
                throw new IllegalArgumentException(onnxFile + " lacks input " + in + ": not a SafeTune decoder export for "
                        + cfg.numLayers() + " layers");
            }
        }
    }

    private static OrtSession.SessionOptions options(int threads, String profile) throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (threads > 0) {
            opts.setIntraOpNumThreads(threads);
        }
        if (Boolean.parseBoolean(System.getProperty("safetune.ort.stopSpinning", "true"))) {
            // the decoder and head sessions have a thread pool each and run in turn: a pool left spinning after
            // its run would compete with the other's on two cores
            opts.addConfigEntry("session.force_spinning_stop", "1");
        }
        if (profile != null) {
            // diagnostics: ONNX Runtime writes a per-node timing JSON with this prefix on close
            opts.enableProfiling(profile);
        }
        return opts;
    }

    /** Largest decoder file (MB) scoring makes its one-thread copy of: the copy costs the model's size in memory again. */
    static final String SCORE_SESSION_MAX_MB = "safetune.ort.scoreSessionMaxMb";

    /**
     * The decoder session the worker threads run (scoring batches, generation batches): with several workers, a
     * second session of the same model with one intra-op thread, shared by all workers (ONNX Runtime runs a
     * one-thread session's kernels on the calling thread, so concurrent runs share its weights, not a thread pool;
     * each worker then runs its batch on its own core; two workers sharing the multi-threaded session's pool measured
     * 12–15% slower on the tiny model); the multi-threaded session itself with one worker, or where the model file
     * exceeds {@code safetune.ort.scoreSessionMaxMb} (default 1024) and a copy would cost too much memory.
     */
    private synchronized OrtSession workerSession() {
        try {
            if (scorePool == null || Files.size(decoderFile) > Long.getLong(SCORE_SESSION_MAX_MB, 1024) << 20) {
                return session;
            }
            if (scoreSession == null) {
                String profile = System.getProperty("safetune.ort.profile");
                try (OrtSession.SessionOptions opts = options(1, profile == null ? null : profile + "-score")) {
                    scoreSession = env.createSession(decoderFile.toString(), opts);
                }
            }
            return scoreSession;
        } catch (OrtException | java.io.IOException e) {
            throw new IllegalStateException("ONNX Runtime could not load " + decoderFile + " for scoring: " + e.getMessage(), e);
        }
    }

    public ModelConfig config() {
        return cfg;
    }

    /** The projection precision of the loaded decoder (FP32 for exports without the metadata entry). */
    public LlamaOnnxExporter.Precision precision() {
        return precision;
    }

    /** The attention variant of the loaded decoder (PLAIN for exports without the metadata entry). */
    public LlamaOnnxExporter.Attention attention() {
        return attention;
    }

    /**
     * Caches of one generation batch that GroupQueryAttention appends to in place: per layer one [B, kvHeads,
     * capacity, headDim] key and value tensor, fed as {@code past_*} and bound as the {@code present_*} output of the
     * same run; {@code length} positions are filled.
     */
    private final class InPlaceKv implements GenCache {
        final Map<String, OnnxTensor> past = new HashMap<>();
        final Map<String, OnnxTensor> present = new HashMap<>();
        final OrtSession dec;
        final int batch;
        final java.nio.ByteBuffer[] buffers;
        int length;

        InPlaceKv(OrtSession dec, int batch, int capacity) {
            this.dec = dec;
            this.batch = batch;
            long[] shape = {batch, cfg.numKvHeads(), capacity, cfg.headDim()};
            long need = (long) batch * cfg.numKvHeads() * capacity * cfg.headDim();
            if (need * Float.BYTES > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("a KV cache of " + batch + " rows x " + capacity + " positions exceeds 2 GiB per layer"
                        + " tensor; use a smaller batch size");
            }
            int floats = (int) need;
            int n = 2 * cfg.numLayers();
            java.nio.ByteBuffer[] pool;
            synchronized (kvPools) {
                pool = kvPools.poll();
            }
            if (pool == null || pool[0].capacity() < floats * Float.BYTES) {
                pool = new java.nio.ByteBuffer[n];
                for (int i = 0; i < n; i++) {
                    pool[i] = java.nio.ByteBuffer.allocateDirect(floats * Float.BYTES).order(java.nio.ByteOrder.nativeOrder());
                }
            }
            this.buffers = pool;
            try {
                for (int l = 0; l < cfg.numLayers(); l++) {
                    // unfilled positions are never read: the op attends to the first seqlens_k + 1 only
                    OnnxTensor k = OnnxTensor.createTensor(env, pool[2 * l].asFloatBuffer().limit(floats), shape);
                    OnnxTensor v = OnnxTensor.createTensor(env, pool[2 * l + 1].asFloatBuffer().limit(floats), shape);
                    past.put(LlamaOnnxExporter.pastKey(l), k);
                    past.put(LlamaOnnxExporter.pastValue(l), v);
                    present.put(LlamaOnnxExporter.presentKey(l), k);
                    present.put(LlamaOnnxExporter.presentValue(l), v);
                }
            } catch (OrtException e) {
                close();
                throw new IllegalStateException("ONNX Runtime: " + e.getMessage(), e);
            }
        }

        @Override
        public float[] step(long[][] ids, long[][] positions, long[][] mask, int keep) {
            return forwardInPlace(ids, positions, mask, this, keep);
        }

        @Override
        public void close() {
            past.values().forEach(OnnxTensor::close);
            synchronized (kvPools) {
                kvPools.push(buffers);
            }
        }
    }

    /** The key/value state of one generation batch: each step feeds new tokens and returns its kept rows' logits. */
    private interface GenCache extends AutoCloseable {
        float[] step(long[][] ids, long[][] positions, long[][] mask, int keep);

        @Override
        void close();
    }

    /** A cache replaced by each step's present tensors (the plain export: past and present are separate buffers). */
    private final class CopiedKv implements GenCache {
        private final OrtSession dec;
        private KvCache cache;

        CopiedKv(OrtSession dec, int batch) {
            this.dec = dec;
            cache = emptyCache(batch);
        }

        @Override
        public float[] step(long[][] ids, long[][] positions, long[][] mask, int keep) {
            Step step = forward(dec, ids, positions, mask, cache, keep);
            cache.close();
            cache = step.cache();
            return step.logits();
        }

        @Override
        public void close() {
            cache.close();
        }
    }

    /** As {@link #forward} on an in-place cache: the new keys and values are written into it; returns the logits. */
    private float[] forwardInPlace(long[][] ids, long[][] positions, long[][] mask, InPlaceKv kv, int keep) {
        int b = ids.length;
        int s = ids[0].length;
        int total = kv.length + s;
        long[] rows = new long[b * keep];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < keep; j++) {
                rows[r * keep + j] = (long) r * s + s - keep + j;
            }
        }
        Map<String, OnnxTensor> inputs = new HashMap<>(kv.past);
        List<OnnxTensor> created = new ArrayList<>();
        try {
            putInputs(inputs, created, ids, positions, mask, total, rows, NONE, NONE, NONE);
            try (OrtSession.Result r = kv.dec.run(inputs, LOGITS_ONLY, kv.present)) {
                FloatBuffer fb = tensor(r, LlamaOnnxExporter.LOGITS).getFloatBuffer();
                float[] logits = new float[fb.remaining()];
                fb.get(logits);
                kv.length = total;
                return logits;
            }
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on a batch of " + b + " x " + s + " tokens: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /** Key/value cache of a batch: the present tensors of the last step (or empty tensors before the first). */
    public final class KvCache implements AutoCloseable {
        private final List<OnnxTensor> owned;
        private final OrtSession.Result result;
        private final Map<String, OnnxTensor> past;
        final int batch;
        final int length;

        private KvCache(int batch) throws OrtException {
            this.batch = batch;
            this.length = 0;
            this.result = null;
            this.owned = new ArrayList<>();
            this.past = new HashMap<>();
            long[] shape = {batch, cfg.numKvHeads(), 0, cfg.headDim()};
            for (int l = 0; l < cfg.numLayers(); l++) {
                OnnxTensor k = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), shape);
                OnnxTensor v = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), shape);
                owned.add(k);
                owned.add(v);
                past.put(LlamaOnnxExporter.pastKey(l), k);
                past.put(LlamaOnnxExporter.pastValue(l), v);
            }
        }

        private KvCache(KvCache from, List<Integer> rows) {
            this.batch = rows.size();
            this.length = from.length;
            this.result = null;
            this.owned = new ArrayList<>();
            this.past = new HashMap<>();
            int rowSize = cfg.numKvHeads() * length * cfg.headDim();
            long[] shape = {batch, cfg.numKvHeads(), length, cfg.headDim()};
            try {
                for (Map.Entry<String, OnnxTensor> e : from.past.entrySet()) {
                    FloatBuffer src = e.getValue().getFloatBuffer();
                    FloatBuffer dst = java.nio.ByteBuffer.allocateDirect(batch * rowSize * Float.BYTES)
                            .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
                    for (int r = 0; r < batch; r++) {
                        dst.put(r * rowSize, src, rows.get(r) * rowSize, rowSize);
                    }
                    OnnxTensor t = OnnxTensor.createTensor(env, dst, shape);
                    owned.add(t);
                    past.put(e.getKey(), t);
                }
            } catch (OrtException e) {
                close();
                throw new IllegalStateException("ONNX Runtime: " + e.getMessage(), e);
            }
        }

        private KvCache(OrtSession.Result result, int batch, int length) {
            this.batch = batch;
            this.length = length;
            this.result = result;
            this.owned = List.of();
            this.past = new HashMap<>();
            for (int l = 0; l < cfg.numLayers(); l++) {
                past.put(LlamaOnnxExporter.pastKey(l), tensor(result, LlamaOnnxExporter.presentKey(l)));
                past.put(LlamaOnnxExporter.pastValue(l), tensor(result, LlamaOnnxExporter.presentValue(l)));
            }
        }

        public int length() {
            return length;
        }

        /** A new cache whose row i is row {@code rows.get(i)} of this one (the caller closes both). */
        KvCache repeat(List<Integer> rows) {
            return new KvCache(this, rows);
        }

        @Override
        public void close() {
            owned.forEach(OnnxTensor::close);
            if (result != null) {
                result.close();
            }
        }
    }

    /** An empty cache for a batch of {@code batch} rows. */
    public KvCache emptyCache(int batch) {
        try {
            return new KvCache(batch);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime: " + e.getMessage(), e);
        }
    }

    /** Logits of one step, {@code [batch][kept][vocab]} flattened, and the grown cache (the caller closes both caches). */
    public record Step(float[] logits, int kept, KvCache cache) {
    }

    /**
     * One forward step over {@code ids} [B][S] with positions [B][S], the attention mask over cache + new
     * tokens [B][P+S], keeping logits of the last {@code keep} positions.
     */
    public Step forward(long[][] ids, long[][] positions, long[][] mask, KvCache past, int keep) {
        return forward(session, ids, positions, mask, past, keep);
    }

    private Step forward(OrtSession dec, long[][] ids, long[][] positions, long[][] mask, KvCache past, int keep) {
        int b = ids.length;
        int s = ids[0].length;
        if (past.batch != b) {
            throw new IllegalArgumentException("cache is for " + past.batch + " rows, batch has " + b);
        }
        int total = past.length + s;
        if (total > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + total + " tokens exceeds the model context of " + cfg.maxPositions());
        }
        if (keep < 1 || keep > s) {
            throw new IllegalArgumentException("keep must be in [1, " + s + "], got " + keep);
        }
        long[] rows = new long[b * keep];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < keep; j++) {
                rows[r * keep + j] = (long) r * s + s - keep + j;
            }
        }
        OrtSession.Result r = run(dec, ids, positions, mask, past, rows, NONE, NONE, NONE, total, STEP_OUTPUTS);
        float[] logits = new float[b * keep * cfg.vocabSize()];
        tensor(r, LlamaOnnxExporter.LOGITS).getFloatBuffer().get(logits);
        return new Step(logits, keep, new KvCache(r, b, total));
    }

    private static final long[] NONE = new long[0];
    // scored inside the decoder graph (no head model), a run holds two [rows, vocab] float tensors (logits,
    // log-probabilities): ~400 MB at 1,024 rows of a 49,152-token vocabulary
    private static final int MAX_TARGET_ROWS = 1024;

    private OrtSession.Result run(OrtSession dec, long[][] ids, long[][] positions, long[][] mask, KvCache past, long[] rows, long[] targetRows,
                                  long[] targets, long[] hiddenRows, int total, java.util.Set<String> outputs) {
        int b = ids.length;
        int s = ids[0].length;
        Map<String, OnnxTensor> inputs = new HashMap<>(past.past);
        List<OnnxTensor> created = new ArrayList<>();
        try {
            putInputs(inputs, created, ids, positions, mask, total, rows, targetRows, hiddenRows, targets);
            return dec.run(inputs, outputs);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on a batch of " + b + " x " + s + " tokens: " + e.getMessage(), e);
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    /** The decoder's token inputs (ids, positions, mask over {@code total} slots) and its row selections. */
    private void putInputs(Map<String, OnnxTensor> inputs, List<OnnxTensor> created, long[][] ids, long[][] positions,
                           long[][] mask, int total, long[] rows, long[] targetRows, long[] hiddenRows, long[] targets)
            throws OrtException {
        int b = ids.length;
        int s = ids[0].length;
        created.add(put(inputs, LlamaOnnxExporter.INPUT_IDS, flatten(ids, s), b, s));
        created.add(put(inputs, LlamaOnnxExporter.POSITION_IDS, flatten(positions, s), b, s));
        created.add(put(inputs, LlamaOnnxExporter.ATTENTION_MASK, flatten(mask, total), b, total));
        created.add(put(inputs, LlamaOnnxExporter.LOGIT_ROWS, rows));
        created.add(put(inputs, LlamaOnnxExporter.TARGET_ROWS, targetRows));
        created.add(put(inputs, LlamaOnnxExporter.HIDDEN_ROWS, hiddenRows));
        created.add(put(inputs, LlamaOnnxExporter.TARGET_IDS, targets));
    }

    /** A 1-D int64 input. */
    private OnnxTensor put(Map<String, OnnxTensor> inputs, String name, long[] data) throws OrtException {
        OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(data), new long[]{data.length});
        inputs.put(name, t);
        return t;
    }

    private OnnxTensor put(Map<String, OnnxTensor> inputs, String name, long[] data, int rows, int cols) throws OrtException {
        OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(data), new long[]{rows, cols});
        inputs.put(name, t);
        return t;
    }

    private static OnnxTensor tensor(OrtSession.Result r, String name) {
        OnnxValue v = r.get(name).orElseThrow(() -> new IllegalStateException("ONNX model produced no output " + name));
        return (OnnxTensor) v;
    }

    private long[] flatten(long[][] rows, int cols) {
        long[] out = new long[rows.length * cols];
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != cols) {
                throw new IllegalArgumentException("row " + i + " has " + rows[i].length + " entries, expected " + cols);
            }
            System.arraycopy(rows[i], 0, out, i * cols, cols);
        }
        return out;
    }

    /**
     * Generates a response for every prompt (token ids, chat template already applied). Prompts are batched
     * by length; results come back in prompt order. With several threads the batches run concurrently, one per
     * worker thread (see {@link #generationWorkers}); a prompt's tokens do not depend on which worker ran it, and
     * {@code progress} sees the running count of finished prompts in completion order.
     *
     * @param decoder turns generated ids (without EOS) into text; needed for stop strings, may be null otherwise
     */
    public List<Generation> generate(List<int[]> prompts, GenerationConfig gc, Function<int[], String> decoder) {
        return generate(prompts, gc, decoder, n -> { });
    }

    /** As {@link #generate(List, GenerationConfig, Function)}, reporting the number of finished prompts after each batch. */
    public List<Generation> generate(List<int[]> prompts, GenerationConfig gc, Function<int[], String> decoder,
                                     java.util.function.IntConsumer progress) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("no prompts to generate from");
        }
        if (!gc.stopStrings().isEmpty() && decoder == null) {
            throw new IllegalArgumentException("stop strings need a decoder");
        }
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = prompts.get(i);
            if (p.length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty");
            }
            if (p.length + gc.maxNewTokens() > cfg.maxPositions()) {
                throw new IllegalArgumentException("prompt " + i + " has " + p.length + " tokens; with " + gc.maxNewTokens()
                        + " new tokens it exceeds the model context of " + cfg.maxPositions());
            }
            for (int id : p) {
                if (id < 0 || id >= cfg.vocabSize()) {
                    throw new IllegalArgumentException("prompt " + i + " has token id " + id + " outside [0, " + cfg.vocabSize() + ")");
                }
            }
        }
        Integer[] order = new Integer[prompts.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingInt(i -> prompts.get(i).length));
        Generation[] out = new Generation[prompts.size()];
        List<int[]> batches = new ArrayList<>();
        for (int start = 0; start < order.length; start += gc.batchSize()) {
            int[] idx = new int[Math.min(gc.batchSize(), order.length - start)];
            for (int j = 0; j < idx.length; j++) {
                idx[j] = order[start + j];
            }
            batches.add(idx);
        }
        // a single batch never loads the one-thread copy
        OrtSession dec = batches.size() > 1 && generationWorkers() ? workerSession() : session;
        boolean parallel = dec != session;
        int[] done = {0};
        // one batch, on the multi-threaded session or (parallel) a worker thread's one-thread session: ORT runs a
        // one-thread session's kernels on the calling thread, so concurrent runs share its weights, not a pool
        java.util.function.Consumer<int[]> runBatch = idx -> {
            Generation[] g = generateBatch(dec, prompts, idx, gc, decoder);
            for (int j = 0; j < idx.length; j++) {
                out[idx[j]] = g[j];
            }
            synchronized (done) {
                done[0] += idx.length;
                progress.accept(done[0]);
            }
        };
        if (!parallel) {
            batches.forEach(runBatch);
            return List.of(out);
        }
        List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
        for (int[] idx : batches) {
            futures.add(scorePool.submit(() -> runBatch.accept(idx)));
        }
        joinAll(futures);
        return List.of(out);
    }

    /**
     * Whether generation runs its batches on the worker threads (default; {@code -Dsafetune.ort.genWorkers=false}: one
     * batch at a time on the multi-threaded session). Two one-thread batches at once beat one two-thread batch by
     * ~5% on SmolLM2 (benchmarks/RESULTS.md): ORT's per-op thread handoffs on batch-32 decode steps cost more than
     * the second KV cache.
     */
    private static boolean generationWorkers() {
        return Boolean.parseBoolean(System.getProperty("safetune.ort.genWorkers", "true"));
    }

    private Generation[] generateBatch(OrtSession dec, List<int[]> prompts, int[] idx, GenerationConfig gc, Function<int[], String> decoder) {
        int b = idx.length;
        int v = cfg.vocabSize();
        int t = 0;
        for (int i : idx) {
            t = Math.max(t, prompts.get(i).length);
        }
        boolean left = gc.padding() == GenerationConfig.Padding.LEFT;
        long[][] ids = new long[b][t];
        long[][] pos = new long[b][t];
        long[][] mask = new long[b][t];
        int[] len = new int[b];
        for (int r = 0; r < b; r++) {
            int[] p = prompts.get(idx[r]);
            len[r] = p.length;
            int off = left ? t - p.length : 0;
            Arrays.fill(ids[r], padId);
            for (int j = 0; j < p.length; j++) {
                ids[r][off + j] = p[j];
                pos[r][off + j] = j;
                mask[r][off + j] = 1;
            }
        }
        SplittableRandom[] rnd = new SplittableRandom[b];
        for (int r = 0; r < b; r++) {
            rnd[r] = new SplittableRandom(gc.seed() * 1_000_003L + idx[r]);
        }
        List<List<Integer>> gen = new ArrayList<>();
        for (int r = 0; r < b; r++) {
            gen.add(new ArrayList<>());
        }
        Generation.Finish[] finish = new Generation.Finish[b];
        String[] texts = new String[b];
        // the last generated token is never fed back: t + maxNewTokens - 1 positions at most
        try (GenCache kv = inPlaceKv ? new InPlaceKv(dec, b, t + gc.maxNewTokens() - 1) : new CopiedKv(dec, b)) {
            int kept = left ? 1 : t;
            float[] logits = kv.step(ids, pos, mask, kept);
            float[] row = new float[v];
            List<long[]> maskRows = new ArrayList<>();
            for (long[] m : mask) {
                maskRows.add(m);
            }
            for (int stepNo = 0; ; stepNo++) {
                long[][] next = new long[b][1];
                long[][] nextPos = new long[b][1];
                boolean anyActive = false;
                for (int r = 0; r < b; r++) {
                    if (finish[r] != null) {
                        next[r][0] = padId;
                        nextPos[r][0] = len[r] + stepNo;
                        continue;
                    }
                    int at = stepNo == 0 ? (left ? 0 : len[r] - 1) : 0;
                    System.arraycopy(logits, (r * kept + at) * v, row, 0, v);
                    int tok = gc.greedy() ? argmax(row) : Sampling.sample(row, gc.temperature(), gc.topK(), gc.topP(), rnd[r]);
                    gen.get(r).add(tok);
                    if (gc.eosIds().contains(tok)) {
                        finish[r] = Generation.Finish.EOS;
                    } else if (!gc.stopStrings().isEmpty()) {
                        String text = decoder.apply(toArray(gen.get(r), false));
                        for (String stop : gc.stopStrings()) {
                            int at2 = text.indexOf(stop);
                            if (at2 >= 0) {
                                finish[r] = Generation.Finish.STOP_STRING;
                                texts[r] = text.substring(0, at2);
                                break;
                            }
                        }
                    }
                    if (finish[r] == null && gen.get(r).size() >= gc.maxNewTokens()) {
                        finish[r] = Generation.Finish.MAX_NEW_TOKENS;
                    }
                    next[r][0] = tok;
                    nextPos[r][0] = len[r] + stepNo;
                    anyActive |= finish[r] == null;
                }
                if (!anyActive) {
                    break;
                }
                for (int r = 0; r < b; r++) {
                    long[] m = Arrays.copyOf(maskRows.get(r), maskRows.get(r).length + 1);
                    m[m.length - 1] = 1;
                    maskRows.set(r, m);
                }
                kept = 1;
                logits = kv.step(next, nextPos, maskRows.toArray(long[][]::new), kept);
            }
        }
        Generation[] out = new Generation[b];
        for (int r = 0; r < b; r++) {
            int[] all = toArray(gen.get(r), false);
            String text = texts[r];
            if (text == null && decoder != null) {
                text = decoder.apply(toArray(gen.get(r), finish[r] == Generation.Finish.EOS));
            }
            out[r] = new Generation(all, text, finish[r]);
        }
        return out;
    }

    private static int[] toArray(List<Integer> l, boolean dropLast) {
        int n = dropLast ? l.size() - 1 : l.size();
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = l.get(i);
        }
        return a;
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * Sum of log-probabilities of each continuation given its context: {@code log p(cont | ctx)} — the score
     * of a multiple-choice option. Items with the same context (the options of one question) share it, and
     * with it the longest prefix all their continuations have in common (PIQA's two solutions often differ
     * in a word or two), minus one token so every option keeps one of its own: that group prefix minus its
     * last token runs once (left-padded; keys and values, plus the final hidden rows of the shared
     * continuation tokens, each scored once for the whole group), its cache is repeated for every option,
     * and the options run against it, each fed the prefix's last token and the rest of its own
     * tokens but the final one (right-padded; options of similar length share a run, see {@link #partition}).
     * The head and the log-softmax see only scored positions. Batches run on {@code threads} worker threads at
     * once, each making its own decoder and head-model runs; a score is the same sum of the same
     * log-probabilities, in continuation order, whichever thread computed them.
     *
     * @param batchSize options per batch, fewer when their continuations exceed 1,024 tokens in all; the options of
     *                  one context always share a batch (one context pass)
     */
    public double[] logLikelihoods(List<int[]> contexts, List<int[]> continuations, int batchSize) {
        if (contexts.size() != continuations.size()) {
            throw new IllegalArgumentException(contexts.size() + " contexts but " + continuations.size() + " continuations");
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batchSize must be > 0, got " + batchSize);
        }
        int n = contexts.size();
        Map<IntKey, Integer> groupOf = new HashMap<>();
        List<int[]> groupCtx = new ArrayList<>();
        List<List<Integer>> members = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] c = contexts.get(i);
            int[] k = continuations.get(i);
            if (c.length == 0 || k.length == 0) {
                throw new IllegalArgumentException("item " + i + ": context and continuation must both be non-empty");
            }
            if (c.length + k.length > cfg.maxPositions()) {
                throw new IllegalArgumentException("item " + i + " has " + (c.length + k.length) + " tokens, more than the model context of "
                        + cfg.maxPositions());
            }
            checkIds(c, "item " + i + " context");
            checkIds(k, "item " + i + " continuation");
            int g = groupOf.computeIfAbsent(new IntKey(c), key -> {
                groupCtx.add(c);
                members.add(new ArrayList<>());
                return groupCtx.size() - 1;
            });
            members.get(g).add(i);
        }
        // every scored token gets a slot: a group's shared continuation tokens one each, every item's own tokens one each
        List<Group> groups = new ArrayList<>();
        int[][] slotOf = new int[n][];
        int slots = 0;
        for (int g = 0; g < groupCtx.size(); g++) {
            int[] c = groupCtx.get(g);
            List<Integer> m = members.get(g);
            int[] k0 = continuations.get(m.get(0));
            // shared: the common prefix of all the group's continuations, one token short of the shortest
            int sh = k0.length - 1;
            for (int i : m) {
                int[] k = continuations.get(i);
                sh = Math.min(sh, k.length - 1);
                int j = 0;
                while (j < sh && k[j] == k0[j]) {
                    j++;
                }
                sh = j;
            }
            int[] prefix = Arrays.copyOf(c, c.length + sh);
            System.arraycopy(k0, 0, prefix, c.length, sh);
            int first = slots;
            slots += sh;
            int targets = sh;
            for (int i : m) {
                int[] k = continuations.get(i);
                slotOf[i] = new int[k.length];
                for (int j = 0; j < k.length; j++) {
                    slotOf[i][j] = j < sh ? first + j : slots++;
                }
                targets += k.length - sh;
            }
            groups.add(new Group(prefix, c.length, first, m, targets));
        }
        groups.sort(Comparator.comparingInt(gr -> gr.prefix.length));
        List<List<Group>> batches = new ArrayList<>();
        for (int start = 0; start < groups.size(); ) {
            int end = start;
            int rows = 0;
            int targets = 0;
            while (end < groups.size()) {
                Group gr = groups.get(end);
                if (end > start && (rows + gr.members.size() > batchSize || targets + gr.targets > MAX_TARGET_ROWS)) {
                    break;
                }
                rows += gr.members.size();
                targets += gr.targets;
                end++;
            }
            batches.add(groups.subList(start, end));
            start = end;
        }
        float[] lp = new float[slots];
        SlotWriter writer = new SlotWriter(lp);
        if (scorePool != null && batches.size() > 1) {
            OrtSession dec = workerSession();
            // whole batches on the worker threads, each running its decoder passes and then its head runs: the cores
            // stay busy through the head's single-threaded runs and the decoder's small ops alike
            List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
            for (List<Group> batch : batches) {
                futures.add(scorePool.submit(() -> scoreGroups(dec, batch, continuations, slotOf, writer)));
            }
            joinAll(futures); // Future.get orders the workers' writes to lp before the sums below
        } else {
            for (List<Group> batch : batches) {
                scoreGroups(session, batch, continuations, slotOf, writer);
            }
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int s : slotOf[i]) {
                sum += lp[s];
            }
            out[i] = sum;
        }
        return out;
    }

    /**
     * Items sharing a context: {@code prefix} = the context and the continuation tokens all members share
     * ({@code prefix.length - ctxLen} of them, scored into slots {@code firstSlot ..}); {@code targets} = scored tokens.
     */
    private record Group(int[] prefix, int ctxLen, int firstSlot, List<Integer> members, int targets) {
        int shared() {
            return prefix.length - ctxLen;
        }
    }

    private void checkIds(int[] ids, String what) {
        for (int id : ids) {
            if (id < 0 || id >= cfg.vocabSize()) {
                throw new IllegalArgumentException(what + " has token id " + id + " outside [0, " + cfg.vocabSize() + ")");
            }
        }
    }

    private void scoreGroups(OrtSession dec, List<Group> groups, List<int[]> continuations, int[][] slotOf, SlotWriter scores) {
        int g = groups.size();
        int p = 0;
        int sharedTargets = 0;
        for (Group gr : groups) {
            p = Math.max(p, gr.prefix.length - 1);
            sharedTargets += gr.shared();
        }
        // group prefixes without their last token, left-padded to p; the shared continuation tokens are scored here
        long[][] ctxMask = new long[g][p];
        float[] ctxHidden = new float[0];
        long[] ctxTargets = NONE;
        int[] ctxSlots = new int[0];
        KvCache shared;
        if (p == 0) {
            shared = emptyCache(g);
        } else {
            long[][] ids = new long[g][p];
            long[][] pos = new long[g][p];
            long[] rows = new long[sharedTargets];
            long[] targetIds = new long[sharedTargets];
            int[] slots = new int[sharedTargets];
            int t = 0;
            for (int r = 0; r < g; r++) {
                Group gr = groups.get(r);
                int[] c = gr.prefix;
                int off = p - (c.length - 1);
                Arrays.fill(ids[r], padId);
                for (int j = 0; j < c.length - 1; j++) {
                    ids[r][off + j] = c[j];
                    pos[r][off + j] = j;
                    ctxMask[r][off + j] = 1;
                }
                for (int j = 0; j < gr.shared(); j++) {
                    rows[t] = (long) r * p + off + gr.ctxLen - 1 + j;
                    targetIds[t] = c[gr.ctxLen + j];
                    slots[t] = gr.firstSlot + j;
                    t++;
                }
            }
            OrtSession.Result res;
            try (KvCache empty = emptyCache(g)) {
                if (sharedTargets == 0) { // keys and values only: no logit rows
                    res = run(dec, ids, pos, ctxMask, empty, NONE, NONE, NONE, NONE, p, CACHE_OUTPUTS);
                } else if (head != null) {
                    res = run(dec, ids, pos, ctxMask, empty, NONE, NONE, NONE, rows, p, CACHE_AND_HIDDEN);
                } else {
                    res = run(dec, ids, pos, ctxMask, empty, NONE, rows, targetIds, NONE, p, CACHE_AND_SCORE);
                }
            }
            shared = new KvCache(res, g, p);
            if (sharedTargets > 0) {
                if (head != null) { // submitted with the options' rows below, as one set of equal head runs
                    ctxHidden = new float[sharedTargets * cfg.hiddenSize()];
                    tensor(res, LlamaOnnxExporter.HIDDEN).getFloatBuffer().get(ctxHidden);
                    ctxTargets = targetIds;
                    ctxSlots = slots;
                } else {
                    scores.put(tensor(res, LlamaOnnxExporter.TARGET_LOGPROBS).getFloatBuffer(), slots);
                }
            }
        }
        // one row per option: [last prefix token, the rest of its continuation without its final token], right-padded;
        // rows sorted by length and cut into runs that pad little (partition)
        int b = 0;
        for (Group gr : groups) {
            b += gr.members.size();
        }
        int[] items = new int[b];
        int[] rowGroup = new int[b];
        int[] len = new int[b];
        int targets = 0;
        for (int r = 0, q = 0; r < g; r++) {
            Group gr = groups.get(r);
            for (int i : gr.members) {
                items[q] = i;
                rowGroup[q] = r;
                len[q] = continuations.get(i).length - gr.shared();
                targets += len[q];
                q++;
            }
        }
        Integer[] order = new Integer[b];
        for (int q = 0; q < b; q++) {
            order[q] = q;
        }
        Arrays.sort(order, Comparator.comparingInt(q -> len[q]));
        int[] sortedLen = new int[b];
        for (int q = 0; q < b; q++) {
            sortedLen[q] = len[order[q]];
        }
        int h = cfg.hiddenSize();
        // the context pass's rows first
        float[] hidden = head != null ? Arrays.copyOf(ctxHidden, (ctxTargets.length + targets) * h) : null;
        long[] targetIds = Arrays.copyOf(ctxTargets, ctxTargets.length + targets);
        int[] slots = Arrays.copyOf(ctxSlots, ctxSlots.length + targets);
        int t = ctxTargets.length;
        try {
            int[] cuts = partition(sortedLen);
            for (int part = 0; part + 1 < cuts.length; part++) {
                int from = cuts[part];
                int rows = cuts[part + 1] - from;
                int s = sortedLen[cuts[part + 1] - 1];
                long[][] ids = new long[rows][s];
                long[][] pos = new long[rows][s];
                long[][] mask = new long[rows][p + s];
                List<Integer> cacheRows = new ArrayList<>();
                int partTargets = 0;
                for (int r = 0; r < rows; r++) {
                    partTargets += len[order[from + r]];
                }
                long[] logitRows = new long[partTargets];
                int t0 = t;
                for (int r = 0; r < rows; r++) {
                    int q = order[from + r];
                    Group gr = groups.get(rowGroup[q]);
                    int[] c = gr.prefix;
                    int sh = gr.shared();
                    int[] k = continuations.get(items[q]);
                    cacheRows.add(rowGroup[q]);
                    Arrays.fill(ids[r], padId);
                    System.arraycopy(ctxMask[rowGroup[q]], 0, mask[r], 0, p);
                    for (int j = 0; j < len[q]; j++) {
                        ids[r][j] = j == 0 ? c[c.length - 1] : k[sh + j - 1];
                        pos[r][j] = c.length - 1 + j;
                        mask[r][p + j] = 1;
                        logitRows[t - t0] = (long) r * s + j;
                        targetIds[t] = k[sh + j];
                        slots[t] = slotOf[items[q]][sh + j];
                        t++;
                    }
                }
                try (KvCache past = shared.repeat(cacheRows)) {
                    if (head != null) {
                        try (OrtSession.Result res = run(dec, ids, pos, mask, past, NONE, NONE, NONE, logitRows, p + s, HIDDEN_OUTPUTS)) {
                            tensor(res, LlamaOnnxExporter.HIDDEN).getFloatBuffer().get(hidden, t0 * h, partTargets * h);
                        }
                    } else {
                        try (OrtSession.Result res = run(dec, ids, pos, mask, past, NONE, logitRows,
                                Arrays.copyOfRange(targetIds, t0, t), NONE, p + s, SCORE_OUTPUTS)) {
                            scores.put(tensor(res, LlamaOnnxExporter.TARGET_LOGPROBS).getFloatBuffer(), Arrays.copyOfRange(slots, t0, t));
                        }
                    }
                }
            }
        } finally {
            shared.close();
        }
        if (head != null) { // one submission: the head runs on equal chunks of all the options' rows
            scores.score(hidden, targetIds, slots);
        }
    }

    // what one more decoder run costs, in padded option tokens (the tiny model: ~0.4 ms a run, ~7 µs a token)
    static final int RUN_COST_TOKENS = 64;

    /**
     * Cuts rows of ascending lengths into consecutive runs, each padded to its longest row, with the least padded
     * tokens plus {@link #RUN_COST_TOKENS} per run; returns the run boundaries (0, ..., n).
     */
    static int[] partition(int[] sortedLen) {
        int n = sortedLen.length;
        long[] best = new long[n + 1];
        int[] from = new int[n + 1];
        for (int j = 1; j <= n; j++) {
            best[j] = Long.MAX_VALUE;
            for (int i = 0; i < j; i++) {
                long c = best[i] + (long) (j - i) * sortedLen[j - 1] + RUN_COST_TOKENS;
                if (c < best[j]) {
                    best[j] = c;
                    from[j] = i;
                }
            }
        }
        List<Integer> cuts = new ArrayList<>();
        for (int j = n; j > 0; j = from[j]) {
            cuts.add(j);
        }
        cuts.add(0);
        int[] out = new int[cuts.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = cuts.get(out.length - 1 - i);
        }
        return out;
    }

    /** Waits for every task; on a failure, cancels those not started, waits for the rest, and rethrows it. */
    private static void joinAll(List<java.util.concurrent.Future<?>> futures) {
        RuntimeException failure = null;
        for (java.util.concurrent.Future<?> f : futures) {
            try {
                if (failure != null) {
                    f.cancel(false);
                }
                f.get();
            } catch (java.util.concurrent.CancellationException e) {
                // cancelled after an earlier failure
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure = failure != null ? failure : new IllegalStateException("interrupted while waiting for the ONNX Runtime worker threads", e);
            } catch (java.util.concurrent.ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    // rows per head run: [64, vocab] logits and log-probabilities stay in cache (fastest per row on the tiny
    // model's 32-wide head, measured against 16 to 1,024 rows)
    private static final int HEAD_CHUNK = 64;

    /**
     * Log-probabilities of one {@link #logLikelihoods} call, written into their slots: as the decoder graph returns
     * them (in-graph scoring) or from head-model runs made here. Batches on different threads write disjoint slots.
     */
    private final class SlotWriter {
        private final float[] lp;

        SlotWriter(float[] lp) {
            this.lp = lp;
        }

        /** Log-probabilities computed by the decoder graph itself. */
        void put(FloatBuffer values, int[] slots) {
            for (int i = 0; i < slots.length; i++) {
                lp[slots[i]] = values.get(i);
            }
        }

        /** Head-model runs for hidden rows [n, hidden], in equal chunks of at most {@link #HEAD_CHUNK} rows. */
        void score(float[] hidden, long[] targetIds, int[] slots) {
            int h = cfg.hiddenSize();
            int n = targetIds.length;
            // equal chunks: a small last one would stream the whole head weight for a few rows
            int chunks = (n + HEAD_CHUNK - 1) / HEAD_CHUNK;
            int size = (n + chunks - 1) / Math.max(1, chunks);
            for (int start = 0; start < n; start += size) {
                int m = Math.min(size, n - start);
                FloatBuffer x = java.nio.ByteBuffer.allocateDirect(m * h * Float.BYTES).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
                x.put(hidden, start * h, m * h).rewind();
                try (OnnxTensor xt = OnnxTensor.createTensor(env, x, new long[]{m, h});
                     OnnxTensor tt = OnnxTensor.createTensor(env, LongBuffer.wrap(targetIds, start, m).slice(), new long[]{m});
                     OrtSession.Result r = head.run(Map.of(LlamaOnnxExporter.HIDDEN, xt, LlamaOnnxExporter.TARGET_IDS, tt))) {
                    FloatBuffer out = tensor(r, LlamaOnnxExporter.TARGET_LOGPROBS).getFloatBuffer();
                    for (int i = 0; i < m; i++) {
                        lp[slots[start + i]] = out.get(i);
                    }
                } catch (OrtException e) {
                    throw new IllegalStateException("ONNX Runtime failed on the head model: " + e.getMessage(), e);
                }
            }
        }
    }

    /** An int[] compared by content, to find items that share a context. */
    private record IntKey(int[] a) {
        @Override
        public boolean equals(Object o) {
            return o instanceof IntKey k && Arrays.equals(a, k.a);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(a);
        }
    }

    @Override
    public void close() {
        try {
            if (System.getProperty("safetune.ort.profile") != null) {
                session.endProfiling();
                if (head != null) {
                    head.endProfiling();
                }
            }
            if (scorePool != null) {
                scorePool.shutdownNow();
            }
            if (scoreSession != null) {
                if (System.getProperty("safetune.ort.profile") != null) {
                    scoreSession.endProfiling();
                }
                scoreSession.close();
            }
            session.close();
            if (head != null) {
                head.close();
            }
        } catch (OrtException e) {
            throw new IllegalStateException("closing the ONNX Runtime session: " + e.getMessage(), e);
        }
    }
}
