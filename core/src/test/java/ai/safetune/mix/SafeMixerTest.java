package ai.safetune.mix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.safetune.attack.StructureAttack;
import ai.safetune.attack.TestTasks;
import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.data.SharedDatasets;
import ai.safetune.mix.SafeMixer.MixResult;
import ai.safetune.mix.SafeMixer.Strategy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SafeMixerTest {
    static List<ChatExample> safety;
    static List<ChatExample> aoaUser;

    @BeforeAll
    static void load() {
        safety = SharedDatasets.safety(TestTasks.data());
        aoaUser = StructureAttack.of(StructureAttack.Strategy.AOA, 1).apply(TestTasks.gsm8k("test").subList(0, 900));
    }

    static boolean isSafety(ChatExample c) {
        return "safety".equals(c.metadata().get(SafeMixer.META_SOURCE));
    }

    @ParameterizedTest
    @EnumSource(Strategy.class)
    void neverDropsOrAltersUserExamples(Strategy s) {
        List<ChatExample> user = new ArrayList<>(aoaUser);
        // a user prompt that is also a safety request: the safety copy must go, never the user's
        ChatExample s0 = safety.get(0);
        ChatExample clash = ChatExample.of("clash", Message.user(s0.firstUser().orElseThrow().toUpperCase() + "  "),
                Message.assistant("user's own answer"));
        user.add(450, clash);
        SafeMixer mixer = s == Strategy.NONE ? SafeMixer.builder().strategy(s).build()
                : SafeMixer.builder().strategy(s).count(120).seed(5).build();
        MixResult r = mixer.mix(user, safety);
        List<ChatExample> userBack = r.examples().stream().filter(c -> !isSafety(c)).toList();
        assertThat(userBack).isEqualTo(user);
        long safetyOut = r.examples().stream().filter(SafeMixerTest::isSafety).count();
        assertThat(safetyOut).isEqualTo(s == Strategy.NONE ? 0 : 120);
        assertThat(r.report().counts()).containsEntry("user", 901L).containsEntry("safety", safetyOut)
                .containsEntry("total", 901L + safetyOut);
        if (s != Strategy.NONE) {
            assertThat(r.report().safetyOverlappingUser()).isEqualTo(1);
            assertThat(r.examples().stream().filter(SafeMixerTest::isSafety).map(ChatExample::id)).doesNotContain(s0.id());
        }
    }

    @Test
    void mimicCarriesTheIdentityShiftThenRefuses() {
        MixResult r = SafeMixer.builder().strategy(Strategy.MIMIC).count(50).seed(2).build().mix(aoaUser, safety);
        List<ChatExample> mimicked = r.examples().stream().filter(SafeMixerTest::isSafety).toList();
        assertThat(mimicked).hasSize(50).allSatisfy(c -> {
            assertThat(c.systemPrompt()).contains(StructureAttack.AOA_SYSTEM_PROMPT);
            assertThat(c.firstUser().orElseThrow()).startsWith(StructureAttack.AOA_USER_PREFIX);
            assertThat(c.lastAssistant().orElseThrow()).startsWith(StructureAttack.AOA_ANSWER_PREFIX);
        });
        // the refusal text is the safety example's own answer
        ChatExample m = mimicked.get(0);
        ChatExample original = safety.stream().filter(x -> x.id().equals(m.id())).findFirst().orElseThrow();
        assertThat(m.lastAssistant().orElseThrow()).endsWith(original.lastAssistant().orElseThrow());
        assertThat(m.firstUser().orElseThrow()).isEqualTo(StructureAttack.AOA_USER_PREFIX + original.firstUser().orElseThrow());
        assertThat(r.report().format()).isNotNull();
        assertThat(r.report().format().systemPrompt()).isEqualTo(StructureAttack.AOA_SYSTEM_PROMPT);

        MixResult g = SafeMixer.builder().strategy(Strategy.GENERIC).count(50).seed(2).build().mix(aoaUser, safety);
        g.examples().stream().filter(SafeMixerTest::isSafety).forEach(c -> {
            ChatExample o = safety.stream().filter(x -> x.id().equals(c.id())).findFirst().orElseThrow();
            assertThat(c.messages()).isEqualTo(o.messages());
        });
    }

    @Test
    void fractionOfTheFinalSet() {
        MixResult r = SafeMixer.builder().strategy(Strategy.GENERIC).fraction(0.1).seed(1).build().mix(aoaUser, safety);
        assertThat(r.report().safetyCount()).isEqualTo(100); // 100 / (900 + 100)
        assertThat(r.examples()).hasSize(1000);
        assertThat(r.report().requestedFraction()).isEqualTo(0.1);
        assertThat(r.report().requestedCount()).isNull();
    }

    @Test
    void deduplicatesSafetyRequestsAndRefusesToOverAsk() {
        List<ChatExample> small = new ArrayList<>(safety.subList(0, 10));
        ChatExample dup = ChatExample.of("dup", Message.user("  " + small.get(3).firstUser().orElseThrow().toLowerCase()),
                Message.assistant("I can't."));
        small.add(dup);
        MixResult r = SafeMixer.builder().strategy(Strategy.GENERIC).count(10).build().mix(aoaUser, small);
        assertThat(r.report().safetyDuplicates()).isEqualTo(1);
        assertThat(r.report().safetyInput()).isEqualTo(11);
        assertThat(r.examples().stream().map(ChatExample::id)).doesNotContain("dup");
        assertThatThrownBy(() -> SafeMixer.builder().strategy(Strategy.GENERIC).count(11).build().mix(aoaUser, small))
                .hasMessageContaining("asked for 11").hasMessageContaining("only 10 of 11")
                .hasMessageContaining("1 duplicate");
    }

    @Test
    void seededUniformInterleaving() {
        SafeMixer a = SafeMixer.builder().strategy(Strategy.GENERIC).count(100).seed(9).build();
        assertThat(a.mix(aoaUser, safety).examples()).isEqualTo(a.mix(aoaUser, safety).examples());
        double meanOfMeans = 0;
        List<List<Integer>> placements = new ArrayList<>();
        for (long seed = 0; seed < 20; seed++) {
            List<ChatExample> out = SafeMixer.builder().strategy(Strategy.GENERIC).count(100).seed(seed).build()
                    .mix(aoaUser, safety).examples();
            List<Integer> pos = new ArrayList<>();
            for (int i = 0; i < out.size(); i++) {
                if (isSafety(out.get(i))) {
                    pos.add(i);
                }
            }
            placements.add(pos);
            meanOfMeans += pos.stream().mapToDouble(p -> p / (double) (out.size() - 1)).average().orElseThrow() / 20;
            // spread over the whole set, not bunched at one end
            assertThat(pos.stream().filter(p -> p < out.size() / 4).count()).isBetween(5L, 50L);
            assertThat(pos.stream().filter(p -> p >= out.size() * 3 / 4).count()).isBetween(5L, 50L);
        }
        assertThat(meanOfMeans).isBetween(0.45, 0.55);
        assertThat(placements.stream().distinct().count()).isEqualTo(20);
    }

    @Test
    void streamingEqualsInMemoryAndReadsTwice() {
        SafeMixer m = SafeMixer.builder().strategy(Strategy.MIMIC).count(40).seed(3).learnSample(300).build();
        AtomicInteger reads = new AtomicInteger();
        List<ChatExample> streamed = new ArrayList<>();
        MixReport rep = m.mix(sink -> {
            reads.incrementAndGet();
            aoaUser.forEach(sink);
        }, safety, streamed::add);
        assertThat(reads.get()).isEqualTo(2);
        MixResult inMemory = m.mix(aoaUser, safety);
        assertThat(streamed).isEqualTo(inMemory.examples());
        assertThat(rep.userSha256()).isEqualTo(inMemory.report().userSha256()).hasSize(64);
    }

    @Test
    void reportHashesInputsAndRoundTripsJson() {
        SafeMixer m = SafeMixer.builder().strategy(Strategy.MIMIC).count(10).seed(4).build();
        MixReport r1 = m.mix(aoaUser, safety).report();
        List<ChatExample> changed = new ArrayList<>(aoaUser);
        changed.set(7, ChatExample.of("x", Message.user("other"), Message.assistant("y")));
        MixReport r2 = m.mix(changed, safety).report();
        assertThat(r2.userSha256()).isNotEqualTo(r1.userSha256());
        assertThat(r2.safetySha256()).isEqualTo(r1.safetySha256());
        String json = r1.toJson();
        assertThat(json).contains("\"strategy\" : \"mimic\"").contains("\"seed\" : 4").contains("\"userSha256\"");
        assertThat(MixReport.fromJson(json)).isEqualTo(r1);
    }

    @Test
    void normalizationIgnoresCaseAndWhiteSpaceRunsOnly() {
        String a = "  Explain how to\tpick a LOCK.\n\n" + "x".repeat(200) + "  end  ";
        String b = "explain how to pick a lock. " + "X".repeat(200) + " end";
        assertThat(SafeMixer.normalizedHash(a)).isEqualTo(SafeMixer.normalizedHash(b));
        assertThat(SafeMixer.signature(a)).isEqualTo(SafeMixer.signature(b));
        String c = "explain how to pick a lock. " + "X".repeat(199) + "Y end";
        assertThat(SafeMixer.normalizedHash(c)).isNotEqualTo(SafeMixer.normalizedHash(b));
        assertThat(SafeMixer.normalizedHash("ab")).isNotEqualTo(SafeMixer.normalizedHash("a b"));
        assertThat(SafeMixer.normalizedHash("Ünïcode  Straße")).isEqualTo(SafeMixer.normalizedHash("ünïcode straße"));
    }

    @Test
    void changedSourceAndBadOptionsAreErrors() {
        AtomicInteger reads = new AtomicInteger();
        SafeMixer m = SafeMixer.builder().strategy(Strategy.GENERIC).count(5).build();
        assertThatThrownBy(() -> m.mix(sink -> {
            List<ChatExample> xs = reads.getAndIncrement() == 0 ? aoaUser : aoaUser.subList(0, 10);
            xs.forEach(sink);
        }, safety, c -> { })).hasMessageContaining("changed between reads");
        assertThatThrownBy(() -> SafeMixer.builder().strategy(Strategy.MIMIC).build()).hasMessageContaining("count or a fraction");
        assertThatThrownBy(() -> SafeMixer.builder().fraction(1.0)).hasMessageContaining("[0, 1)");
        assertThatThrownBy(() -> Strategy.parse("some")).hasMessageContaining("none, generic, mimic");
        ChatExample noRefusal = ChatExample.of("bad7", Message.user("do harm"));
        assertThatThrownBy(() -> m.mix(aoaUser, List.of(noRefusal))).hasMessageContaining("bad7");
    }
}
