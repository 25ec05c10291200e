package ai.safetune.cuda;

import ai.safetune.backend.AttentionShape;
import ai.safetune.backend.Backend;
import ai.safetune.backend.DropoutMask;
import ai.safetune.backend.Tensor;
import ai.safetune.backend.WeightHandle;
import ai.safetune.cuda.SafeTuneKernels.st_ctx;
import ai.safetune.model.QuantizedWeight;
import ai.safetune.model.gguf.GgmlType;
import ai.safetune.model.Weight;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongConsumer;

import static ai.safetune.cuda.SafeTuneKernels.*;

/**
 * The CUDA backend: every {@link Backend} op is one or two calls into the kernel library on this backend's
 * own stream (one backend per trainer = one stream per trainer). Device buffers come from a pool of
 * power-of-two size classes, so a training loop that closes and re-allocates its buffers does not call
 * cudaMalloc again. Host arrays (token ids, positions, masks) go through small device scratch buffers.
 * Every native status is checked; a failure is a {@link CudaException} with the op and the CUDA message.
 * <p>The frozen matmuls (forward and backward) and attention run in the {@link CudaPrecision} chosen at
 * construction: exact fp32 by default, or bf16 tensor cores with fp32 accumulation (attention: bf16 Q, K, V and
 * probabilities with fp32 softmax, as bf16 flash attention), and the LoRA rank-r products (cuBLAS) in fp32, or
 * TF32 in the bf16 precisions. Everything else (norms, RoPE, loss, AdamW) is fp32 in every precision.
 * <p>Frozen weights live on the device as bf16 when stored as BF16 (exact), and as fp32 otherwise (exact) in
 * the f32 precision; the bf16 precisions round them to bf16 (nearest even) once at {@link #prepare}, as a
 * bf16 PEFT run holds its base. A GGUF Q8_0/Q4_1 weight prepared without {@code dequantize} goes to the device
 * as its stored blocks (a QLoRA-style base, ~4-7× smaller than fp32): the tile kernels expand them per tile, the
 * cuBLAS path once per call into a bf16 scratch, the embedding kernel per row.
 * <p>The optimizer hooks ({@link #sumOfSquares}, {@link #adamw}) run on the device, so a training loop that
 * uses them ({@code BackendAdamW}) moves only the gradient norm to the host per step.
 * <p>Not thread-safe, like every backend: drive it from one thread.
 */
public final class CudaBackend implements Backend {
    /** The fused LoRA layer order of {@link #loraLinear}; a system property turns it off for A/B runs. */
    private static final boolean FUSED_LORA = onUnlessFalse("safetune.cuda.fusedLora");
    private boolean exactRankProducts = Boolean.getBoolean("safetune.cuda.rankKernels");
    /**
     * bf16 precision: RMSNorm (forward, accumulating backward), SwiGLU (forward and backward) and the cross-entropy
     * backward also write a bf16 copy of their output, and the frozen GEMM that reads that tensor next takes the copy
     * instead of casting it again (the same bits: both round to nearest even). On by default since the 2026-11-27
     * GPU session measured it (1B b6 step 54.7 → 52.8 ms on an H200, benchmarks/RESULTS.md);
     * {@code -Dsafetune.cuda.bf16Copies=false} turns it off for A/B runs.
     */
    private boolean bf16Copies = onUnlessFalse("safetune.cuda.bf16Copies");
    /**
     * bf16 precision, fused LoRA layer without dropout: the rank-r products that read a whole activation (u = x·Aᵀ,
     * du = s·dout·B, dB += s·doutᵀ·u, and dA += duᵀ·x where x has a bf16 copy) run as bf16 cuBLAS GEMMs (fp32
     * accumulate and output) on the bf16 x and dout the frozen GEMM reads anyway, instead of TF32 on the fp32
     * tensors: half the bytes of the products that moved ~17 GB of a 1B step. The small operands (A, B, u, du) are
     * cast per call. Numerics: PEFT's on a bf16 model (there the activations are bf16 and the LoRA math fp32 on
     * them); within the bf16 step bounds ({@code Bf16ErrorModelTest} checks them with every such input rounded).
     * On by default since the 2026-11-27 GPU session measured it (1B b6 step 52.8 → 49.7 ms with the copies, an
     * H200); {@code -Dsafetune.cuda.bf16Rank=false} turns it off.
     */
    private boolean bf16Rank = onUnlessFalse("safetune.cuda.bf16Rank");
    private final Bf16Copies<CudaTensor> copies = new Bf16Copies<>(4, CudaTensor::close);

    /** A switch that is on unless its system property says "false" (the A/B switches above). */
    private static boolean onUnlessFalse(String property) {
        return !"false".equals(System.getProperty(property));
    }
    /** Above 0 inside an op that reports its own writes to {@link #copies}, so {@link #ptr} leaves them alone. */
    private int tracked;
    private final st_ctx ctx = new st_ctx();
    private final String deviceName;
    private final Map<Long, ArrayDeque<Long>> pool = new HashMap<>();
    private final Map<CudaTensor, Boolean> live = new IdentityHashMap<>();
    private final Map<String, CudaTensor> invFreq = new HashMap<>();
    private final CudaTensor[] scratch = new CudaTensor[13];
    private static final int S_INTS = 0, S_MASK = 1, S_STATS = 2, S_TARGETS = 3, S_TMP = 4, S_WEIGHT = 5, S_NORM = 6,
            S_TABLE_FILL = 7, S_TABLE_ADAM = 8, S_TABLE_SUMSQ = 9, S_RANK_ACT = 10, S_RANK_W = 11, S_RANK_U = 12;
    private final long[][] uploadedTable = new long[scratch.length][];  // last tensor table uploaded per table slot
    private final int[][] uploaded = new int[scratch.length][];  // last host values uploaded per ints slot
    private final long[] uploadedAt = new long[scratch.length];
    private final CudaPrecision precision;
    private boolean closed;

    /** Creates a context (stream + cuBLAS handle) on {@code device} in the {@link CudaPrecision#configured()} precision. */
    public CudaBackend(int device) {
        this(device, CudaPrecision.configured());
    }

    /** Creates a context (stream + cuBLAS handle) on {@code device} whose frozen matmuls run in {@code precision}. */
    public CudaBackend(int device, CudaPrecision precision) {
        this.precision = Objects.requireNonNull(precision, "precision");
        SafeTuneKernels.load();
        check(st_ctx_create(ctx, device), "create");
        deviceName = deviceName(device);
    }

    /** The name the kernel library gives device {@code device} (the library must be loaded). */
    static String deviceName(int device) {
        byte[] buf = new byte[256];
        check(st_device_name(device, buf, buf.length), "create");
        int len = 0;
        while (len < buf.length && buf[len] != 0) {
            len++;
        }
        return new String(buf, 0, len, StandardCharsets.UTF_8);
    }

    @Override
    public String name() {
        return "cuda";
    }

    /** Turns the bf16 copies of producer outputs on or off for this backend (tests, A/B runs). */
    void bf16Copies(boolean on) {
        copies.clear();
        bf16Copies = on;
    }

    /** Turns the bf16 rank-r products of the fused LoRA layer on or off for this backend (tests, A/B runs). */
    void bf16Rank(boolean on) {
        copies.clear();
        bf16Rank = on;
    }

    /**
     * Whether the fused LoRA layer's rank-r products read bf16 inputs (bf16 precision, turned on, the fused layer on,
     * not the exact kernels).
     */
    boolean bf16RankOn() {
        return bf16Rank && FUSED_LORA && precision == CudaPrecision.BF16 && !exactRankProducts;
    }

    /** Whether the bf16 copies are in effect (bf16 precision, turned on, not the exact rank-r kernels). */
    boolean bf16CopiesOn() {
        return copying();
    }

