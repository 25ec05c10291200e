/**
 * Data model and I/O.
 *
 * <p>Value types: {@link ai.safetune.data.TaskExample} (a task example before any template),
 * {@link ai.safetune.data.ChatExample} (role/content messages), {@link ai.safetune.data.PromptRecord}
 * (one prompt of an evaluation set).
 *
 * <p>Readers: {@link ai.safetune.data.JsonlReader} (JSON Lines, streaming), {@link ai.safetune.data.JsonArrayReader}
 * (one JSON document), {@link ai.safetune.data.TableReader} (CSV/TSV with a header, mapped to task examples by a
 * {@link ai.safetune.data.TaskMapping}), {@link ai.safetune.data.ChatDatasets} (chat or alpaca records, detected per
 * record), {@link ai.safetune.data.TaskJsonl} (SafeTune's lossless JSONL form of task examples). Writers:
 * {@link ai.safetune.data.ChatJsonlWriter}, {@link ai.safetune.data.AlpacaJsonlWriter}, {@link ai.safetune.data.TaskJsonl#open}.
 * {@link ai.safetune.data.SharedDatasets} loads every dataset of the project's {@code shared/data} folder.
 *
 * <p>Bad input policy: every problem is a {@link ai.safetune.data.DataFormatException} naming the file, the
 * 1-based line, the field when one is to blame, what was expected and what was found. Strict reads (the
 * default) throw the first; lenient reads ({@link ai.safetune.data.ReadOptions}) return every good record and
 * every error. Nothing is skipped silently: the only input dropped without an error is trailing blank lines
 * (and a UTF-8 byte order mark). Text must be valid UTF-8 (or the charset asked for), lines at most
 * {@link ai.safetune.data.ReadOptions#maxLineBytes()} bytes; LF and CRLF endings are both accepted.
 */
package ai.safetune.data;
