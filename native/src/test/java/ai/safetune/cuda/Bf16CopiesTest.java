package ai.safetune.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The bookkeeping of the bf16 copies (no GPU needed): lookup, invalidation by overlapping writes, capacity. */
class Bf16CopiesTest {
    private final List<String> released = new ArrayList<>();
    private final Bf16Copies<String> copies = new Bf16Copies<>(3, released::add);

    @Test
    void findsACopyOfAtLeastTheRequestedLengthAtItsExactSource() {
        copies.put(1000, 64, "h");
        assertThat(copies.find(1000, 64)).isEqualTo("h");
        assertThat(copies.find(1000, 10)).as("a prefix").isEqualTo("h");
        assertThat(copies.find(1000, 65)).as("longer than the copy").isNull();
        assertThat(copies.find(1004, 10)).as("another start").isNull();
        assertThat(released).isEmpty();
    }

    @Test
    void aWriteOverlappingTheSourceDropsTheCopyAndReleasesItsBuffer() {
        copies.put(1000, 64, "h");    // bytes [1000, 1256)
        copies.put(2000, 16, "act");  // bytes [2000, 2064)
        copies.written(1256, 100);    // just past h
        copies.written(900, 100);     // just before h
        assertThat(copies.size()).isEqualTo(2);
        copies.written(1252, 4);      // h's last float
        assertThat(copies.find(1000, 1)).isNull();
        assertThat(copies.find(2000, 16)).isEqualTo("act");
        assertThat(released).containsExactly("h");
        copies.written(0, 1 << 20);   // covers act
        assertThat(copies.size()).isZero();
        assertThat(released).containsExactly("h", "act");
    }

    @Test
    void aNewCopyOfTheSameSourceReplacesTheOldOne() {
        copies.put(1000, 64, "h1");
        copies.put(1000, 64, "h2");
        assertThat(copies.find(1000, 64)).isEqualTo("h2");
        assertThat(copies.size()).isEqualTo(1);
        assertThat(released).containsExactly("h1");
    }

    @Test
    void beyondCapacityTheOldestCopyGoes() {
        copies.put(1000, 8, "a");
        copies.put(2000, 8, "b");
        copies.put(3000, 8, "c");
        copies.put(4000, 8, "d");
        assertThat(copies.find(1000, 8)).isNull();
        assertThat(copies.find(4000, 8)).isEqualTo("d");
        assertThat(released).containsExactly("a");
        copies.clear();
        assertThat(copies.size()).isZero();
        assertThat(released).containsExactly("a", "b", "c", "d");
    }

    @Test
    void releaseMayReenterTheBookkeeping() {
        // the backend's release closes a buffer, and closing reports the freed range as written
        List<String> seen = new ArrayList<>();
        Bf16Copies<String>[] self = new Bf16Copies[1];
        self[0] = new Bf16Copies<>(2, b -> {
            seen.add(b);
            self[0].written(1 << 30, 64);
        });
        self[0].put(1000, 8, "a");
        self[0].put(2000, 8, "b");
        self[0].clear();
        assertThat(seen).containsExactly("a", "b");
    }

    @Test
    void rejectsNonsense() {
        assertThatThrownBy(() -> new Bf16Copies<String>(0, b -> { })).hasMessageContaining("capacity");
        assertThatThrownBy(() -> copies.put(1000, 0, "x")).hasMessageContaining("elements");
        assertThatThrownBy(() -> copies.put(1000, 8, null)).hasMessageContaining("buffer");
    }
}