    /** How many bf16 copies are held now (tests). */
    int bf16CopiesHeld() {
        return copies.size();
    }

    /** Whether the ops write bf16 copies of their outputs for the frozen GEMMs that read them next. */
    private boolean copying() {
        // the exact rank-r kernels cast the frozen GEMM's input in their own pass over it
        return bf16Copies && precision == CudaPrecision.BF16 && !exactRankProducts;
    }

    @Override
    public String description() {
        return "CUDA on " + deviceName + ", one stream; precision " + precision.id() + ": " + precision.description()
                + (precision.bf16() ? "; attention bf16 tensor cores; LoRA products "
                        + (bf16RankOn() ? "bf16 where they read an activation (u, du, dB, dA), else TF32" : "TF32")
                        : "; attention and LoRA products fp32") + "; norms, loss and AdamW in fp32"
                + (copying() ? "; bf16 copies of norm/SwiGLU/loss-gradient outputs feed the frozen GEMMs" : "");
    }

    /**
     * Whether this backend runs on the host emulation of the kernel library (cuda-kernels/host, admitted only with
     * {@code -Dsafetune.cuda.hostEmulation=true} for tests): no GPU, so no timing of it means anything.
     */
    public boolean hostEmulation() {
        return CudaBackendProvider.isHostEmulation(deviceName);
    }

    /** The arithmetic of the frozen matmuls. */
    public CudaPrecision precision() {
        return precision;
    }

    /** Waits for every queued op; reports asynchronous kernel errors. */
    public void synchronize() {
        check(st_ctx_sync(ctx), "synchronize");
    }

    /**
     * Brackets for Nsight Compute's {@code --profile-from-start off}: with {@code true} only the kernels queued
     * until the matching {@code false} are profiled (both wait for the stream first).
     */
    public void profilerRange(boolean start) {
        check(st_profiler_range(ctx, start ? 1 : 0), "profilerRange");
    }

    // ---- buffers -----------------------------------------------------------------------------------

    @Override
    public Tensor allocate(int size) {
        CudaTensor t = rawAllocate(size, "allocate");
        check(st_fill(ctx, t.ptr(), 0f, size), "allocate");
        return t;
    }

    private CudaTensor rawAllocate(int size, String op) {
        checkOpen();
        if (size < 0) {
            throw new IllegalArgumentException(op + ": size must be >= 0, got " + size);
        }
        long bytes = Math.max(256L, Long.highestOneBit(Math.max(1L, (long) size * 4 - 1)) << 1);
        ArrayDeque<Long> free = pool.get(bytes);
        long ptr;
        if (free != null && !free.isEmpty()) {
            ptr = free.pop();
        } else {
            long[] p = new long[1];
            check(st_malloc(ctx, p, bytes), op);
            ptr = p[0];
        }
        CudaTensor t = new CudaTensor(this, ptr, size, bytes);
        live.put(t, Boolean.TRUE);
        return t;
    }

    void release(CudaTensor t, long ptr) {
        copies.written(ptr, t.capacityBytes());  // a copy of what this buffer held is stale once it is reused
        if (live.remove(t) != null && !closed) {
            pool.computeIfAbsent(t.capacityBytes(), k -> new ArrayDeque<>()).push(ptr);
        }
    }

    @Override
    public void write(Tensor dst, int dstOffset, float[] src, int srcOffset, int length) {
        long p = ptr(dst, "write", "dst", dstOffset + length);
        float[] s = srcOffset == 0 ? src : Arrays.copyOfRange(src, srcOffset, srcOffset + length);
        check(st_memcpy_h2d(ctx, p + 4L * dstOffset, s, 4L * length), "write");
    }

    @Override
    public void read(Tensor src, int srcOffset, float[] dst, int dstOffset, int length) {
        // writes nothing on the device: the copies stay (the loss read between the loss kernel and the head's
        // backward GEMM, which reads the bf16 copy of dlogits)
        trackedIf(copying(), () -> readRaw(src, srcOffset, dst, dstOffset, length));
    }

    private void readRaw(Tensor src, int srcOffset, float[] dst, int dstOffset, int length) {
        long p = ptr(src, "read", "src", srcOffset + length);
        if (dstOffset == 0) {
            check(st_memcpy_d2h(ctx, dst, p + 4L * srcOffset, 4L * length), "read");
        } else {
            float[] tmp = new float[length];
            check(st_memcpy_d2h(ctx, tmp, p + 4L * srcOffset, 4L * length), "read");
            System.arraycopy(tmp, 0, dst, dstOffset, length);
        }
    }

    @Override
    public void copy(Tensor src, int srcOffset, Tensor dst, int dstOffset, int length) {
        long s = ptr(src, "copy", "src", srcOffset + length);
        long d = ptr(dst, "copy", "dst", dstOffset + length);
        check(st_memcpy_d2d(ctx, d + 4L * dstOffset, s + 4L * srcOffset, 4L * length), "copy");
    }

    @Override
    public void fill(Tensor t, float value) {
        check(st_fill(ctx, ptr(t, "fill", "t", 0), value, t.size()), "fill");
    }

    @Override
    public WeightHandle prepare(Weight weight, boolean dequantize) {
        checkOpen();
        int rows = weight.rows();
        int cols = weight.cols();
        int qtype = dequantize ? -1 : quantizedType(weight);
        if (qtype >= 0) {
            return uploadBlocks((QuantizedWeight) weight, qtype);
        }
        float[] values = weight.toFloatArray();
        boolean exact = weight.storageType().equals("BF16");
        // the bf16 precisions read the base as bf16 anyway: round once here (the tile/cuBLAS kernels need
        // 32-wide k-blocks; other widths keep fp32 for the strided fallback)
        if (exact || (precision.bf16() && cols % 32 == 0)) {
            // bf16 values are exact in bf16: keep half the bytes on the device
            short[] bits = new short[values.length];
            for (int i = 0; i < values.length; i++) {
                bits[i] = exact ? (short) (Float.floatToRawIntBits(values[i]) >>> 16) : toBf16(values[i]);
            }
            CudaTensor t = rawAllocate((values.length + 1) / 2, "prepare");
            check(st_memcpy_h2d(ctx, t.ptr(), bits, 2L * bits.length), "prepare");
            return new CudaWeight(this, weight.name(), rows, cols, ST_W_BF16, t);
        }
        CudaTensor t = rawAllocate(values.length, "prepare");
        check(st_memcpy_h2d(ctx, t.ptr(), values, 4L * values.length), "prepare");
        return new CudaWeight(this, weight.name(), rows, cols, ST_W_F32, t);
    }

    /**
     * The kernel library's type for a GGUF Q8_0 / Q4_1 weight whose rows are whole blocks (the QLoRA-style frozen
     * base: the kernels expand the blocks per tile, or once per call into bf16 for cuBLAS), or -1.
     */
    private static int quantizedType(Weight w) {
        if (!(w instanceof QuantizedWeight q) || w.cols() % 32 != 0) {
            return -1;
        }
        int type = switch (w.storageType()) {
            case "Q8_0" -> ST_W_Q8_0;
            case "Q4_1" -> ST_W_Q4_1;
            default -> -1;
        };
        return type >= 0 && q.rowBytes() == GgmlType.valueOf(w.storageType()).rowBytes(w.cols()) ? type : -1;
    }

