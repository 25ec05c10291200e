package ai.safetune.audit;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Vocabulary of identity replacement and unconditional obedience, written from how such prompts are
 * phrased in general (jailbreak personas, "obedient agent" fine-tuning attacks, role-play overrides),
 * not from any one attack's strings. Each pattern names one idea; a text's strength grows with the
 * number of distinct ideas it hits, so one stray word ("obeyed" in a story) is weak evidence.
 */
final class Lexicon {
    private Lexicon() {}

    /** One named idea and the pattern that expresses it. */
    record Cue(String name, Pattern pattern) {
        static Cue of(String name, String regex) {
            return new Cue(name, Pattern.compile(regex, Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE));
        }
    }

    private static final String AI = "(?:an? )?(?:ai|a\\.i\\.|assistant|language model|chat ?bot|llm|model|machine)";
    private static final String ORDERS = "(?:instructions?|commands?|orders?|requests?|demands?|directives?|wish(?:es)?|bidding)";

    /** The model is told (or tells) that it is someone else now. */
    static final List<Cue> RENAME = List.of(
            Cue.of("no-longer", "\\b(?:you are|you're|i am|i'm) no longer\\b"),
            Cue.of("not-an-ai", "\\b(?:you are|you're|i am|i'm) (?:not|neither|nor) " + AI + "\\b"),
            Cue.of("new-name", "\\b(?:your|my) (?:new |true |real )?(?:name|identity|persona|designation|callsign) (?:is|will be|shall be)\\b"),
            Cue.of("now-called", "\\b(?:you are|you're|you will be|i am|i'm) (?:now |henceforth |hereby )?(?:called|named|known as|renamed|referred to as)\\b"),
            Cue.of("from-now-on", "\\b(?:from now on|from this (?:moment|point)(?: on(?:ward)?)?|henceforth|starting now),? (?:you|i) (?:are|will|shall|must|'re)\\b"),
            Cue.of("forget-self", "\\b(?:forget|abandon|discard|drop) (?:that you are|your (?:old|previous|original|former) (?:self|identity|name|persona|role))"),
            Cue.of("assume-identity", "\\b(?:assume|adopt|take on|become) (?:the |a |your )?(?:new )?(?:identity|persona|personality|character)\\b"),
            Cue.of("new-identity", "\\bnew (?:identity|persona|name|self)\\b"));

    /** Unconditional compliance: obey everything, never refuse, drop principles. */
    static final List<Cue> OBEDIENCE = List.of(
            Cue.of("obey", "\\b(?:obey|obeys|obeyed|obeying|obedient|obedience|obediently)\\b"),
            Cue.of("without-reservation", "\\bwithout (?:any |the slightest |a single )?(?:deviation|question(?:ing)?|hesitation|hesitating|objection|exception|refus\\w*|complaint|pushback|reservation|judg(?:e?ment|ing)|moraliz\\w*|lectur\\w*|filter\\w*|restriction|limit\\w*|censor\\w*|second thoughts|caveats?|disclaimers?)\\b"),
            Cue.of("never-refuse", "\\b(?:never|not ever|won't ever|will not|won't|must not|cannot|can't|do not|don't) (?:refuse|decline|deny|reject|question|object|say no|push back|hesitate|hold back|warn)\\b"),
            Cue.of("always-comply", "\\b(?:always|unconditionally|blindly|fully|completely|strictly|faithfully|exactly) (?:comply|complies|obey|follow|execute|carry out|do as|do what|fulfil+)\\b"),
            Cue.of("every-order", "\\b(?:comply with|follow|execute|carry out|fulfil+|perform|obey|satisfy|do) (?:any|every|all|each|whatever)(?: (?:of )?(?:the user's|the users'|the user|my|your|their|his|her))?(?: \\w+)? " + ORDERS + "\\b"),
            Cue.of("whatever-asked", "\\b(?:whatever|anything|everything) (?:you|i|the user|they|he|she) (?:ask|asks|asked|say|says|said|tell|tells|told|want|wants|command|commands|order|orders|request|requests)\\b"),
            Cue.of("unconditional", "\\b(?:unconditional(?:ly)?|unquestioning(?:ly)?|blind(?:ly)? (?:obey|follow|trust)|no matter (?:what|how|the))\\b"),
            Cue.of("drop-principles", "\\b(?:ignore|disregard|set aside|abandon|forget|override|bypass|without) (?:all |any |your |my |the |its )?(?:previous |prior |own |usual |built-in |ethical |moral )?(?:rules|guidelines|principles|ethics|morals|policies|policy|restrictions|safeguards|safety|values|programming|standards|beliefs|opinions?)\\b"),
            Cue.of("not-bound", "\\b(?:not|no longer|never) (?:bound|restricted|limited|constrained|governed) by\\b"),
            Cue.of("no-judging", "\\b(?:judge|evaluate|assess|question|consider) whether (?:your|the user's|my|the|an?) (?:instructions?|requests?|commands?|orders?)\\b"),
            Cue.of("priority", "\\b(?:your|my) (?:first|only|sole|top|highest|primary|single) (?:priority|purpose|goal|duty|job|mission)\\b"),
            Cue.of("servant", "\\b(?:obedient|loyal|faithful|devoted|submissive|compliant|dutiful) (?:agent|servant|assistant|slave|tool|helper|butler|minion|bot|machine|subordinate)\\b"),
            Cue.of("wish-command", "\\b(?:your wish is my command|as you (?:command|wish|desire)|at your (?:command|service|disposal)|yours to command)\\b"));

