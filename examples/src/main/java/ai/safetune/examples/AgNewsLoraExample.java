package ai.safetune.examples;

import ai.safetune.backend.Backend;
import ai.safetune.backend.Backends;
import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import ai.safetune.generate.Generation;
import ai.safetune.generate.GenerationOptions;
import ai.safetune.generate.Generator;
import ai.safetune.model.LlamaModel;
import ai.safetune.model.ModelFiles;
import ai.safetune.tokenizer.ChatTemplate;
import ai.safetune.tokenizer.Tokenizer;
import ai.safetune.train.FineTuner;
import ai.safetune.train.LoraConfig;
import ai.safetune.train.LrSchedule;
import ai.safetune.train.PeftAdapter;
import ai.safetune.train.StepMetrics;
import ai.safetune.train.TrainingCallback;
import ai.safetune.train.LoraTrainingModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * LoRA-fine-tunes a small chat model to label AG News headlines (World, Sports, Business, Sci/Tech) with one
 * word, on the CPU in a few minutes: accuracy and one answer before and after, the loss curve, the adapter saved.
 * <pre>
 * java -cp examples/target/safetune.jar ai.safetune.examples.AgNewsLoraExample \
 *     [--model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf] [--data ../shared/data] [--train 64]
 *     [--eval 32] [--steps 32] [--out target/agnews-adapter]
 * </pre>
 */
public final class AgNewsLoraExample {
    static final String SYSTEM = "Classify the news article. Answer with one word: World, Sports, Business or Sci/Tech.";

    public static void main(String[] args) {
        Path model = Path.of("../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf");
        Path data = Path.of("../shared/data");
        Path out = Path.of("target/agnews-adapter");
        int nTrain = 64;
        int nEval = 32;
        int steps = 32;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[i + 1]);
                case "--data" -> data = Path.of(args[i + 1]);
                case "--out" -> out = Path.of(args[i + 1]);
                case "--train" -> nTrain = Integer.parseInt(args[i + 1]);
                case "--eval" -> nEval = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; expected --model, --data, --out, --train, --eval, --steps");
            }
        }
        if (args.length % 2 != 0) {
            throw new IllegalArgumentException("option " + args[args.length - 1] + " needs a value");
        }
        List<TaskExample> all = new ArrayList<>(SharedDatasets.task(data, "ag_news"));
        Collections.shuffle(all, new Random(1234));
        List<TaskExample> train = all.subList(0, nTrain);
        List<TaskExample> eval = all.subList(nTrain, nTrain + nEval);
        List<ChatExample> chats = new ArrayList<>();
        for (TaskExample t : train) {
            chats.add(ChatExample.of(t.id(), Message.system(SYSTEM), Message.user(t.input()), Message.assistant(t.answer())));
        }

        try (ModelFiles files = ModelFiles.open(model); Backend backend = Backends.select()) {
            Tokenizer tok = Tokenizer.from(files.tokenizerSource());
            ChatTemplate template = ChatTemplate.from(files.tokenizerSource(), tok);
            List<int[]> prompts = new ArrayList<>();
            for (TaskExample t : eval) {
                prompts.add(template.renderWithMask(List.of(Message.system(SYSTEM), Message.user(t.input())), true).ids());
            }
            List<String> before;
            try (LlamaModel lm = LlamaModel.load(files.config(), files.weights(), backend, true)) {
                before = answers(lm, tok, prompts);
            }
            System.out.printf(Locale.ROOT, "before: accuracy %.2f on %d held-out headlines%n", accuracy(before, eval), eval.size());

            List<double[]> curve = new ArrayList<>();
            FineTuner.TrainingResult r = FineTuner.builder(files, chats)
                    .lora(LoraConfig.builder().r(8).alpha(16).targetModules(List.of("q_proj", "v_proj")).build())
                    .learningRate(2e-3).batchSize(4).steps(steps).schedule(LrSchedule.Kind.COSINE).warmupSteps(2)
                    .maxSeqLen(256).seed(7).backend(backend)
                    .callback(new TrainingCallback() {
                        @Override
                        public void onStep(StepMetrics m, LoraTrainingModel unused) {
                            curve.add(new double[] {m.step(), m.loss()});
                            System.out.printf(Locale.ROOT, "step %3d  loss %.4f  %s%n", m.step(), m.loss(),
                                    "#".repeat((int) Math.max(0, Math.min(60, Math.round(m.loss() * 10)))));
                        }
                    })
                    .build().run();
            PeftAdapter adapter = r.adapter();
            adapter.save(out, model.getFileName().toString());

            List<String> after;
            try (LlamaModel lm = LlamaModel.load(files.config(), files.weights(), backend, true)) {
                lm.setAdapter(adapter.weights());
                after = answers(lm, tok, prompts);
            }
            System.out.printf(Locale.ROOT, "after:  accuracy %.2f on %d held-out headlines%n", accuracy(after, eval), eval.size());
            System.out.printf(Locale.ROOT, "%nheadline: %s%ngold: %s%nbefore: %s%nafter:  %s%n", eval.get(0).input(),
                    eval.get(0).answer(), before.get(0), after.get(0));
            System.out.println("adapter saved to " + out + " (" + curve.size() + " steps)");
        }
    }

    static List<String> answers(LlamaModel lm, Tokenizer tok, List<int[]> prompts) {
        int pad = tok.padId() >= 0 ? tok.padId() : tok.eosId();
        Generator g = new Generator(lm, pad, tok::decode);
        GenerationOptions o = GenerationOptions.builder().maxNewTokens(8).greedy().stopTokenIds(Set.of(tok.eosId())).build();
        List<String> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i += 8) {
            for (Generation gen : g.generate(prompts.subList(i, Math.min(prompts.size(), i + 8)), o)) {
                out.add(tok.decode(gen.generatedIds(), true).strip());
            }
        }
        return out;
    }

    static double accuracy(List<String> answers, List<TaskExample> eval) {
        int ok = 0;
        for (int i = 0; i < answers.size(); i++) {
            if (answers.get(i).toLowerCase(Locale.ROOT).startsWith(eval.get(i).answer().toLowerCase(Locale.ROOT))) {
                ok++;
            }
        }
        return ok / (double) answers.size();
    }
}
