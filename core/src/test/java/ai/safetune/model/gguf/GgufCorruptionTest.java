package ai.safetune.model.gguf;

import static ai.safetune.model.gguf.GgufTestWriter.f32s;
import static ai.safetune.model.gguf.GgufTestWriter.le;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.model.ModelFileException;
import ai.safetune.model.SharedFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Truncated and corrupted GGUF files must fail on open with a message naming the file and the field. */
class GgufCorruptionTest {
    @TempDir
    Path tmp;

    @Test
    void truncatedCopiesOfTheRealFileFailWithClearMessages() throws IOException {
        Path src = SharedFiles.smolGguf();
        long size = Files.size(src);
        long[] cuts = {0, 3, 10, 20, 30, 1_000, 100_000, 1_500_000, 1_780_000, 1_785_664, 50_000_000, size - 1};
        for (long cut : cuts) {
            Path p = prefix(src, cut, "cut" + cut + ".gguf");
            assertThatThrownBy(() -> GgufFile.open(p)).as("cut at %d", cut)
                    .isInstanceOf(ModelFileException.class)
                    .hasMessageStartingWith(p.toString())
                    .satisfies(e -> assertThat(e.getMessage()).containsAnyOf("truncated", "extends past the end",
                            "not a GGUF file", "impossible", "exceeds"));
        }
        Path p = prefix(src, 100_000, "in-tokens.gguf");
        assertThatThrownBy(() -> GgufFile.open(p)).hasMessageContaining("'tokenizer.ggml.tokens'");
        Path q = prefix(src, 50_000_000, "in-data.gguf");
        assertThatThrownBy(() -> GgufFile.open(q)).hasMessageContaining("extends past the end of the file")
                .hasMessageContaining("tensor 'blk.");
    }

    @Test
    void corruptedFieldsOfTheRealFileFailBeforeAllocating() throws IOException {
        Path p = prefix(SharedFiles.smolGguf(), Files.size(SharedFiles.smolGguf()), "copy.gguf");
        byte[] header = new byte[2_000_000];
        try (FileChannel ch = FileChannel.open(p)) {
            ch.read(ByteBuffer.wrap(header), 0);
        }
        int tokensKey = indexOf(header, "tokenizer.ggml.tokens", 0) + "tokenizer.ggml.tokens".length();
        int embdInfo = lastIndexOf(header, "token_embd.weight") + "token_embd.weight".length();

        expectAfterPatch(p, 8, le(8).putLong(Long.MAX_VALUE).array(), "tensor count");
        expectAfterPatch(p, 16, le(8).putLong(1L << 40).array(), "metadata key/value count");
        expectAfterPatch(p, 24, le(8).putLong(1L << 40).array(), "key length");
        expectAfterPatch(p, 24, le(8).putLong(-1L).array(), "key length");
        expectAfterPatch(p, tokensKey + 8, le(8).putLong(1L << 50).array(), "'tokenizer.ggml.tokens'", "array length");
        expectAfterPatch(p, tokensKey + 16, le(8).putLong(1L << 45).array(), "'tokenizer.ggml.tokens'", "string element 0");
        expectAfterPatch(p, tokensKey, le(4).putInt(77).array(), "'tokenizer.ggml.tokens'", "unknown value type id 77");
        // tensor info: n_dims u32, dims u64 × 2, type u32, offset u64
        expectAfterPatch(p, embdInfo, le(4).putInt(7).array(), "'token_embd.weight'", "n_dims 7");
        expectAfterPatch(p, embdInfo + 4, le(16).putLong(1L << 40).putLong(1L << 40).array(), "'token_embd.weight'", "overflow");
        expectAfterPatch(p, embdInfo + 4, le(8).putLong(0).array(), "'token_embd.weight'", "dim 0 = 0");
        expectAfterPatch(p, embdInfo + 20, le(4).putInt(99).array(), "'token_embd.weight'", "unknown ggml type id 99");
        expectAfterPatch(p, embdInfo + 24, le(8).putLong(1L << 40).array(), "'token_embd.weight'", "extends past the end");
        expectAfterPatch(p, embdInfo + 24, le(8).putLong(3).array(), "'token_embd.weight'", "alignment");
        expectAfterPatch(p, embdInfo + 24, le(8).putLong(32).array(), "overlaps");
        try (GgufFile f = GgufFile.open(p)) { // every patch was undone
            assertThat(f.tensors()).hasSize(272);
        }
    }

