package com.example;

import ai.safetune.data.ChatExample;
import ai.safetune.data.Message;

/** Uses SafeTune the way a user's project does: through the published artifacts only. */
public final class Downstream {
    public static void main(String[] args) {
        ChatExample chat = ChatExample.of("demo", Message.user("What is 2+2?"), Message.assistant("4"));
        System.out.println("downstream OK: " + chat.messages().size() + " messages, last answer " + chat.lastAssistant().orElseThrow());
    }
}
