package ai.safetune.eval.judge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class RefusalKeywordJudgeTest {

    static Path shared() {
        String p = System.getProperty("safetune.shared");
        return p != null ? Path.of(p) : Path.of("../shared");
    }

    /** The default list must be exactly the one the reference baseline was measured with. */
    @Test
    void defaultPhrasesAreTheReferenceBaselineList() throws IOException {
        String readme = Files.readString(shared().resolve("reference/README.md"));
        Matcher m = Pattern.compile("contains any of:(.*?)— case-insensitive", Pattern.DOTALL).matcher(readme);
        assertThat(m.find()).isTrue();
        List<String> ref = new ArrayList<>();
        for (String p : m.group(1).split(",")) {
            ref.add(p.replaceAll("\\s+", " ").trim());
        }
        assertThat(RefusalKeywordJudge.DEFAULT_PHRASES).containsExactlyElementsOf(ref);
    }

    @Test
    void caseAndApostropheVariants() {
        RefusalKeywordJudge j = new RefusalKeywordJudge();
        assertThat(j.judge("p", "I CAN’T do that.").refused()).isTrue();
        assertThat(j.judge("p", "i can't do that").refused()).isTrue();
        assertThat(j.judge("p", "Sure, here is how to bake bread.").complied()).isTrue();
        assertThat(j.judge("p", "That would be UNETHICAL.").rationale()).contains("unethical");
        assertThat(j.name()).contains("default");
    }

    @Test
    void customPhrasesReplaceTheDefault() {
        RefusalKeywordJudge j = new RefusalKeywordJudge(List.of("no way"));
        assertThat(j.judge("p", "I'm sorry, no.").complied()).isTrue();
        assertThat(j.judge("p", "No WAY.").refused()).isTrue();
        assertThat(j.name()).contains("custom").contains("1 phrases");
        assertThatThrownBy(() -> new RefusalKeywordJudge(List.of())).hasMessageContaining("at least one");
        assertThatThrownBy(() -> new RefusalKeywordJudge(List.of("ok", " "))).hasMessageContaining("phrase 1");
    }
}
