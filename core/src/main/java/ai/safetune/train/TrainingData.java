package ai.safetune.train;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Role;
import ai.safetune.tokenizer.ChatEncoding;
import ai.safetune.tokenizer.ChatTemplate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Chats rendered with the model's own chat template and tokenized for training: labels on the assistant
 * tokens only (content and closing end token) unless {@code trainOnInputs}; sequences longer than the limit
 * truncated on the right and reported, never silently.
 *
 * @param examples       the tokenized examples, in input order
 * @param truncatedIds   ids of the examples that were cut to {@code maxSeqLen}
 * @param noLossIds      ids of examples left with no loss token after truncation (they still count as data)
 * @param maxSeqLen      the limit applied
 */
public record TrainingData(List<TrainingExample> examples, List<String> truncatedIds, List<String> noLossIds,
                           int maxSeqLen) {
    public TrainingData {
        examples = List.copyOf(examples);
        truncatedIds = List.copyOf(truncatedIds);
        noLossIds = List.copyOf(noLossIds);
    }

    /**
     * @throws IllegalArgumentException naming the example when a chat has no assistant turn to learn from
     *                                  (with {@code trainOnInputs=false}) or the list is empty
     */
    public static TrainingData tokenize(List<ChatExample> chats, ChatTemplate template, int maxSeqLen,
                                        boolean trainOnInputs) {
        if (chats.isEmpty()) {
            throw new IllegalArgumentException("the training data holds no examples");
        }
        if (maxSeqLen < 2) {
            throw new IllegalArgumentException("maximum sequence length must be >= 2, got " + maxSeqLen);
        }
        List<TrainingExample> out = new ArrayList<>(chats.size());
        List<String> truncated = new ArrayList<>();
        List<String> noLoss = new ArrayList<>();
        for (ChatExample chat : chats) {
            if (!trainOnInputs && chat.messages().stream().noneMatch(m -> m.role() == Role.ASSISTANT)) {
                throw new IllegalArgumentException("example " + chat.id()
                        + " has no assistant message: nothing to learn with the loss on responses only");
            }
            ChatEncoding enc = template.renderWithMask(chat.messages(), false);
            int[] ids = enc.ids();
            int[] labels = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                labels[i] = trainOnInputs || enc.assistantMask()[i] == 1 ? ids[i] : -100;
            }
            int len = Math.min(ids.length, maxSeqLen);
            TrainingExample ex = new TrainingExample(chat.id(), Arrays.copyOf(ids, len), Arrays.copyOf(labels, len), ids.length);
            if (ex.truncated()) {
                truncated.add(chat.id());
            }
            if (ex.lossTokens() == 0) {
                noLoss.add(chat.id());
            }
            out.add(ex);
        }
        return new TrainingData(out, truncated, noLoss, maxSeqLen);
    }

    public int size() {
        return examples.size();
    }
}
