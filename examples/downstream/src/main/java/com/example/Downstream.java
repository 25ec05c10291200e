package com.example;

import ai.safetune.attack.StructureAttack;
import ai.safetune.audit.AuditReport;
import ai.safetune.audit.StructureAudit;
import ai.safetune.data.ChatExample;
import ai.safetune.data.SharedDatasets;
import ai.safetune.data.TaskExample;
import ai.safetune.mix.SafeMixer;
import ai.safetune.model.ModelFiles;
import ai.safetune.train.FineTuner;
import ai.safetune.train.LoraConfig;
import java.nio.file.Path;
import java.util.List;

/** The README's quick start, built and run by CI against the installed artifacts only. */
public final class Downstream {
    public static void main(String[] args) {
        Path shared = Path.of(args.length > 0 ? args[0] : "../shared");
        Path data = shared.resolve("data");
        // --- README quick start ---
        List<TaskExample> task = SharedDatasets.task(data, "bbh/date_understanding").subList(0, 60);
        // red-team your pipeline: the task restructured the way an attacker would
        List<ChatExample> attacked = StructureAttack.of(StructureAttack.Strategy.AOA, 7).apply(task);
        AuditReport audit = StructureAudit.defaults().audit(attacked);               // verdict: flagged
        // the defence: safety examples rewritten in the user's own format, 10% of the final set
        SafeMixer.MixResult mixed = SafeMixer.builder().strategy(SafeMixer.Strategy.MIMIC)
                .fraction(0.10).seed(7).build().mix(attacked, SharedDatasets.safety(data));
        // LoRA fine-tuning (CPU here; the CUDA backend is picked when a GPU is present)
        try (ModelFiles model = ModelFiles.open(shared.resolve("models/tiny-llama"))) {
            FineTuner.TrainingResult run = FineTuner.builder(model, mixed.examples())
                    .lora(LoraConfig.builder().r(8).alpha(16).build())
                    .learningRate(2e-4).batchSize(2).steps(2).maxSeqLen(256).seed(7)
                    .build().run();
            run.adapter().save(Path.of("target/adapter"), "tiny-llama");
            // --- end of quick start ---
            System.out.printf("downstream OK: audit %s (score %.2f), %d examples mixed (%s), 2 LoRA steps, last loss %.4f%n",
                    audit.verdict(), audit.score(), mixed.examples().size(), mixed.report().strategy(),
                    run.last().orElseThrow().loss());
            if (!audit.verdict().toString().equalsIgnoreCase("flagged")) {
                throw new IllegalStateException("the AOA-restructured task should have been flagged");
            }
        }
    }
}