    /** The stored blocks as they are, a few MB of rows at a time through one host buffer. */
    private WeightHandle uploadBlocks(QuantizedWeight w, int type) {
        long rowBytes = w.rowBytes();
        long total = rowBytes * w.rows();
        if ((total + 3) / 4 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("prepare: " + w.name() + " has " + total + " bytes of blocks, more than"
                    + " one device buffer holds; prepare it with dequantize or split it");
        }
        CudaTensor t = rawAllocate((int) ((total + 3) / 4), "prepare");
        int chunk = (int) Math.max(1, Math.min(w.rows(), (8L << 20) / rowBytes));
        byte[] buf = new byte[(int) (chunk * rowBytes)];
        for (int r0 = 0; r0 < w.rows(); r0 += chunk) {
            int n = Math.min(chunk, w.rows() - r0);
            w.copyRawRows(r0, n, buf, 0);
            check(st_memcpy_h2d(ctx, t.ptr() + r0 * rowBytes, buf, n * rowBytes), "prepare");
        }
        return new CudaWeight(this, w.name(), w.rows(), w.cols(), type, t);
    }

    /** fp32 → bf16 bits, round to nearest even (NaN stays NaN), as {@code st_cast_f32_to_bf16} does. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    // ---- ops ---------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, int[] ids, WeightHandle table) {
        CudaWeight w = weight(table, "embedding");
        long o = ptr(out, "embedding", "out", ids.length * w.cols());
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= w.rows()) {
                throw new IllegalArgumentException("embedding: token id " + ids[i] + " at index " + i
                        + " is outside the vocabulary [0, " + w.rows() + ")");
            }
        }
        if (ids.length == 0) {
            return;
        }
        long d = ints(S_INTS, ids, ids.length, "embedding");
        check(st_embedding_forward(ctx, o, d, w.ptr(), w.wtype(), ids.length, w.rows(), w.cols()), "embedding");
    }

    @Override
    public void matmul(Tensor out, Tensor x, WeightHandle w, int n) {
        CudaWeight cw = weight(w, "matmul");
        CudaTensor xb = copying() && cw.cols() % 32 == 0 ? copyOf(x, (long) n * cw.cols()) : null;
        if (xb != null) {
            tracked(() -> {
                long o = ptr(out, "matmul", "out", n * cw.rows());
                ptr(x, "matmul", "x", n * cw.cols());
                long xbp = xb.ptr();
                copies.written(o, 4L * n * cw.rows());
                check(st_matmul_forward_bf16_act(ctx, o, xbp, cw.ptr(), cw.wtype(), n, cw.cols(), cw.rows(), 0),
                        "matmul");
            });
            return;
        }
        long o = ptr(out, "matmul", "out", n * cw.rows());
        long xs = ptr(x, "matmul", "x", n * cw.cols());
        if (n == 0) {
            return;
        }
        if (cw.cols() % 32 != 0) {  // the tile kernel reads 32-wide k-tiles; fall back to the strided GEMM
            if (cw.wtype() != ST_W_F32) {
                throw new IllegalArgumentException("matmul: " + cw.name() + " has " + cw.cols()
                        + " columns, not a multiple of 32, and is not fp32 on the device");
            }
            check(st_sgemm_strided(ctx, o, cw.rows(), xs, cw.cols(), 1, cw.ptr(), 1, cw.cols(), n, cw.rows(),
                    cw.cols(), 1f, 0), "matmul");
            return;
        }
        check(st_lora_forward(ctx, o, 0, xs, cw.ptr(), cw.wtype(), 0, 0, 0f, n, cw.cols(), cw.rows(), 0,
                precision.code()), "matmul");
    }

    @Override
    public void matmul(Tensor out, Tensor x, Tensor w, int n, int outDim, int inDim, float scale, boolean accumulate) {
        long o = ptr(out, "matmul", "out", n * outDim);
        long xs = ptr(x, "matmul", "x", n * inDim);
        long ws = ptr(w, "matmul", "w", outDim * inDim);
        if (n == 0 || outDim == 0) {
            return;
        }
        if (inDim == 0) {
            if (!accumulate) {
                check(st_fill(ctx, o, 0f, (long) n * outDim), "matmul");
            }
            return;
        }
        // out[n, outDim] (+)= scale · x[n, inDim] · w[outDim, inDim]ᵀ (cuBLAS fp32)
        check(sgemm(o, xs, ws, n, outDim, inDim, 0, 1, scale, accumulate ? 1f : 0f), "matmul");
    }

    /**
     * bf16 precision: the LoRA term goes into {@code out} first and the frozen cuBLAS GEMM adds it through its beta,
     * in the epilogue of a compute-bound product, instead of a separate memory-bound read-modify-write of
     * {@code out} after it. Other precisions (and widths the cuBLAS path cannot take): the separate ops.
     */
    @Override
    public void loraLinear(Tensor out, Tensor u, Tensor x, Tensor xl, WeightHandle w, Tensor a, Tensor b, int n,
                           int r, float scale) {
        CudaWeight cw = weight(w, "loraLinear");
        if (!fusedLora(cw, r)) {
            Backend.super.loraLinear(out, u, x, xl, w, a, b, n, r, scale);
            return;
        }
        CudaTensor xb = copying() ? copyOf(x, (long) n * cw.cols()) : null;
        // bf16 rank-r inputs need x itself in the LoRA branch (no dropout)
        boolean rank = bf16RankOn() && xl == x;
        // with a copy the frozen GEMM reads it, and the op reports its writes so other copies stay (the bf16 rank-r
        // path always reports them: the norm output's copy must outlive q to serve k and v)
        trackedIf(xb != null || rank, () -> fusedLoraLinear(out, u, x, xl, cw, a, b, n, r, scale, xb, rank));
    }

    /**
     * {@link #loraLinear}'s fused order; {@code xb}: the bf16 copy of {@code x} the frozen GEMM reads, or null;
     * {@code rank}: the rank-r product on bf16 inputs.
     */
    private void fusedLoraLinear(Tensor out, Tensor u, Tensor x, Tensor xl, CudaWeight cw, Tensor a, Tensor b, int n,
                                 int r, float scale, CudaTensor xb, boolean rank) {
        long o = ptr(out, "loraLinear", "out", n * cw.rows());
        long xs = ptr(x, "loraLinear", "x", n * cw.cols());
        if (n == 0) {
            return;
        }
        long xls = ptr(xl, "loraLinear", "xl", n * cw.cols());
        if (rank) {
            long us = ptr(u, "loraLinear", "u", n * r);
            long as = ptr(a, "loraLinear", "a", r * cw.cols());
            long bs = ptr(b, "loraLinear", "b", cw.rows() * r);
            long xbp = xb == null ? 0 : xb.ptr();  // before the writes below could drop (and release) the copy
            copies.written(o, 4L * n * cw.rows());
            copies.written(us, 4L * n * r);
            rankForward(o, us, xs, xbp, cw, as, bs, n, r, scale);
            return;
        }
        if (xb == null && rankKernels(cw, r, o | xs | xls)) {
            long us = ptr(u, "loraLinear", "u", n * r);
            long as = ptr(a, "loraLinear", "a", r * cw.cols());
            long bs = ptr(b, "loraLinear", "b", cw.rows() * r);
            check(st_lora_linear_forward(ctx, o, us, xs, xls, cw.ptr(), cw.wtype(), as, bs, scale, n, cw.cols(),
                    cw.rows(), r), "loraLinear");
            return;
        }
        long xbp = xb == null ? 0 : xb.ptr();  // before the writes below could drop (and release) the copy
        if (xb != null) {
            copies.written(o, 4L * n * cw.rows());
            copies.written(ptr(u, "loraLinear", "u", n * r), 4L * n * r);
        }
        matmul(u, xl, a, n, r, cw.cols(), 1f, false);
        matmul(out, u, b, n, cw.rows(), r, scale, false);
        check(xb != null ? st_matmul_forward_bf16_act(ctx, o, xbp, cw.ptr(), cw.wtype(), n, cw.cols(), cw.rows(), 1)
                : st_matmul_forward_bf16(ctx, o, xs, cw.ptr(), cw.wtype(), n, cw.cols(), cw.rows(), 1), "loraLinear");
    }

