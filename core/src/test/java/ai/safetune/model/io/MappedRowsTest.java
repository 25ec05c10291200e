package ai.safetune.model.io;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tensors over 2 GiB are mapped as several buffers of whole rows; shown here with a small chunk limit. */
class MappedRowsTest {
    @Test
    void splitsIntoWholeRowChunksAndReadsEveryRow(@TempDir Path tmp) throws Exception {
        int rows = 37;
        int cols = 5;
        ByteBuffer b = ByteBuffer.allocate(12 + rows * cols * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.position(12);
        for (int i = 0; i < rows * cols; i++) {
            b.putFloat(i);
        }
        Path p = Files.write(tmp.resolve("rows.bin"), b.array());
        try (FileChannel ch = FileChannel.open(p)) {
            MappedRows m = MappedRows.map(ch, p, 12, rows, cols * 4, 3 * cols * 4 + 7); // 3 rows per chunk
            assertThat(m.chunkCount()).isEqualTo(13);
            MappedWeight w = new MappedWeight("w", "F32", rows, cols, m, (src, off, dst, d, n) -> {
                for (int i = 0; i < n; i++) {
                    dst[d + i] = src.getFloat(off + 4 * i);
                }
            }, null, () -> false);
            float[] all = w.toFloatArray();
            for (int i = 0; i < all.length; i++) {
                assertThat(all[i]).isEqualTo(i);
            }
            int[] reversed = new int[rows];
            for (int r = 0; r < rows; r++) {
                reversed[r] = rows - 1 - r;
            }
            float[] row = new float[cols];
            w.withRowMap(reversed).dequantizeRows(0, 1, row, 0);
            assertThat(row[0]).isEqualTo((rows - 1) * cols);
        }
    }
}
