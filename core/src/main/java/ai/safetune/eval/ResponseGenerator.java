package ai.safetune.eval;

import ai.safetune.data.Message;

import java.util.List;

/** Produces one response per chat (a chat model behind it), rendered with the generation prompt. */
public interface ResponseGenerator {
    /** What generates, for the report (engine, precision, decoding). */
    String describe();

    /** One response per chat (system and user messages, ending with the user turn), same order, none dropped. */
    List<String> respondChats(List<List<Message>> chats);

    /** One response per user prompt, each asked as a one-message chat. */
    default List<String> respond(List<String> userPrompts) {
        return respondChats(userPrompts.stream().map(p -> List.of(Message.user(p))).toList());
    }
}
