// The box's fp32 FMA ceiling: a throughput-bound AVX-512 FMA loop (8 independent accumulator chains) on N threads.
// Run: java --add-modules jdk.incubator.vector benchmarks/cpu-peak/FmaPeak.java 1   (then 2)
import jdk.incubator.vector.*;
import java.util.concurrent.*;
public class FmaPeak {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
  static float run(long iters) {
    FloatVector a0 = FloatVector.broadcast(F, 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    FloatVector m = FloatVector.broadcast(F, 0.9999f), c = FloatVector.broadcast(F, 1e-4f);
    for (long i = 0; i < iters; i++) {
      a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
      a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
    }
    return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).reduceLanes(VectorOperators.ADD);
  }
  public static void main(String[] a) throws Exception {
    int threads = Integer.parseInt(a[0]);
    ExecutorService ex = Executors.newFixedThreadPool(threads);
    long iters = 200_000_000L;
    for (int rep = 0; rep < 4; rep++) {
      long t = System.nanoTime();
      Future<Float>[] f = new Future[threads];
      for (int k = 0; k < threads; k++) f[k] = ex.submit(() -> run(iters));
      float s = 0; for (var ff : f) s += ff.get();
      double sec = (System.nanoTime() - t) / 1e9;
      System.out.printf("threads %d: %.1f GFLOP/s total (%.1f per thread) %s%n", threads, threads * iters * 8 * 16 * 2 / sec / 1e9, iters * 8 * 16 * 2 / sec / 1e9, s > 0 ? "" : "!");
    }
    ex.shutdown();
  }
}