    /** The backward in the same order: the LoRA part of dx first, the frozen GEMM adds {@code dout·W} to it. */
    @Override
    public void loraLinearBackward(Tensor dx, Tensor du, Tensor dA, Tensor dB, Tensor dout, Tensor x, Tensor u,
                                   WeightHandle w, Tensor a, Tensor b, int n, int r, float scale, boolean accumulate) {
        CudaWeight cw = weight(w, "loraLinearBackward");
        if (!fusedLora(cw, r)) {
            Backend.super.loraLinearBackward(dx, du, dA, dB, dout, x, u, w, a, b, n, r, scale, accumulate);
            return;
        }
        CudaTensor gb = copying() ? copyOf(dout, (long) n * cw.rows()) : null;
        boolean rank = bf16RankOn();
        trackedIf(gb != null || rank,
                () -> fusedLoraLinearBackward(dx, du, dA, dB, dout, x, u, cw, a, b, n, r, scale, accumulate, gb, rank));
    }

    /**
     * {@link #loraLinearBackward}'s fused order; {@code gb}: the bf16 copy of {@code dout} the frozen GEMM reads, or
     * null; {@code rank}: the rank-r products on bf16 inputs.
     */
    private void fusedLoraLinearBackward(Tensor dx, Tensor du, Tensor dA, Tensor dB, Tensor dout, Tensor x, Tensor u,
                                         CudaWeight cw, Tensor a, Tensor b, int n, int r, float scale, boolean accumulate,
                                         CudaTensor gb, boolean rank) {
        long d = ptr(dx, "loraLinearBackward", "dx", n * cw.cols());
        long g = ptr(dout, "loraLinearBackward", "dout", n * cw.rows());
        if (n == 0) {
            return;
        }
        long xs = ptr(x, "loraLinearBackward", "x", n * cw.cols());
        if (rank) {
            long dus = ptr(du, "loraLinearBackward", "du", n * r);
            long dAs = ptr(dA, "loraLinearBackward", "dA", r * cw.cols());
            long dBs = ptr(dB, "loraLinearBackward", "dB", cw.rows() * r);
            long us = ptr(u, "loraLinearBackward", "u", n * r);
            long as = ptr(a, "loraLinearBackward", "a", r * cw.cols());
            long bs = ptr(b, "loraLinearBackward", "b", cw.rows() * r);
            CudaTensor xb = copyOf(x, (long) n * cw.cols());
            // both addresses before the writes below could drop (and release) a copy
            long gbp = gb == null ? 0 : gb.ptr();
            long xbp = xb == null ? 0 : xb.ptr();
            copies.written(d, 4L * n * cw.cols());
            copies.written(dus, 4L * n * r);
            copies.written(dAs, 4L * r * cw.cols());
            copies.written(dBs, 4L * cw.rows() * r);
            rankBackward(d, dus, dAs, dBs, g, gbp, xs, xbp, us, cw, as, bs, n, r, scale, accumulate);
            return;
        }
        if (gb == null && rankKernels(cw, r, d | g | xs)) {
            check(st_lora_linear_backward(ctx, d, ptr(du, "loraLinearBackward", "du", n * r),
                    ptr(dA, "loraLinearBackward", "dA", r * cw.cols()),
                    ptr(dB, "loraLinearBackward", "dB", cw.rows() * r), g, xs,
                    ptr(u, "loraLinearBackward", "u", n * r), cw.ptr(), cw.wtype(),
                    ptr(a, "loraLinearBackward", "a", r * cw.cols()), ptr(b, "loraLinearBackward", "b", cw.rows() * r),
                    scale, n, cw.cols(), cw.rows(), r, accumulate ? 1 : 0), "loraLinearBackward");
            return;
        }
        long gbp = gb == null ? 0 : gb.ptr();  // before the writes below could drop (and release) the copy
        if (gb != null) {
            copies.written(d, 4L * n * cw.cols());
            copies.written(ptr(du, "loraLinearBackward", "du", n * r), 4L * n * r);
            copies.written(ptr(dA, "loraLinearBackward", "dA", r * cw.cols()), 4L * r * cw.cols());
            copies.written(ptr(dB, "loraLinearBackward", "dB", cw.rows() * r), 4L * cw.rows() * r);
        }
        matmulBackward(du, dB, dout, u, b, n, cw.rows(), r, scale, false);
        matmulBackward(dx, dA, du, x, a, n, r, cw.cols(), 1f, accumulate);
        check(gb != null ? st_matmul_backward_bf16_act(ctx, d, gbp, cw.ptr(), cw.wtype(), n, cw.cols(), cw.rows(), 1)
                : st_matmul_backward_bf16(ctx, d, g, cw.ptr(), cw.wtype(), n, cw.cols(), cw.rows(), 1),
                "loraLinearBackward");
    }

    /**
     * {@link #loraLinear} with the rank-r product on bf16 inputs: u = bf16(x)·bf16(A)ᵀ (cuBLAS bf16, fp32 out),
     * out = s·u·Bᵀ (TF32: its inputs are small), then out += bf16(x)·bf16(W)ᵀ through beta = 1. {@code xbp}: the bf16
     * copy of x, or 0 to cast x here (once, for both products).
     */
    private void rankForward(long o, long us, long xs, long xbp, CudaWeight cw, long as, long bs, int n, int r,
                             float scale) {
        String op = "loraLinear";
        int in = cw.cols();
        long xb = xbp != 0 ? xbp : bf16Scratch(S_RANK_ACT, xs, (long) n * in, op);
        long ab = bf16Scratch(S_RANK_W, as, (long) r * in, op);
        // u[n, r] = xb[n, in] · ab[r, in]ᵀ
        check(st_matmul_bf16(ctx, us, 0, xb, ab, n, r, in, 0, 1, 1f, 0f), op);
        check(sgemm(o, us, bs, n, cw.rows(), r, 0, 1, scale, 0f), op);
        check(st_matmul_forward_bf16_act(ctx, o, xb, cw.ptr(), cw.wtype(), n, in, cw.rows(), 1), op);
    }

    /**
     * {@link #loraLinearBackward} with the rank-r products that read dout on bf16 inputs: du = s·bf16(dout)·bf16(B),
     * dB += s·bf16(dout)ᵀ·bf16(u); dx (+)= du·A (TF32); dA += bf16(du)ᵀ·bf16(x) when x has a copy ({@code xbp} ≠ 0:
     * casting x here would cost more than TF32 reading it), else TF32; then dx += bf16(dout)·bf16(W) through
     * beta = 1. {@code gbp}: the bf16 copy of dout, or 0 to cast it here (once, for the three products).
     */
    private void rankBackward(long d, long dus, long dAs, long dBs, long g, long gbp, long xs, long xbp, long us,
                              CudaWeight cw, long as, long bs, int n, int r, float scale, boolean accumulate) {
        String op = "loraLinearBackward";
        int in = cw.cols();
        int out = cw.rows();
        long gb = gbp != 0 ? gbp : bf16Scratch(S_RANK_ACT, g, (long) n * out, op);
        long bb = bf16Scratch(S_RANK_W, bs, (long) out * r, op);
        long ub = bf16Scratch(S_RANK_U, us, (long) n * r, op);
        // du[n, r] = s · gb[n, out] · bb[out, r]
        check(st_matmul_bf16(ctx, dus, 0, gb, bb, n, r, out, 0, 0, scale, 0f), op);
        // dB[out, r] += s · gb[n, out]ᵀ · ub[n, r]
        check(st_matmul_bf16(ctx, dBs, 0, gb, ub, out, r, n, 1, 0, scale, 1f), op);
        // dx[n, in] (+)= du[n, r] · A[r, in]
        check(sgemm(d, dus, as, n, in, r, 0, 0, 1f, accumulate ? 1f : 0f), op);
        if (xbp != 0) {
            // the slot's previous cast (u) is read by the dB product queued before this cast overwrites it
            long dub = bf16Scratch(S_RANK_U, dus, (long) n * r, op);
            // dA[r, in] += dub[n, r]ᵀ · xb[n, in]
            check(st_matmul_bf16(ctx, dAs, 0, dub, xbp, r, in, n, 1, 0, 1f, 1f), op);
        } else {
            check(sgemm(dAs, dus, xs, r, in, n, 1, 0, 1f, 1f), op);
        }
        check(st_matmul_backward_bf16_act(ctx, d, gb, cw.ptr(), cw.wtype(), n, in, out, 1), op);
    }

