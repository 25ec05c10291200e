package ai.safetune.backend.cpu;

import ai.safetune.model.io.Float16;

/**
 * The plain-Java quantized product: each weight row is expanded once into a K-float scratch row (the same
 * arithmetic as {@code Dequant}, so the values equal the dequantized weight exactly) and then dotted with every
 * x row while it sits in L1.
 */
final class ScalarQuantKernel implements QuantKernel {
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void tile(QuantFormat format, byte[] w, int wOff, int rows, int rowBytes, float[] x, int n, int K, float[] out,
                     int outOff, int outStride) {
        float[] row = ROW.get();
        if (row.length < K) {
            row = new float[K];
            ROW.set(row);
        }
        for (int r = 0; r < rows; r++) {
            expand(format, w, wOff + r * rowBytes, K / QuantFormat.BLOCK, row);
            dotRows(row, x, n, K, out, outOff + r, outStride);
        }
    }

    @Override
    public void packed(PackedQuant w, int r0, int r1, float[] x, int n, int K, float[] blockSums, float[] out,
                       int outStride) {
        float[] row = ROW.get();
        if (row.length < K) {
            row = new float[K];
            ROW.set(row);
        }
        for (int r = r0; r < r1; r++) {
            w.expandRow(r, row);
            dotRows(row, x, n, K, out, r, outStride);
        }
    }

    /** {@code out[i·stride + o] = x_i · row} for the n rows of x. */
    private static void dotRows(float[] row, float[] x, int n, int K, float[] out, int o, int stride) {
        for (int i = 0; i < n; i++) {
            int xo = i * K;
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            int k = 0;
            for (; k + 4 <= K; k += 4) {
                s0 += x[xo + k] * row[k];
                s1 += x[xo + k + 1] * row[k + 1];
                s2 += x[xo + k + 2] * row[k + 2];
                s3 += x[xo + k + 3] * row[k + 3];
            }
            for (; k < K; k++) {
                s0 += x[xo + k] * row[k];
            }
            out[i * stride + o] = (s0 + s1) + (s2 + s3);
        }
    }

    /** The little-endian fp16 at {@code w[p]} as a float. */
    static float half(byte[] w, int p) {
        return half((w[p] & 0xFF) | (w[p + 1] & 0xFF) << 8);
    }

    /**
     * fp16 bits to float with a few ALU operations instead of {@link Float16}'s 256 KiB table (a table lookup per
     * block cost 12% of decode): the exponent and mantissa shifted into place and scaled by 2^112 (exact, also for
     * subnormals and zero); infinities and NaNs, which no sane scale holds, go through the table.
     */
    static float half(int h) {
        int em = h & 0x7FFF;
        if (em >= 0x7C00) {
            return Float16.halfToFloat((short) h);
        }
        return Float.intBitsToFloat(em << 13 | (h & 0x8000) << 16) * 0x1p112f;
    }

    /** Expands {@code blocks} blocks starting at {@code w[p]} into {@code dst[0 .. 32·blocks)}. */
    static void expand(QuantFormat f, byte[] w, int p, int blocks, float[] dst) {
        for (int b = 0; b < blocks; b++, p += f.blockBytes) {
            float d = half(w, p);
            int o = b * QuantFormat.BLOCK;
            int q0 = p + f.quantOffset;
            switch (f) {
                case Q8_0 -> {
                    for (int j = 0; j < 32; j++) {
                        dst[o + j] = w[q0 + j] * d;
                    }
                }
                case Q4_0 -> {
                    for (int j = 0; j < 16; j++) {
                        int q = w[q0 + j];
                        dst[o + j] = ((q & 0x0F) - 8) * d;
                        dst[o + j + 16] = (((q >> 4) & 0x0F) - 8) * d;
                    }
                }
                case Q4_1 -> {
                    float m = half(w, p + 2);
                    for (int j = 0; j < 16; j++) {
                        int q = w[q0 + j];
                        dst[o + j] = (q & 0x0F) * d + m;
                        dst[o + j + 16] = ((q >> 4) & 0x0F) * d + m;
                    }
                }
                default -> throw new IllegalArgumentException("no expansion for " + f);
            }
        }
    }
}
