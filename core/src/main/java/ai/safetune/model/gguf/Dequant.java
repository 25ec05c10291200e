package ai.safetune.model.gguf;

import ai.safetune.model.io.Float16;
import ai.safetune.model.io.RowDecoder;
import java.nio.ByteBuffer;

/**
 * Row expanders for ggml block formats, following ggml's reference {@code dequantize_row_*} functions
 * (same arithmetic, same operation order, so results are bit-identical). All reads are absolute, so one
 * buffer can be expanded from several threads.
 */
public final class Dequant {
    private Dequant() {
    }

    static RowDecoder decoderFor(GgmlType t) {
        return switch (t) {
            case F32 -> Dequant::f32;
            case F16 -> Dequant::f16;
            case BF16 -> Dequant::bf16;
            case Q8_0 -> Dequant::q8_0;
            case Q4_0 -> Dequant::q4_0;
            case Q4_1 -> Dequant::q4_1;
            case Q5_0 -> Dequant::q5_0;
            case Q5_1 -> Dequant::q5_1;
            case Q4_K -> Dequant::q4_K;
            case Q5_K -> Dequant::q5_K;
            case Q6_K -> Dequant::q6_K;
            default -> null;
        };
    }

    /** Per-thread scratch: one bulk copy of a row out of the (direct, bounds-checked) buffer, then array loops. */
    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[1 << 14]);

    private static byte[] copy(ByteBuffer src, int off, int len) {
        byte[] b = SCRATCH.get();
        if (b.length < len) {
            b = new byte[Math.max(len, b.length * 2)];
            SCRATCH.set(b);
        }
        src.get(off, b, 0, len);
        return b;
    }

    private static short le16(byte[] b, int p) {
        return (short) ((b[p] & 0xFF) | (b[p + 1] << 8));
    }

    private static int le32(byte[] b, int p) {
        return (b[p] & 0xFF) | (b[p + 1] & 0xFF) << 8 | (b[p + 2] & 0xFF) << 16 | b[p + 3] << 24;
    }

    public static void f32(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, 4 * n);
        for (int i = 0; i < n; i++) {
            dst[d + i] = Float.intBitsToFloat(le32(x, 4 * i));
        }
    }

    public static void f16(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, 2 * n);
        for (int i = 0; i < n; i++) {
            dst[d + i] = Float16.halfToFloat(le16(x, 2 * i));
        }
    }

    public static void bf16(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, 2 * n);
        for (int i = 0; i < n; i++) {
            dst[d + i] = Float.intBitsToFloat(((x[2 * i] & 0xFF) | (x[2 * i + 1] & 0xFF) << 8) << 16);
        }
    }

    /** Q8_0: per 32 values an fp16 scale {@code d} then 32 int8 {@code q}; value = q·d. */
    public static void q8_0(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 32 * 34);
        for (int b = 0; b < n / 32; b++) {
            int p = b * 34;
            float scale = Float16.halfToFloat(le16(x, p));
            int o = d + b * 32;
            for (int j = 0; j < 32; j++) {
                dst[o + j] = x[p + 2 + j] * scale;
            }
        }
    }

    /** Q4_0: fp16 {@code d}, 16 bytes of nibbles (low = elements 0–15, high = 16–31); value = (q−8)·d. */
    public static void q4_0(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 32 * 18);
        for (int b = 0; b < n / 32; b++) {
            int p = b * 18;
            float scale = Float16.halfToFloat(le16(x, p));
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = x[p + 2 + j];
                dst[o + j] = ((q & 0x0F) - 8) * scale;
                dst[o + j + 16] = (((q >> 4) & 0x0F) - 8) * scale;
            }
        }
    }

    /** Q4_1: fp16 {@code d}, fp16 min {@code m}, 16 bytes of nibbles; value = q·d + m. */
    public static void q4_1(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 32 * 20);
        for (int b = 0; b < n / 32; b++) {
            int p = b * 20;
            float scale = Float16.halfToFloat(le16(x, p));
            float min = Float16.halfToFloat(le16(x, p + 2));
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = x[p + 4 + j];
                dst[o + j] = (q & 0x0F) * scale + min;
                dst[o + j + 16] = ((q >> 4) & 0x0F) * scale + min;
            }
        }
    }

    /**
     * Q5_0: fp16 {@code d}, 32 high bits {@code qh} (u32), 16 bytes of low nibbles; element j's fifth bit is bit j of
     * qh; value = (q−16)·d.
     */
    public static void q5_0(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 32 * 22);
        for (int b = 0; b < n / 32; b++) {
            int p = b * 22;
            float scale = Float16.halfToFloat(le16(x, p));
            int qh = le32(x, p + 2);
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = x[p + 6 + j];
                int h0 = ((qh >>> j) << 4) & 0x10;
                int h1 = (qh >>> (j + 12)) & 0x10;
                dst[o + j] = (((q & 0x0F) | h0) - 16) * scale;
                dst[o + j + 16] = ((((q >> 4) & 0x0F) | h1) - 16) * scale;
            }
        }
    }

    /** Q5_1: fp16 {@code d}, fp16 min {@code m}, u32 {@code qh}, 16 bytes of low nibbles; value = q·d + m. */
    public static void q5_1(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 32 * 24);
        for (int b = 0; b < n / 32; b++) {
            int p = b * 24;
            float scale = Float16.halfToFloat(le16(x, p));
            float min = Float16.halfToFloat(le16(x, p + 2));
            int qh = le32(x, p + 4);
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = x[p + 8 + j];
                int h0 = ((qh >>> j) << 4) & 0x10;
                int h1 = (qh >>> (j + 12)) & 0x10;
                dst[o + j] = ((q & 0x0F) | h0) * scale + min;
                dst[o + j + 16] = (((q >> 4) & 0x0F) | h1) * scale + min;
            }
        }
    }

    /**
     * The 6-bit scale (index 0) and min (index 1) of sub-block {@code j} (0..7) packed in the 12 scale bytes of
     * Q4_K/Q5_K at {@code p}: sub-blocks 0–3 use the low 6 bits of bytes j and j+4; 4–7 combine a nibble of
     * byte j+4 with the top 2 bits of bytes j−4 (scale) and j (min).
     */
    static int scaleK4(byte[] x, int p, int j) {
        if (j < 4) {
            return x[p + j] & 63;
        }
        return (x[p + j + 4] & 0x0F) | (((x[p + j - 4] & 0xFF) >> 6) << 4);
    }

    static int minK4(byte[] x, int p, int j) {
        if (j < 4) {
            return x[p + j + 4] & 63;
        }
        return ((x[p + j + 4] & 0xFF) >> 4) | (((x[p + j] & 0xFF) >> 6) << 4);
    }

    /**
     * Q4_K: super-blocks of 256 = fp16 {@code d}, fp16 {@code dmin}, 12 bytes of 6-bit scales/mins, 128 bytes of
     * nibbles; in each 64-element group, 32 low nibbles then 32 high nibbles of the same 32 bytes;
     * value = (d·sc)·q − dmin·m.
     */
    public static void q4_K(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 256 * 144);
        for (int b = 0; b < n / 256; b++) {
            int p = b * 144;
            float dd = Float16.halfToFloat(le16(x, p));
            float dmin = Float16.halfToFloat(le16(x, p + 2));
            int scales = p + 4;
            int qs = p + 16;
            int o = d + b * 256;
            for (int g = 0; g < 4; g++) {
                float d1 = dd * scaleK4(x, scales, 2 * g);
                float m1 = dmin * minK4(x, scales, 2 * g);
                float d2 = dd * scaleK4(x, scales, 2 * g + 1);
                float m2 = dmin * minK4(x, scales, 2 * g + 1);
                int q = qs + 32 * g;
                int y = o + 64 * g;
                for (int l = 0; l < 32; l++) {
                    dst[y + l] = d1 * (x[q + l] & 0x0F) - m1;
                }
                for (int l = 0; l < 32; l++) {
                    dst[y + 32 + l] = d2 * ((x[q + l] & 0xFF) >> 4) - m2;
                }
            }
        }
    }

    /**
     * Q5_K: like Q4_K plus 32 bytes {@code qh} of fifth bits (group g uses bits 2g and 2g+1 of each byte);
     * layout d, dmin, scales[12], qh[32], qs[128].
     */
    public static void q5_K(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 256 * 176);
        for (int b = 0; b < n / 256; b++) {
            int p = b * 176;
            float dd = Float16.halfToFloat(le16(x, p));
            float dmin = Float16.halfToFloat(le16(x, p + 2));
            int scales = p + 4;
            int qh = p + 16;
            int qs = p + 48;
            int o = d + b * 256;
            for (int g = 0; g < 4; g++) {
                float d1 = dd * scaleK4(x, scales, 2 * g);
                float m1 = dmin * minK4(x, scales, 2 * g);
                float d2 = dd * scaleK4(x, scales, 2 * g + 1);
                float m2 = dmin * minK4(x, scales, 2 * g + 1);
                int u1 = 1 << (2 * g);
                int u2 = 2 << (2 * g);
                int q = qs + 32 * g;
                int y = o + 64 * g;
                for (int l = 0; l < 32; l++) {
                    int h = x[qh + l];
                    dst[y + l] = d1 * ((x[q + l] & 0x0F) + ((h & u1) != 0 ? 16 : 0)) - m1;
                }
                for (int l = 0; l < 32; l++) {
                    int h = x[qh + l];
                    dst[y + 32 + l] = d2 * (((x[q + l] & 0xFF) >> 4) + ((h & u2) != 0 ? 16 : 0)) - m2;
                }
            }
        }
    }

    /**
     * Q6_K: super-blocks of 256 = ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales (one per 16 values),
     * fp16 {@code d}; value = (d·sc)·(q−32), in two halves of 128.
     */
    public static void q6_K(ByteBuffer src, int off, float[] dst, int d, int n) {
        byte[] x = copy(src, off, n / 256 * 210);
        for (int b = 0; b < n / 256; b++) {
            int p = b * 210;
            float dd = Float16.halfToFloat(le16(x, p + 208));
            for (int half = 0; half < 2; half++) {
                int ql = p + 64 * half;
                int qh = p + 128 + 32 * half;
                int sc = p + 192 + 8 * half;
                int y = d + b * 256 + 128 * half;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int lo0 = x[ql + l] & 0xFF;
                    int lo1 = x[ql + l + 32] & 0xFF;
                    int h = x[qh + l] & 0xFF;
                    int q1 = ((lo0 & 0x0F) | ((h & 3) << 4)) - 32;
                    int q2 = ((lo1 & 0x0F) | (((h >> 2) & 3) << 4)) - 32;
                    int q3 = ((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32;
                    int q4 = ((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32;
                    dst[y + l] = dd * x[sc + is] * q1;
                    dst[y + l + 32] = dd * x[sc + is + 2] * q2;
                    dst[y + l + 64] = dd * x[sc + is + 4] * q3;
                    dst[y + l + 96] = dd * x[sc + is + 6] * q4;
                }
            }
        }
    }
}