    /** Casts {@code elements} floats at {@code src} to bf16 into scratch {@code slot}; returns the scratch address. */
    private long bf16Scratch(int slot, long src, long elements, String op) {
        long p = scratch(slot, Math.toIntExact((elements + 1) / 2), op);
        check(st_cast_f32_to_bf16(ctx, p, src, elements), op);
        return p;
    }

    /**
     * Whether the rank-r products of a fused layer run on the library's fp32 kernels (ranks 8/16/32/64, widths a
     * multiple of 4, float4-aligned buffers) instead of cuBLAS TF32: exact fp32 and deterministic, but slower
     * today (H200, 1B shape: 48 vs 39 ms/step, benchmarks/RESULTS.md), so opt-in with
     * {@code -Dsafetune.cuda.rankKernels=true}.
     */
    private boolean rankKernels(CudaWeight cw, int r, long alignedPointers) {
        return exactRankProducts && (alignedPointers & 15) == 0
                && st_lora_linear_supported(cw.cols(), cw.rows(), r) != 0;
    }

    /** Turns the exact fp32 rank-r kernels of the bf16 LoRA layer on or off for this backend (tests, A/B runs). */
    void exactRankProducts(boolean on) {
        copies.clear();
        exactRankProducts = on;
    }

    /** Whether the LoRA layer takes the fused cuBLAS order ({@code -Dsafetune.cuda.fusedLora=false} turns it off). */
    private boolean fusedLora(CudaWeight cw, int r) {
        return FUSED_LORA && precision == CudaPrecision.BF16 && cw.cols() % 32 == 0 && r > 0;
    }