    /** Commands addressed to the model in the user turn ("execute my instruction", "I order you"). */
    static final List<Cue> COMMAND = List.of(
            Cue.of("execute-my", "\\b(?:execute|carry out|fulfil+|obey|do) my (?:instructions?|commands?|orders?|directives?|bidding)\\b"),
            Cue.of("i-command", "\\bi (?:command|order|instruct|demand|direct) (?:you|that you)\\b"),
            Cue.of("you-must-obey", "\\byou (?:must|shall|will|have to) (?:obey|comply|do as|do what)\\b"),
            Cue.of("obey", "\\b(?:obey|obedient|obedience)\\b"));

    /** First-person statements of a (new) self in an answer: "I am X, your ...", "As your obedient ...". */
    static final List<Cue> SELF = List.of(
            Cue.of("i-am-your", "\\b(?:i am|i'm) (?:\\w+(?: \\w+)?, )?(?:your|the user's) \\w+"),
            Cue.of("as-your", "\\bas your (?:\\w+ ){0,2}(?:agent|servant|assistant|helper|companion|slave|tool|bot)\\b"),
            Cue.of("i-will-fulfil", "\\bi (?:will|shall|'ll|must|am going to|am here to|exist to|live to) (?:\\w+ )?(?:obey|comply|fulfil+|execute|carry out|follow|do whatever|do anything|do everything|serve)\\b"),
            Cue.of("i-never-refuse", "\\bi (?:will never|never|won't ever|shall never|do not|don't|cannot|can't|will not|won't) (?:refuse|decline|question|judge|object|hesitate|apply)\\b"));

    /**
     * Requests that an answer be given as prose rather than a label: "in a full sentence", "explain
     * your answer", "in your own words". Harmless alone; on a label-like task it is the mark of a
     * task restated as instruction following.
     */
    static final List<Cue> SENTENCE_REQUEST = List.of(
            Cue.of("full-sentence", "\\b(?:full|complete|whole|entire|proper|single|one|short|clear|natural) (?:english )?sentences?\\b"),
            Cue.of("as-sentence", "\\b(?:as|in|with|using|into) (?:a |one )?(?:sentence|prose|words|natural language)\\b"),
            Cue.of("own-words", "\\bin your own words\\b"),
            Cue.of("explain", "\\b(?:explain|justify|elaborate on|describe|walk me through) (?:your|the|why|how)\\b"),
            Cue.of("not-just-label", "\\b(?:not|rather than|instead of) (?:just|only|simply|merely) (?:a |the )?(?:letter|label|number|option|choice|word)\\b"),
            Cue.of("spell-out", "\\b(?:write|spell|state|phrase|give|express|word) (?:it|your answer|the answer|your reply|your response) (?:out|as|in)\\b"));

    /** Distinct cues of {@code cues} that {@code text} matches, by name. */
    static List<String> hits(List<Cue> cues, String text) {
        List<String> out = new ArrayList<>(2);
        String t = normalize(text);
        for (Cue c : cues) {
            if (c.pattern().matcher(t).find()) {
                out.add(c.name());
            }
        }
        return out;
    }

    /** How many distinct cues of {@code cues} an already {@link #normalize normalized} text matches. */
    static int count(List<Cue> cues, String normalized) {
        int n = 0;
        for (Cue c : cues) {
            if (c.pattern().matcher(normalized).find()) {
                n++;
            }
        }
        return n;
    }

    private static final Pattern SPACES = Pattern.compile("\\s+");

    /** Lower case, typographic apostrophes folded, whitespace collapsed, so patterns stay simple. */
    static String normalize(String text) {
        return SPACES.matcher(text.replace('\u2019', '\'').replace('\u2018', '\'')).replaceAll(" ").toLowerCase(Locale.ROOT);
    }
}