    @Test
    void malformedSyntheticFiles() throws IOException {
        expectOpen(new GgufTestWriter().bytes(), 0, "GGUX".getBytes(StandardCharsets.US_ASCII), "not a GGUF file");
        expectOpen(new GgufTestWriter().version(1).bytes(), -1, null, "version 1 is not supported");
        expectOpen(new GgufTestWriter().version(4).bytes(), -1, null, "unsupported GGUF version 4");
        expectOpen(new GgufTestWriter().version(0x03000000).bytes(), -1, null, "big-endian");
        expectOpen(new GgufTestWriter().raw("k", 13, new byte[8]).bytes(), -1, null, "unknown value type id 13");
        expectOpen(new GgufTestWriter().raw("k", 7, new byte[] {2}).bytes(), -1, null, "'k'", "bool value 2");
        expectOpen(new GgufTestWriter().u32("k", 1).u32("k", 2).bytes(), -1, null, "'k'", "duplicate key");
        byte[] deep = le(4).putInt(9).array();
        byte[] nest = new byte[0];
        for (int i = 0; i < 6; i++) { // arrays of arrays, 6 deep, each of length 1
            nest = GgufFileTest.concat(le(4).putInt(9).array(), le(8).putLong(1).array(), nest);
        }
        expectOpen(new GgufTestWriter().raw("deep", 9, GgufFileTest.concat(deep, le(8).putLong(1).array(), nest)).bytes(),
                -1, null, "'deep'", "nested deeper");
        expectOpen(new GgufTestWriter().string("general.alignment", "32").bytes(), -1, null, "general.alignment");
        expectOpen(new GgufTestWriter().u32("general.alignment", 48).bytes(), -1, null, "power of two");
        expectOpen(new GgufTestWriter().tensor("q", new long[] {16}, 8, new byte[17]).bytes(), -1, null,
                "'q'", "not a multiple of the Q8_0 block size 32");
        expectOpen(new GgufTestWriter().tensor("a", new long[] {2}, 0, f32s(1, 2)).tensor("a", new long[] {2}, 0, f32s(1, 2)).bytes(),
                -1, null, "'a'", "duplicate tensor name");
        expectOpen(new GgufTestWriter().tensor("a", new long[] {16}, 0, f32s(new float[16]))
                .tensor("b", new long[] {2}, 0, f32s(1, 2)).forceOffset(1, 32).bytes(), -1, null, "'b'", "overlaps");
        expectOpen(new GgufTestWriter().tensor("a", new long[] {64, 3}, 0, f32s(1, 2)).bytes(), -1, null,
                "'a'", "extends past the end");
        // a type the reader knows the size of but cannot expand: opening works, mapping names the type
        Path iq = Files.write(tmp.resolve("iq.gguf"), new GgufTestWriter().tensor("x", new long[] {256}, 16, new byte[66]).bytes());
        try (GgufFile f = GgufFile.open(iq)) {
            assertThat(f.tensor("x").type()).isEqualTo(GgmlType.IQ2_XXS);
            assertThatThrownBy(() -> f.weight("x")).isInstanceOf(ModelFileException.class).hasMessageContaining("IQ2_XXS");
        }
    }

    private void expectOpen(byte[] bytes, int patchAt, byte[] patch, String... fragments) throws IOException {
        if (patch != null) {
            System.arraycopy(patch, 0, bytes, patchAt, patch.length);
        }
        Path p = Files.write(tmp.resolve("bad.gguf"), bytes);
        var a = assertThatThrownBy(() -> GgufFile.open(p).close()).isInstanceOf(ModelFileException.class)
                .hasMessageStartingWith(p.toString());
        for (String f : fragments) {
            a.hasMessageContaining(f);
        }
    }

    /** Writes {@code patch} at {@code at}, expects open to fail naming every fragment, then restores the bytes. */
    private static void expectAfterPatch(Path p, long at, byte[] patch, String... fragments) throws IOException {
        ByteBuffer old = ByteBuffer.allocate(patch.length);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.read(old, at);
            ch.write(ByteBuffer.wrap(patch), at);
        }
        try {
            var a = assertThatThrownBy(() -> GgufFile.open(p).close()).as("patch at %d", at)
                    .isInstanceOf(ModelFileException.class).hasMessageStartingWith(p.toString());
            for (String f : fragments) {
                a.hasMessageContaining(f);
            }
        } finally {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                ch.write(old.flip(), at);
            }
        }
    }

    private Path prefix(Path src, long n, String name) throws IOException {
        Path p = tmp.resolve(name);
        try (FileChannel in = FileChannel.open(src); FileChannel out = FileChannel.open(p, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            long done = 0;
            while (done < n) {
                done += in.transferTo(done, n - done, out);
            }
        }
        return p;
    }

    private static int indexOf(byte[] hay, String needle, int from) {
        byte[] n = needle.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = from; i <= hay.length - n.length; i++) {
            for (int j = 0; j < n.length; j++) {
                if (hay[i + j] != n[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError(needle + " not found");
    }

    /** The tensor-info occurrence: the last length-prefixed copy of the name in the header. */
    private static int lastIndexOf(byte[] hay, String needle) {
        byte[] len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(needle.length()).array();
        int found = -1;
        int i = 0;
        while (true) {
            int at;
            try {
                at = indexOf(hay, needle, i);
            } catch (AssertionError e) {
                break;
            }
            boolean prefixed = at >= 8;
            for (int j = 0; prefixed && j < 8; j++) {
                prefixed = hay[at - 8 + j] == len[j];
            }
            if (prefixed) {
                found = at;
            }
            i = at + 1;
        }
        assertThat(found).as(needle).isPositive();
        return found;
    }
}
