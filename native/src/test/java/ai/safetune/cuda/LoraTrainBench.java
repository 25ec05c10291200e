package ai.safetune.cuda;

import ai.safetune.backend.Backend;
import ai.safetune.backend.cpu.CpuBackend;
import ai.safetune.model.LlamaLayout;
import ai.safetune.model.ModelConfig;
import ai.safetune.model.ModelWeights;
import ai.safetune.model.SyntheticLlama;
import ai.safetune.model.TokenBatch;
import ai.safetune.backend.Tensor;
import ai.safetune.train.AdamW;
import ai.safetune.train.BackendAdamW;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.LoraTrainingModel;
import ai.safetune.train.PeftAdapter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Whole-model LoRA training throughput (issue 7): {@link LoraTrainingModel} with random weights in the real
 * shapes, r = 16 on all seven linear modules, timed over full training steps as FineTuner runs them:
 * zeroGradients, forwardBackward, then the optimizer: {@code --optimizer device} (default; FineTuner's path)
 * keeps it on the backend ({@link BackendAdamW}: only the gradient norm reaches the host), {@code host} is the
 * earlier path (gradient download, host clipping and AdamW, parameter upload). {@code --precision} picks the
 * CUDA backend's frozen-matmul arithmetic ({@link CudaPrecision}). The trailing {@code bf16|f32} is the dtype the
 * random base weights are stored in. A benchmark main, not a test (the device machine runs it on the carried
 * runtime; {@code cpu tiny 1 16 0 1} is a dry run anywhere):
 * <pre>java -cp ... ai.safetune.cuda.LoraTrainBench cuda|cpu smollm2-135m|llama-1b|llama-1b-128k|tiny batch seq warmup steps
 *     [bf16|f32] [--precision f32|bf16|bf16-tiled] [--optimizer device|host]</pre>
 * FLOP model (printed): P = frozen matmul parameters (7 projections × layers + the output head, the
 * embedding lookup counts nothing) plus LoRA parameters; "6P" = 6·P·tokens as for full training, "4P" =
 * 4·P_frozen·tokens + 6·P_lora·tokens (a frozen base needs no weight gradients). Attention score FLOPs are
 * left out of both.
 */
public final class LoraTrainBench {
    private LoraTrainBench() {
    }

    static ModelConfig shape(String name) {
        return SyntheticLlama.shape(name);
    }

    static ModelWeights randomWeights(ModelConfig c, boolean bf16, long seed) {
        return SyntheticLlama.weights(c, bf16, seed);
    }

    /** Which optimizer path a timed step takes. */
    enum Optimizer {
        /** {@link BackendAdamW}: moments on the backend, norm and update there (on CUDA: st_sumsq, st_adamw_update). */
        DEVICE,
        /** The path before: gradient download, host clipping and {@link AdamW}, parameter upload. */
        HOST
    }

    /** The parsed command line. */
    record Args(String backend, String shape, int batch, int seq, int warmup, int steps, boolean bf16Weights,
                CudaPrecision precision, Optimizer optimizer, int profileSteps) {
        static final String USAGE = "usage: LoraTrainBench cuda|cpu SHAPE BATCH SEQ WARMUP STEPS [bf16|f32]"
                + " [--precision f32|bf16|bf16-tiled] [--optimizer device|host] [--profile STEPS]";

        static Args parse(String[] a) {
            List<String> pos = new ArrayList<>();
            CudaPrecision precision = null;
            Optimizer optimizer = Optimizer.DEVICE;
            int profile = 0;
            for (int i = 0; i < a.length; i++) {
                String s = a[i];
                if (s.equals("--precision") || s.equals("--optimizer") || s.equals("--profile")) {
                    if (i + 1 >= a.length) {
                        throw new IllegalArgumentException(s + " needs a value; " + USAGE);
                    }
                    String v = a[++i];
                    if (s.equals("--precision")) {
                        precision = CudaPrecision.parse(v, "--precision");
                    } else if (s.equals("--profile")) {
                        profile = nonNegative(v, "--profile");
                    } else {
                        optimizer = switch (v) {
                            case "device" -> Optimizer.DEVICE;
                            case "host" -> Optimizer.HOST;
                            default -> throw new IllegalArgumentException("--optimizer: unknown value '" + v
                                    + "'; allowed: device, host");
                        };
                    }
                } else if (s.startsWith("--")) {
                    throw new IllegalArgumentException("unknown option " + s + "; " + USAGE);
                } else {
                    pos.add(s);
                }
            }
            if (pos.size() < 6 || pos.size() > 7) {
                throw new IllegalArgumentException("expected 6 or 7 positional arguments, got " + pos.size() + "; " + USAGE);
            }
            String be = pos.get(0);
            if (!be.equals("cuda") && !be.equals("cpu")) {
                throw new IllegalArgumentException("backend must be cuda or cpu, got '" + be + "'");
            }
            LoraTrainBench.shape(pos.get(1));  // fails early on an unknown shape
            String wt = pos.size() == 7 ? pos.get(6) : "bf16";
            if (!wt.equals("bf16") && !wt.equals("f32")) {
                throw new IllegalArgumentException("base weight dtype must be bf16 or f32, got '" + wt + "'");
            }
            if (be.equals("cpu") && precision != null && precision != CudaPrecision.F32) {
                throw new IllegalArgumentException("--precision " + precision.id() + " applies to the cuda backend only");
            }
            return new Args(be, pos.get(1), positive(pos.get(2), "BATCH"), positive(pos.get(3), "SEQ"),
                    nonNegative(pos.get(4), "WARMUP"), positive(pos.get(5), "STEPS"), wt.equals("bf16"),
                    precision == null ? CudaPrecision.F32 : precision, optimizer, profile);
        }

        private static int positive(String v, String what) {
            int n = nonNegative(v, what);
            if (n == 0) {
                throw new IllegalArgumentException(what + " must be > 0, got " + v);
            }
            return n;
        }

        private static int nonNegative(String v, String what) {
            try {
                int n = Integer.parseInt(v);
                if (n >= 0) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // fall through to the message below
            }
            throw new IllegalArgumentException(what + " must be a non-negative integer, got '" + v + "'");
        }
    }

    /** What one run measured (also printed as the RESULT line). */
    record Result(double medianMs, double tokensPerSecond, double mfu6p, double finalLoss) {
    }

    public static void main(String[] args) {
        Args a;
        try {
            a = Args.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        run(a);
    }

    static Result run(Args a) {
        ModelConfig c = shape(a.shape());
        long t0 = System.nanoTime();
        try (ModelWeights w = randomWeights(c, a.bf16Weights(), 42);
             Backend raw = a.backend().equals("cuda") ? new CudaBackend(0, a.precision())
                     : new CpuBackend(Runtime.getRuntime().availableProcessors())) {
            // --profile: every op goes through the profiler, which books time only in the extra profiled steps
            OpProfiler profiler = a.profileSteps() > 0
                    ? OpProfiler.wrap(raw, () -> { if (raw instanceof CudaBackend cb) { cb.synchronize(); } }) : null;
            return run(a, c, w, profiler == null ? raw : profiler.backend(), raw, profiler, t0);
        }
    }

    private static Result run(Args a, ModelConfig c, ModelWeights w, Backend backend, Backend raw, OpProfiler profiler,
                              long t0) {
        int batch = a.batch();
        int seq = a.seq();
        int warmup = a.warmup();
        int steps = a.steps();
        LoraConfig lora = LoraConfig.builder().r(16).alpha(32).targetModules(LoraConfig.ALL_LINEAR).build();
        try (LoraTrainingModel lm = new LoraTrainingModel(c, w, backend, PeftAdapter.init(c, lora, 7), false);
             BackendAdamW dev = new BackendAdamW(backend, lm.parameterSizes(), 0.9, 0.999, 1e-8, 0.0)) {
            System.out.printf("backend %s; shape %s %s; base weights %s; batch %d seq %d; optimizer %s; setup %.1f s%n",
                    backend.description(), a.shape(), c, a.bf16Weights() ? "bf16" : "f32", batch, seq,
                    a.optimizer().name().toLowerCase(java.util.Locale.ROOT), (System.nanoTime() - t0) / 1e9);
            long pFrozen = 0;
            for (Map.Entry<String, int[]> e : LlamaLayout.expectedShapes(c).entrySet()) {
                if (e.getValue()[0] > 1 && !e.getKey().equals(LlamaLayout.EMBED)) {
                    pFrozen += (long) e.getValue()[0] * e.getValue()[1];
                }
            }
            pFrozen += (long) c.vocabSize() * c.hiddenSize();  // the output head (tied or not) is one matmul
            long pLora = 0;
            for (int s : lm.parameterSizes()) {
                pLora += s;
            }
            int n = batch * seq;
            TokenBatch tb = SyntheticLlama.randomBatch(c, batch, seq, 1);
            int[] targets = LoraTrainingModel.shiftLabels(tb.ids(), batch, seq);
            int lossTokens = (int) Arrays.stream(targets).filter(x -> x >= 0).count();
            AdamW adam = AdamW.withDefaults(lm.parameterSizes(), 0.0);
            double[] ms = new double[steps];
            double loss = Double.NaN;
            int profiled = profiler == null ? 0 : a.profileSteps();
            // -Dsafetune.bench.ncu=true: one more step after all others, bracketed for `ncu --profile-from-start off`
            int ncuStep = Boolean.getBoolean("safetune.bench.ncu") && raw instanceof CudaBackend ? warmup + steps + profiled : -1;
            for (int s = 0; s < warmup + steps + profiled + (ncuStep >= 0 ? 1 : 0); s++) {
                if (s == warmup + steps && profiler != null) {
                    profiler.enabled = true;
                }
                if (s == ncuStep) {
                    if (profiler != null) {
                        profiler.enabled = false;
                    }
                    ((CudaBackend) raw).profilerRange(true);
                }
                long t = System.nanoTime();
                lm.zeroGradients();
                loss = lm.forwardBackward(tb, targets, 1f / lossTokens).lossSum() / lossTokens;
                if (a.optimizer() == Optimizer.DEVICE) {
                    // what FineTuner does: only the gradient norm reaches the host
                    List<Tensor> grads = lm.gradientTensors();
                    double norm = dev.gradNorm(grads);
                    dev.step(lm.parameterTensors(), grads, 1e-4, BackendAdamW.clipScale(norm, 1.0));
                    if (raw instanceof CudaBackend cb) {
                        cb.synchronize();  // the update is queued after the norm's download: wait for it too
                    }
                } else {
                    List<float[]> grads = lm.gradients();
                    AdamW.clipGradNorm(grads, 1.0);
                    List<float[]> params = lm.parameters();
                    adam.step(params, grads, 1e-4);
                    lm.setParameters(params);
                }
                if (s == ncuStep) {
                    ((CudaBackend) raw).profilerRange(false);
                }
                double dt = (System.nanoTime() - t) / 1e6;
                if (s >= warmup && s < warmup + steps) {
                    ms[s - warmup] = dt;
                }
                System.out.printf("step %d%s: %.1f ms, loss %.4f%n", s, s < warmup ? " (warm-up)"
                        : s == ncuStep ? " (ncu)" : s >= warmup + steps ? " (profiled)" : "", dt, loss);
            }
            double[] sorted = ms.clone();
            Arrays.sort(sorted);
            double med = sorted[steps / 2];
            double mean = Arrays.stream(ms).average().orElse(Double.NaN);
            double tokS = n / (med / 1e3);
            double f6 = 6.0 * (pFrozen + pLora) * n;
            double f4 = 4.0 * pFrozen * n + 6.0 * pLora * n;
            double peak = 790e12;
            // "+copies" / "+rank": the bf16 copies / bf16 rank-r products in effect (on by default; run-issue7.sh's
            // A/Bs turn them off)
            String mode = a.backend().equals("cuda")
                    ? a.precision().id() + (raw instanceof CudaBackend cb && cb.bf16CopiesOn() ? "+copies" : "")
                    + (raw instanceof CudaBackend cb && cb.bf16RankOn() ? "+rank" : "")
                    // timings on the host emulation of the kernel library measure nothing: say so in the label
                    + (raw instanceof CudaBackend cb && cb.hostEmulation() ? "@host-emulation" : "") : "cpu";
            System.out.printf("RESULT ours %s %s b%d s%d: median %.1f ms/step (mean %.1f), %.0f tokens/s, "
                            + "P_frozen %.1fM P_lora %.2fM, 6P: %.1f TFLOP/s = %.2f%% MFU, 4P: %.1f TFLOP/s = %.2f%% of 790, "
                            + "final loss %.4f, optimizer %s%n",
                    mode, a.shape(), batch, seq, med, mean, tokS, pFrozen / 1e6, pLora / 1e6,
                    f6 / (med / 1e3) / 1e12, 100 * f6 / (med / 1e3) / peak,
                    f4 / (med / 1e3) / 1e12, 100 * f4 / (med / 1e3) / peak, loss,
                    a.optimizer().name().toLowerCase(java.util.Locale.ROOT));
            if (profiler != null) {
                System.out.println("PROFILE " + mode + " " + a.shape() + " (" + profiled + " steps, each op synchronized)");
                profiler.table(profiled).forEach(l -> System.out.println("PROFILE " + l));
            }
            return new Result(med, tokS, 100 * f6 / (med / 1e3) / peak, loss);
        }
    }
}
