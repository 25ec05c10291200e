/**
 * Tokenizers and chat templates, reproducing Hugging Face exactly.
 * <pre>
 * try (ModelFiles m = ModelFiles.open(Path.of("model.gguf"))) {       // or an HF model directory
 *     Tokenizer tok = Tokenizer.from(m.tokenizerSource());
 *     ChatTemplate chat = ChatTemplate.from(m.tokenizerSource(), tok);
 *     int[] ids = tok.encode("Hello world");                         // HF tokenizer(text)["input_ids"]
 *     String prompt = chat.render(List.of(Message.user("Hi")), true); // apply_chat_template(..., tokenize=False)
 *     ChatEncoding enc = chat.renderWithMask(conversation, false);    // ids + assistant mask for response-only loss
 * }
 * </pre>
 * {@link ai.safetune.tokenizer.Tokenizer} is byte-level BPE (GPT-2 family) built from {@code tokenizer.json}
 * or GGUF {@code tokenizer.ggml.*} metadata; {@link ai.safetune.tokenizer.ChatTemplate} renders the model's
 * own Jinja template with HubSpot Jinjava set up like HF's Jinja2. Known difference from Jinja2: booleans
 * print as {@code true}/{@code false} rather than {@code True}/{@code False} (no common chat template prints one).
 */
package ai.safetune.tokenizer;