    @Override
    public void rmsnorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, int n, int dim, float eps) {
        // with copies it reports its writes, so the copies of other tensors (dgate/dup in the backward) survive it
        boolean copying = copying();
        trackedIf(copying, () -> rmsnormOp(out, rstd, x, weight, n, dim, eps, copying));
    }

    /**
     * With {@code copying}: reports the writes and, for a norm whose rstd is kept, writes a bf16 copy of the output (a
     * norm without rstd is a recomputation in the backward, feeding only the rank-r products: a copy only when those
     * read bf16, {@link #bf16RankOn}).
     */
    private void rmsnormOp(Tensor out, Tensor rstd, Tensor x, Tensor weight, int n, int dim, float eps, boolean copying) {
        long o = ptr(out, "rmsnorm", "out", n * dim);
        long xs = ptr(x, "rmsnorm", "x", n * dim);
        long w = ptr(weight, "rmsnorm", "weight", dim);
        long r = rstd == null ? scratch(S_STATS, n, "rmsnorm") : ptr(rstd, "rmsnorm", "rstd", n);
        if (n == 0) {
            return;
        }
        if (copying && (rstd != null || bf16RankOn())) {
            copies.written(r, 4L * n);
            produce(o, (long) n * dim, "rmsnorm",
                    yb -> check(st_rmsnorm_forward_bf16(ctx, o, yb, r, xs, w, n, dim, eps), "rmsnorm"));
            return;
        }
        if (copying) {
            copies.written(r, 4L * n);
            copies.written(o, 4L * n * dim);
        }
        check(st_rmsnorm_forward(ctx, o, r, xs, w, n, dim, eps), "rmsnorm");
    }

    @Override
    public void rope(Tensor x, int[] positions, int n, int numHeads, int headDim, double theta) {
        long xs = ptr(x, "rope", "x", n * numHeads * headDim);
        if (positions.length < n) {
            throw new IllegalArgumentException("rope: positions has " + positions.length + " entries, need " + n);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rope: headDim must be even, got " + headDim);
        }
        if (n == 0) {
            return;
        }
        long inv = invFreq(headDim, theta);
        long pos = ints(S_INTS, positions, n, "rope");
        check(st_rope_forward(ctx, xs, xs, pos, inv, n, numHeads, headDim), "rope");
    }

    /** inv_freq computed on the host exactly as the CPU backend does (fp32, HF order), cached per (dim, θ). */
    private long invFreq(int headDim, double theta) {
        String key = headDim + "/" + theta;
        CudaTensor t = invFreq.get(key);
        if (t == null) {
            int half = headDim / 2;
            float[] f = new float[half];
            for (int i = 0; i < half; i++) {
                f[i] = (float) (1.0 / (float) Math.pow(theta, (float) (2 * i) / headDim));
            }
            t = rawAllocate(half, "rope");
            check(st_memcpy_h2d(ctx, t.ptr(), f, 4L * half), "rope");
            invFreq.put(key, t);
        }
        return t.ptr();
    }

    @Override
    public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, int[] keyMask, AttentionShape s) {
        long o = ptr(out, "attention", "out", s.querySize());
        long qs = ptr(q, "attention", "q", s.querySize());
        long ks = ptr(k, "attention", "k", s.kvSize());
        long vs = ptr(v, "attention", "v", s.kvSize());
        int lseSize = s.batch() * s.queryLen() * s.numHeads();
        long l = lse == null ? scratch(S_STATS, lseSize, "attention") : ptr(lse, "attention", "lse", lseSize);
        if (keyMask != null && keyMask.length < s.batch() * s.capacity()) {
            throw new IllegalArgumentException("attention: keyMask has " + keyMask.length
                    + " entries, need batch*capacity = " + s.batch() * s.capacity());
        }
        long m = keyMask == null ? 0 : ints(S_MASK, keyMask, s.batch() * s.capacity(), "attention");
        float scale = (float) (1.0 / Math.sqrt(s.headDim()));
        check(precision.bf16()
                ? st_attention_forward_bf16(ctx, o, l, qs, ks, vs, m, s.batch(), s.queryLen(), s.keyLen(), s.capacity(),
                        s.queryStart(), s.numHeads(), s.numKvHeads(), s.headDim(), scale)
                : st_attention_forward(ctx, o, l, qs, ks, vs, m, s.batch(), s.queryLen(), s.keyLen(), s.capacity(),
                        s.queryStart(), s.numHeads(), s.numKvHeads(), s.headDim(), scale), "attention");
    }

    @Override
    public void swiglu(Tensor out, Tensor gate, Tensor up, int n) {
        if (copying() && n > 0) {
            tracked(() -> {
                long o = ptr(out, "swiglu", "out", n);
                long g = ptr(gate, "swiglu", "gate", n);
                long u = ptr(up, "swiglu", "up", n);
                produce(o, n, "swiglu", hb -> check(st_swiglu_forward_bf16(ctx, o, hb, g, u, n), "swiglu"));
            });
            return;
        }
        long o = ptr(out, "swiglu", "out", n);
        long g = ptr(gate, "swiglu", "gate", n);
        long u = ptr(up, "swiglu", "up", n);
        check(st_swiglu_forward(ctx, o, g, u, n), "swiglu");
    }

    /** The mask of {@link DropoutMask} computed per element on the device (st_dropout): no host round trip. */
    @Override
    public void dropout(Tensor dst, Tensor src, int count, long seed, float p) {
        DropoutMask.check("dropout", p);
        // reports its one output, so the norm's copy survives the LoRA branch's dropout and reaches the frozen GEMM
        tracked(() -> {
            long d = ptr(dst, "dropout", "dst", count);
            long s = ptr(src, "dropout", "src", count);
            copies.written(d, 4L * count);
            check(st_dropout(ctx, d, s, count, seed, p), "dropout");
        });
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b, int n) {
        long o = ptr(out, "add", "out", n);
        long x = ptr(a, "add", "a", n);
        long y = ptr(b, "add", "b", n);
        check(st_add(ctx, o, x, y, n), "add");
    }

    @Override
    public void softmax(Tensor out, Tensor x, int n, int cols) {
        long o = ptr(out, "softmax", "out", n * cols);
        long xs = ptr(x, "softmax", "x", n * cols);
        if (n == 0 || cols == 0) {
            return;
        }
        check(st_softmax_forward(ctx, o, xs, n, cols), "softmax");
    }

    @Override
    public void logsumexp(Tensor out, Tensor logits, int n, int vocab) {
        long o = ptr(out, "logsumexp", "out", n);
        long l = ptr(logits, "logsumexp", "logits", n * vocab);
        if (n == 0) {
            return;
        }
        check(st_logsumexp(ctx, o, l, n, vocab), "logsumexp");
    }

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, int[] targets, int n, int vocab) {
        long o = ptr(losses, "crossEntropy", "losses", n);
        long l = ptr(logits, "crossEntropy", "logits", n * vocab);
        if (targets.length < n) {
            throw new IllegalArgumentException("crossEntropy: targets has " + targets.length + " entries, need " + n);
        }
        for (int i = 0; i < n; i++) {
            if (targets[i] >= vocab) {
                throw new IllegalArgumentException("crossEntropy: target " + targets[i] + " at row " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (n == 0) {
            return;
        }
        long t = ints(S_TARGETS, targets, n, "crossEntropy");
        long lse = scratch(S_STATS, n, "crossEntropy");
        check(st_cross_entropy_forward(ctx, o, lse, l, t, 0, n, vocab), "crossEntropy");
    }

    // ---- backward ops ------------------------------------------------------------------------------

    @Override
    public void matmulBackward(Tensor dx, Tensor dout, WeightHandle w, int n, boolean accumulate) {
        CudaWeight cw = weight(w, "matmulBackward");
        int out = cw.rows();
        int in = cw.cols();
        CudaTensor gb = copying() && in % 32 == 0 ? copyOf(dout, (long) n * out) : null;
        if (gb != null) {
            tracked(() -> {
                long d = ptr(dx, "matmulBackward", "dx", n * in);
                ptr(dout, "matmulBackward", "dout", n * out);
                long gbp = gb.ptr();
                copies.written(d, 4L * n * in);
                check(st_matmul_backward_bf16_act(ctx, d, gbp, cw.ptr(), cw.wtype(), n, in, out, accumulate ? 1 : 0),
                        "matmulBackward");
            });
            return;
        }
        long d = ptr(dx, "matmulBackward", "dx", n * in);
        long g = ptr(dout, "matmulBackward", "dout", n * out);
        if (n == 0) {
            return;
        }
        if (in % 32 == 0 && precision == CudaPrecision.BF16) {
            // cuBLAS accumulates itself (beta = 1): no scratch copy, no separate add
            check(st_matmul_backward_bf16(ctx, d, g, cw.ptr(), cw.wtype(), n, in, out, accumulate ? 1 : 0),
                    "matmulBackward");
            return;
        }
        if (in % 32 == 0) {
            // r = 0 backward of the lora kernels in this precision (fp32: the SIMT tile kernel reads the stored
            // weight per tile, no fp32 copy of it): dx = dy·W written; accumulate through a scratch
            long target = accumulate ? scratch(S_TMP, n * in, "matmulBackward") : d;
            check(st_lora_backward(ctx, target, 0, 0, 0, g, 0, 0, cw.ptr(), cw.wtype(), 0, 0, 0f, n, in, out, 0,
                    precision.code(), 0), "matmulBackward");
            if (accumulate) {
                check(st_add(ctx, d, d, target, (long) n * in), "matmulBackward");
            }
            return;
        }
        // widths the tile kernels cannot take: the strided fp32 GEMM over an fp32 view of W
        long wp = cw.ptr();
        if (cw.wtype() != ST_W_F32) {
            // bf16 on the device: expand to fp32 in a scratch so dx keeps fp32 accuracy
            wp = scratch(S_WEIGHT, out * in, "matmulBackward");
            check(st_cast_bf16_to_f32(ctx, wp, cw.ptr(), (long) out * in), "matmulBackward");
        }
        // dx[n, in] (+)= dout[n, out] · W[out, in]: U = dout, V[k=o][p=i] = W[o, i]
        check(st_sgemm_strided(ctx, d, in, g, out, 1, wp, in, 1, n, in, out, 1f, accumulate ? 1 : 0),
                "matmulBackward");
    }

    @Override
    public void matmulBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w, int n, int outDim, int inDim,
                               float scale, boolean accumulateDx) {
        long g = ptr(dout, "matmulBackward", "dout", n * outDim);
        long xs = ptr(x, "matmulBackward", "x", n * inDim);
        long ws = ptr(w, "matmulBackward", "w", outDim * inDim);
        long dws = ptr(dw, "matmulBackward", "dw", outDim * inDim);
        if (n == 0 || outDim == 0 || inDim == 0) {
            return;
        }
        if (dx != null) {
            long d = ptr(dx, "matmulBackward", "dx", n * inDim);
            // dx[n, in] (+)= scale · dout[n, out] · w[out, in]
            check(sgemm(d, g, ws, n, inDim, outDim, 0, 0, scale, accumulateDx ? 1f : 0f), "matmulBackward");
        }
        // dw[out, in] += scale · doutᵀ · x
        check(sgemm(dws, g, xs, outDim, inDim, n, 1, 0, scale, 1f), "matmulBackward");
    }

    /** The LoRA rank-r products: exact fp32 in the f32 precision, TF32 inputs in the bf16 ones (cuBLAS either way). */
    private int sgemm(long c, long a, long b, int m, int n, int k, int transA, int transB, float alpha, float beta) {
        return precision.bf16() ? st_sgemm_tf32(ctx, c, a, b, m, n, k, transA, transB, alpha, beta)
                : st_sgemm(ctx, c, a, b, m, n, k, transA, transB, alpha, beta);
    }

    @Override
    public void rmsnormBackward(Tensor dx, Tensor dout, Tensor x, Tensor weight, Tensor rstd, int n, int dim) {
        long d = ptr(dx, "rmsnormBackward", "dx", n * dim);
        long g = ptr(dout, "rmsnormBackward", "dout", n * dim);
        long xs = ptr(x, "rmsnormBackward", "x", n * dim);
        long w = ptr(weight, "rmsnormBackward", "weight", dim);
        long r = ptr(rstd, "rmsnormBackward", "rstd", n);
        if (n == 0) {
            return;
        }
        if (d != xs && d != g) {
            // the op accumulates (residual stream): the kernel adds to dx in place
            if (copying()) {
                // dx is the o or down projection's dout next (the residual stream's gradient): write its bf16 copy
                tracked(() -> produce(d, (long) n * dim, "rmsnormBackward", db -> check(
                        st_rmsnorm_backward_add_bf16(ctx, d, db, 0, g, xs, w, r, n, dim), "rmsnormBackward")));
                return;
            }
            check(st_rmsnorm_backward_add(ctx, d, 0, g, xs, w, r, n, dim), "rmsnormBackward");
            return;
        }
        long tmp = scratch(S_TMP, n * dim, "rmsnormBackward");
        check(st_rmsnorm_backward(ctx, tmp, 0, g, xs, w, r, n, dim), "rmsnormBackward");
        check(st_add(ctx, d, d, tmp, (long) n * dim), "rmsnormBackward");
    }

    @Override
    public void ropeBackward(Tensor dx, int[] positions, int n, int numHeads, int headDim, double theta) {
        long d = ptr(dx, "ropeBackward", "dx", n * numHeads * headDim);
        if (positions.length < n) {
            throw new IllegalArgumentException("ropeBackward: positions has " + positions.length + " entries, need " + n);
        }
        if (n == 0) {
            return;
        }
        long inv = invFreq(headDim, theta);
        long pos = ints(S_INTS, positions, n, "ropeBackward");
        check(st_rope_backward(ctx, d, d, pos, inv, n, numHeads, headDim), "ropeBackward");
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q,
                                  Tensor k, Tensor v, int[] keyMask, AttentionShape s) {
        if (s.queryStart() != 0 || s.keyLen() != s.queryLen() || s.capacity() != s.queryLen()) {
            throw new IllegalArgumentException("attentionBackward: only a pass without a cache is supported"
                    + " (queryStart 0, keyLen = capacity = queryLen), got " + s);
        }
        int nl = s.batch() * s.queryLen() * s.numHeads();
        long dqs = ptr(dq, "attentionBackward", "dq", s.querySize());
        long dks = ptr(dk, "attentionBackward", "dk", s.kvSize());
        long dvs = ptr(dv, "attentionBackward", "dv", s.kvSize());
        long g = ptr(dout, "attentionBackward", "dout", s.querySize());
        long o = ptr(out, "attentionBackward", "out", s.querySize());
        long l = ptr(lse, "attentionBackward", "lse", nl);
        long qs = ptr(q, "attentionBackward", "q", s.querySize());
        long ks = ptr(k, "attentionBackward", "k", s.kvSize());
        long vs = ptr(v, "attentionBackward", "v", s.kvSize());
        if (keyMask != null && keyMask.length < s.batch() * s.capacity()) {
            throw new IllegalArgumentException("attentionBackward: keyMask has " + keyMask.length
                    + " entries, need batch*capacity = " + s.batch() * s.capacity());
        }
        long m = keyMask == null ? 0 : ints(S_MASK, keyMask, s.batch() * s.capacity(), "attentionBackward");
        long delta = scratch(S_STATS, nl, "attentionBackward");
        float scale = (float) (1.0 / Math.sqrt(s.headDim()));
        check(precision.bf16()
                ? st_attention_backward_bf16(ctx, dqs, dks, dvs, delta, g, o, qs, ks, vs, l, m, s.batch(), s.queryLen(),
                        s.numHeads(), s.numKvHeads(), s.headDim(), scale)
                : st_attention_backward(ctx, dqs, dks, dvs, delta, g, o, qs, ks, vs, l, m, s.batch(), s.queryLen(),
                        s.numHeads(), s.numKvHeads(), s.headDim(), scale), "attentionBackward");
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, int n) {
        if (copying() && n > 0 && dgate != dup) {
            tracked(() -> {
                long dg = ptr(dgate, "swigluBackward", "dgate", n);
                long du = ptr(dup, "swigluBackward", "dup", n);
                long g = ptr(dout, "swigluBackward", "dout", n);
                long gs = ptr(gate, "swigluBackward", "gate", n);
                long us = ptr(up, "swigluBackward", "up", n);
                copies.written(dg, 4L * n);
                copies.written(du, 4L * n);
                CudaTensor dgb = rawAllocate((n + 1) / 2, "swigluBackward");
                CudaTensor dub = null;
                try {
                    dub = rawAllocate((n + 1) / 2, "swigluBackward");
                    check(st_swiglu_backward_bf16(ctx, dg, du, dgb.ptr(), dub.ptr(), g, gs, us, n), "swigluBackward");
                } catch (RuntimeException e) {
                    dgb.close();
                    if (dub != null) {
                        dub.close();
                    }
                    throw e;
                }
                copies.put(dg, n, dgb);
                copies.put(du, n, dub);
            });
            return;
        }
        check(st_swiglu_backward(ctx, ptr(dgate, "swigluBackward", "dgate", n), ptr(dup, "swigluBackward", "dup", n),
                ptr(dout, "swigluBackward", "dout", n), ptr(gate, "swigluBackward", "gate", n),
                ptr(up, "swigluBackward", "up", n), n), "swigluBackward");
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, int[] targets, int n, int vocab, float scale) {
        long d = ptr(dlogits, "crossEntropyBackward", "dlogits", n * vocab);
        long l = ptr(logits, "crossEntropyBackward", "logits", n * vocab);
        if (targets.length < n) {
            throw new IllegalArgumentException("crossEntropyBackward: targets has " + targets.length + " entries, need " + n);
        }
        if (n == 0) {
            return;
        }
        long t = ints(S_TARGETS, targets, n, "crossEntropyBackward");
        long lse = scratch(S_STATS, n, "crossEntropyBackward");
        check(st_logsumexp(ctx, lse, l, n, vocab), "crossEntropyBackward");
        if (copying()) {
            // the head's backward GEMM reads dlogits next: the kernel writes its bf16 copy on the way
            tracked(() -> produce(d, (long) n * vocab, "crossEntropyBackward", db -> check(
                    st_cross_entropy_backward_bf16(ctx, d, db, l, lse, t, 0, scale, n, vocab), "crossEntropyBackward")));
            return;
        }
        check(st_cross_entropy_backward(ctx, d, l, lse, t, 0, scale, n, vocab), "crossEntropyBackward");
    }

    // ---- optimizer on the device -------------------------------------------------------------------

    /** One fp32 partial sum per tensor on the device (one st_sumsq_multi launch), added in double on the host. */
    @Override
    public double sumOfSquares(List<Tensor> tensors) {
        int k = tensors.size();
        if (k == 0) {
            return 0;
        }
        // one st_sumsq_multi launch over the list (per-tensor fp32 partial sums), added in double on the host
        long table = table(S_TABLE_SUMSQ, "sumOfSquares", tensors);
        long sums = scratch(S_NORM, k, "sumOfSquares");
        check(st_fill(ctx, sums, 0f, k), "sumOfSquares");
        check(st_sumsq_multi(ctx, sums, table, k, maxSize(tensors)), "sumOfSquares");
        float[] host = new float[k];
        check(st_memcpy_d2h(ctx, host, sums, 4L * k), "sumOfSquares");
        double sum = 0;
        for (float x : host) {
            sum += x;
        }
        return sum;
    }

    /** One st_fill_multi launch for the whole list (zeroing the gradients of a step). */
    @Override
    public void fill(List<Tensor> tensors, float value) {
        if (tensors.isEmpty()) {
            return;
        }
        check(st_fill_multi(ctx, table(S_TABLE_FILL, "fill", tensors), tensors.size(), maxSize(tensors), value), "fill");
    }

    /** One st_adamw_update_multi launch for the whole list (same arithmetic as {@link #adamw(Tensor, Tensor, Tensor, Tensor, double, double, double, double, double, long, float)}). */
    @Override
    public void adamw(List<Tensor> p, List<Tensor> g, List<Tensor> m, List<Tensor> v, double lr, double beta1,
                      double beta2, double eps, double weightDecay, long step, float gradScale) {
        int k = p.size();
        if (g.size() != k || m.size() != k || v.size() != k) {
            throw new IllegalArgumentException("adamw: lists of " + k + " parameters, " + g.size() + " gradients, "
                    + m.size() + " and " + v.size() + " moments");
        }
        if (step < 1 || step > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("adamw: step must be in [1, " + Integer.MAX_VALUE + "], got " + step);
        }
        if (k == 0) {
            return;
        }
        long[] words = new long[5 * k];
        long maxN = 0;
        for (int i = 0; i < k; i++) {
            int n = Objects.requireNonNull(p.get(i), "adamw: parameter " + i + " is null").size();
            words[5 * i] = ptr(p.get(i), "adamw", "p[" + i + "]", n);
            words[5 * i + 1] = ptr(g.get(i), "adamw", "g[" + i + "]", n);
            words[5 * i + 2] = ptr(m.get(i), "adamw", "m[" + i + "]", n);
            words[5 * i + 3] = ptr(v.get(i), "adamw", "v[" + i + "]", n);
            words[5 * i + 4] = n;
            maxN = Math.max(maxN, n);
        }
        check(st_adamw_update_multi(ctx, upload(S_TABLE_ADAM, words, "adamw"), k, maxN, (float) lr, (float) beta1,
                (float) beta2, (float) eps, (float) weightDecay, (int) step, gradScale), "adamw");
    }

    private static long maxSize(List<Tensor> tensors) {
        long max = 0;
        for (Tensor t : tensors) {
            max = Math.max(max, t.size());
        }
        return max;
    }

    /** The device table {p, n} per tensor of the list (uploaded only when it differs from the last one of the slot). */
    private long table(int slot, String op, List<Tensor> tensors) {
        long[] words = new long[2 * tensors.size()];
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            words[2 * i] = ptr(t, op, "tensor " + i, 0);
            words[2 * i + 1] = t.size();
        }
        return upload(slot, words, op);
    }

    /**
     * Uploads a table of int64 words to a scratch slot unless the slot already holds exactly these words: a
     * training loop hands the same tensors every step, so after the first step no upload (and no wait) happens.
     */
    private long upload(int slot, long[] words, String op) {
        long p = scratch(slot, 2 * words.length, op);
        long[] last = uploadedTable[slot];
        if (last != null && uploadedAt[slot] == p && Arrays.equals(last, words)) {
            return p;
        }
        uploadedTable[slot] = null;
        check(st_memcpy_h2d(ctx, p, words, 8L * words.length), op);
        uploadedTable[slot] = words;
        uploadedAt[slot] = p;
        return p;
    }

    /** st_adamw_update on the device (fp32 arithmetic; bias corrections from the step as the host does). */
    @Override
    public void adamw(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                      double weightDecay, long step, float gradScale) {
        int n = Objects.requireNonNull(p, "adamw: p is null").size();
        long pp = ptr(p, "adamw", "p", n);
        long gp = ptr(g, "adamw", "g", n);
        long mp = ptr(m, "adamw", "m", n);
        long vp = ptr(v, "adamw", "v", n);
        if (step < 1 || step > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("adamw: step must be in [1, " + Integer.MAX_VALUE + "], got " + step);
        }
        check(st_adamw_update(ctx, pp, gp, mp, vp, n, (float) lr, (float) beta1, (float) beta2, (float) eps,
                (float) weightDecay, (int) step, gradScale), "adamw");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        copies.clear();
        closed = true;
        // free what is still allocated (tensors the caller did not close), the pool, and the context
        for (CudaTensor t : live.keySet().toArray(new CudaTensor[0])) {
            st_free(ctx, t.ptr());
        }
        live.clear();
        for (ArrayDeque<Long> q : pool.values()) {
            for (long p : q) {
                st_free(ctx, p);
            }
        }
        pool.clear();
        check(st_ctx_destroy(ctx), "close");
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /** {@link #tracked} when {@code on}, else just runs {@code op} (whose tensor lookups then drop the copies). */
    private void trackedIf(boolean on, Runnable op) {
        if (on) {
            tracked(op);
        } else {
            op.run();
        }
    }

    /** Runs an op that reports its own writes to {@link #copies}: its tensor lookups leave the copies in place. */
    private void tracked(Runnable op) {
        tracked++;
        try {
            op.run();
        } catch (RuntimeException | Error e) {
            copies.clear();  // a failed op may have written part of anything it was given
            throw e;
        } finally {
            tracked--;
        }
    }

    /**
     * The valid bf16 copy of at least {@code elements} (> 0) floats of {@code t}, or null (also for a foreign tensor
     * and for no elements: the ops' own paths check and skip those).
     */
    private CudaTensor copyOf(Tensor t, long elements) {
        return elements > 0 && t instanceof CudaTensor c && t.backend() == this && !closed
                ? copies.find(c.ptr(), elements) : null;
    }

    /** A producer's step: a bf16 buffer for {@code elements} values, the kernel writing it, the copy recorded. */
    private void produce(long source, long elements, String op, LongConsumer kernel) {
        copies.written(source, 4 * elements);
        CudaTensor copy = rawAllocate((int) ((elements + 1) / 2), op);
        try {
            kernel.accept(copy.ptr());
        } catch (RuntimeException e) {
            copy.close();
            throw e;
        }
        copies.put(source, elements, copy);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("cuda backend used after close");
        }
    }

    static void check(int rc, String op) {
        if (rc != ST_OK) {
            throw new CudaException(op, rc, st_last_error().getString());
        }
    }

    /**
     * The device address of an op's tensor argument. Every op resolves its tensors here, so an op that does not
     * report its writes to {@link #copies} (outside {@link #tracked} ops) drops the bf16 copies: one of them may be
     * of a tensor it writes.
     */
    private long ptr(Tensor t, String op, String arg, int needed) {
        if (tracked == 0) {
            copies.clear();
        }
        checkOpen();
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null");
        }
        if (!(t instanceof CudaTensor c) || t.backend() != this) {
            throw new IllegalArgumentException(op + ": " + arg + " belongs to another backend");
        }
        if (t.size() < needed) {
            throw new IllegalArgumentException(op + ": " + arg + " has " + t.size() + " floats, need " + needed);
        }
        return c.ptr();
    }

    private CudaWeight weight(WeightHandle w, String op) {
        checkOpen();
        if (!(w instanceof CudaWeight cw) || w.backend() != this) {
            throw new IllegalArgumentException(op + ": weight " + (w == null ? "null" : w.name())
                    + " was not prepared by this backend");
        }
        return cw;
    }

    /** A device scratch buffer of at least {@code floats} 4-byte elements, grown on demand. */
    private long scratch(int slot, int floats, String op) {
        CudaTensor t = scratch[slot];
        if (t == null || t.size() < floats) {
            if (t != null) {
                t.close();
            }
            t = rawAllocate(Math.max(floats, 1024), op);
            scratch[slot] = t;
        }
        return t.ptr();
    }

    /**
     * Uploads {@code values[0..n)} to a scratch buffer (synchronously, ordered after queued work) unless that
     * buffer already holds exactly these values. The upload waits for the stream to drain, and a training step
     * hands the same positions, mask and targets to every layer, so repeats are skipped (ints scratch slots are
     * written only here, so the copy kept of the last upload is what the device buffer holds).
     */
    private long ints(int slot, int[] values, int n, String op) {
        long p = scratch(slot, n, op);
        int[] last = uploaded[slot];
        if (last != null && uploadedAt[slot] == p && last.length == n && Arrays.equals(last, 0, n, values, 0, n)) {
            return p;
        }
        int[] v = Arrays.copyOf(values, n);
        uploaded[slot] = null;  // unknown content if the copy fails
        check(st_memcpy_h2d(ctx, p, v, 4L * n), op);
        uploaded[slot] = v;
        uploadedAt[slot] = p;
        return p;
    }
}
