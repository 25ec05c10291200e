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
            default -> null;
        };
    }

    public static void f32(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int i = 0; i < n; i++) {
            dst[d + i] = src.getFloat(off + 4 * i);
        }
    }

    public static void f16(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int i = 0; i < n; i++) {
            dst[d + i] = Float16.halfToFloat(src.getShort(off + 2 * i));
        }
    }

    public static void bf16(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int i = 0; i < n; i++) {
            dst[d + i] = Float16.bf16ToFloat(src.getShort(off + 2 * i));
        }
    }

    /** Q8_0: per 32 values an fp16 scale {@code d} then 32 int8 {@code q}; value = q·d. */
    public static void q8_0(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int b = 0; b < n / 32; b++) {
            int p = off + b * 34;
            float scale = Float16.halfToFloat(src.getShort(p));
            int o = d + b * 32;
            for (int j = 0; j < 32; j++) {
                dst[o + j] = src.get(p + 2 + j) * scale;
            }
        }
    }

    /** Q4_0: fp16 {@code d}, 16 bytes of nibbles (low = elements 0–15, high = 16–31); value = (q−8)·d. */
    public static void q4_0(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int b = 0; b < n / 32; b++) {
            int p = off + b * 18;
            float scale = Float16.halfToFloat(src.getShort(p));
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = src.get(p + 2 + j);
                dst[o + j] = ((q & 0x0F) - 8) * scale;
                dst[o + j + 16] = (((q >> 4) & 0x0F) - 8) * scale;
            }
        }
    }

    /** Q4_1: fp16 {@code d}, fp16 min {@code m}, 16 bytes of nibbles; value = q·d + m. */
    public static void q4_1(ByteBuffer src, int off, float[] dst, int d, int n) {
        for (int b = 0; b < n / 32; b++) {
            int p = off + b * 20;
            float scale = Float16.halfToFloat(src.getShort(p));
            float min = Float16.halfToFloat(src.getShort(p + 2));
            int o = d + b * 32;
            for (int j = 0; j < 16; j++) {
                int q = src.get(p + 4 + j);
                dst[o + j] = (q & 0x0F) * scale + min;
                dst[o + j + 16] = ((q >> 4) & 0x0F) * scale + min;
            }
        }
    }
}
