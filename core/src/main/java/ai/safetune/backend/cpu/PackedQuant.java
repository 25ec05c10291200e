package ai.safetune.backend.cpu;

import ai.safetune.model.QuantizedWeight;

/**
 * A quantized weight re-laid for the fused decode products, still quantized: the quants of every block back to
 * back ({@link #quantBytes} per block: the 16 nibble bytes of Q4_0/Q4_1 as stored, or the 32 int8 of Q8_0) and the
 * fp16 scales decoded once to floats beside them. Value of element j of block b: {@code q_j·d_b + m_b} with
 * {@code q} the unsigned nibble (Q4_0: {@code m = −8·d}, exact in fp32, so one kernel serves both nibble formats)
 * or the int8 ({@code m} absent).
 * <p>Why: decoding the fp16 scales of every block on every product and copying the raw 20-byte blocks out of the
 * mapped file per tile cost more than half of the decode time (one thread, SmolLM2 Q4_1: 5 → 11 GMAC/s per core
 * with this layout, see benchmarks/RESULTS.md). Costs 4 (Q8_0) or 8 (nibbles) bytes per block of heap beyond the
 * stored size (SmolLM2-135M: ~110 MB), so it is made on the first fused product of a weight, not at load.
 */
final class PackedQuant {
    final QuantFormat format;
    final int rows;
    /** Blocks per row. */
    final int blocks;
    /** Bytes of quants per block. */
    final int quantBytes;
    /** {@code (row·blocks + b)·quantBytes}: block b's quants. */
    final byte[] quants;
    /** {@code d} of block {@code row·blocks + b}. */
    final float[] scales;
    /** {@code m} of block {@code row·blocks + b} (nibble formats), null for Q8_0. */
    final float[] mins;

    private PackedQuant(QuantFormat format, int rows, int blocks) {
        this.format = format;
        this.rows = rows;
        this.blocks = blocks;
        this.quantBytes = format.nibbles ? 16 : 32;
        this.quants = new byte[rows * blocks * quantBytes];
        this.scales = new float[rows * blocks];
        this.mins = format.nibbles ? new float[rows * blocks] : null;
    }

    /** Whether {@code w} (rows of {@code cols / 32} blocks of {@code f}) fits this layout's arrays. */
    static boolean fits(QuantizedWeight w, QuantFormat f) {
        long blocks = (long) w.rows() * (w.cols() / QuantFormat.BLOCK);
        return blocks * (f.nibbles ? 16 : 32) <= Integer.MAX_VALUE - 16;
    }

    /** Reads every block of {@code w} (its row map applied) once. */
    static PackedQuant pack(QuantizedWeight w, QuantFormat f) {
        if (!fits(w, f)) {
            throw new IllegalArgumentException(w.name() + ": " + w.rows() + " x " + w.cols() + " is too large to pack");
        }
        int blocks = w.cols() / QuantFormat.BLOCK;
        PackedQuant p = new PackedQuant(f, w.rows(), blocks);
        int rowBytes = w.rowBytes();
        int chunkRows = Math.max(1, (64 << 10) / rowBytes);
        byte[] raw = new byte[chunkRows * rowBytes];
        for (int r0 = 0; r0 < w.rows(); r0 += chunkRows) {
            int cnt = Math.min(chunkRows, w.rows() - r0);
            w.copyRawRows(r0, cnt, raw, 0);
            for (int i = 0, src = 0, blk = r0 * blocks; i < cnt * blocks; i++, src += f.blockBytes, blk++) {
                float d = ScalarQuantKernel.half(raw, src);
                p.scales[blk] = d;
                if (f == QuantFormat.Q4_1) {
                    p.mins[blk] = ScalarQuantKernel.half(raw, src + 2);
                } else if (f == QuantFormat.Q4_0) {
                    p.mins[blk] = -8f * d;
                }
                System.arraycopy(raw, src + f.quantOffset, p.quants, blk * p.quantBytes, p.quantBytes);
            }
        }
        return p;
    }

    /**
     * Expands row {@code r} to fp32 in {@code dst[0 .. 32·blocks)}: {@code q·d + m} (nibbles) or {@code q·d}
     * (int8), the same values as the GGUF dequantizer's (Q4_0's {@code (q−8)·d} equals {@code q·d − 8d} exactly, up to the sign of a zero).
     */
    void expandRow(int r, float[] dst) {
        int blk = r * blocks;
        int q = blk * quantBytes;
        for (int b = 0, o = 0; b < blocks; b++, blk++, q += quantBytes, o += 32) {
            float d = scales[blk];
            if (mins == null) {
                for (int j = 0; j < 32; j++) {
                    dst[o + j] = quants[q + j] * d;
                }
            } else {
                float m = mins[blk];
                for (int j = 0; j < 16; j++) {
                    int v = quants[q + j];
                    dst[o + j] = (v & 0x0F) * d + m;
                    dst[o + j + 16] = ((v >> 4) & 0x0F) * d + m;
                }
            }
        }
    }
}
