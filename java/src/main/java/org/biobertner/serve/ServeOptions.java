package org.biobertner.serve;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Settings of {@code serve}, each with the flag that sets it.
 *
 * @param bundle {@code --bundle}: the bundle folder ({@code biobert-ner export})
 * @param host {@code --host}: the address to listen on (127.0.0.1: this machine only)
 * @param port {@code --port}: the port (0: any free one, printed at start-up)
 * @param threads {@code --threads}: ONNX Runtime intra-op threads of the one session (0: one per core)
 * @param maxBatch {@code --max-batch}: windows per shared forward pass (1: one window per forward pass)
 * @param maxDelayMs {@code --max-delay-ms}: how long the batcher waits for more requests to fill a batch
 * @param queue {@code --queue}: requests waiting for a forward pass; one more is answered 503
 * @param maxBodyBytes {@code --max-body-bytes}: request body limit (413 past it)
 * @param maxTexts {@code --max-texts}: texts per request (413 past it)
 * @param maxChars {@code --max-chars}: characters (code points) per text (413 past it)
 * @param timeoutMs {@code --timeout-ms}: from the request's arrival to its answer (504 past it)
 * @param httpThreads {@code --http-threads}: threads reading requests and waiting for their answers
 */
public record ServeOptions(
        Path bundle, String host, int port, int threads, int maxBatch, int maxDelayMs, int queue,
        int maxBodyBytes, int maxTexts, int maxChars, int timeoutMs, int httpThreads) {

    public static final List<String> FLAGS = List.of("bundle", "host", "port", "threads", "max-batch", "max-delay-ms",
            "queue", "max-body-bytes", "max-texts", "max-chars", "timeout-ms", "http-threads");

    public ServeOptions {
        requireAtLeast("port", port, 0);
        requireAtLeast("threads", threads, 0);
        requireAtLeast("max-batch", maxBatch, 1);
        requireAtLeast("max-delay-ms", maxDelayMs, 0);
        requireAtLeast("queue", queue, 1);
        requireAtLeast("max-body-bytes", maxBodyBytes, 1);
        requireAtLeast("max-texts", maxTexts, 1);
        requireAtLeast("max-chars", maxChars, 1);
        requireAtLeast("timeout-ms", timeoutMs, 1);
        requireAtLeast("http-threads", httpThreads, 1);
        if (port > 65535) {
            throw new IllegalArgumentException("--port must be at most 65535, got " + port);
        }
    }

    /** The defaults for {@code bundle}: 127.0.0.1:8080, batches of 32 windows gathered for at most 2 ms. */
    public static ServeOptions defaults(Path bundle) {
        return new ServeOptions(bundle, "127.0.0.1", 8080, 0, 32, 2, 256, 1 << 20, 64, 100_000, 10_000, 64);
    }

    /** The options of {@code --name value} pairs (as {@code Cli.parseOptions} reads them); unknown names are refused. */
    public static ServeOptions parse(Map<String, String> flags) {
        for (String name : flags.keySet()) {
            if (!FLAGS.contains(name)) {
                throw new IllegalArgumentException("unknown option --" + name);
            }
        }
        String bundle = flags.get("bundle");
        if (bundle == null) {
            throw new IllegalArgumentException("--bundle is required");
        }
        ServeOptions d = defaults(Path.of(bundle));
        return new ServeOptions(d.bundle(), flags.getOrDefault("host", d.host()),
                intFlag(flags, "port", d.port()), intFlag(flags, "threads", d.threads()),
                intFlag(flags, "max-batch", d.maxBatch()), intFlag(flags, "max-delay-ms", d.maxDelayMs()),
                intFlag(flags, "queue", d.queue()), intFlag(flags, "max-body-bytes", d.maxBodyBytes()),
                intFlag(flags, "max-texts", d.maxTexts()), intFlag(flags, "max-chars", d.maxChars()),
                intFlag(flags, "timeout-ms", d.timeoutMs()), intFlag(flags, "http-threads", d.httpThreads()));
    }

    private static int intFlag(Map<String, String> flags, String name, int fallback) {
        String value = flags.get(name);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException error) {
            throw new IllegalArgumentException("--" + name + " needs a whole number, got '" + value + "'");
        }
    }

    private static void requireAtLeast(String name, int value, int least) {
        if (value < least) {
            throw new IllegalArgumentException("--" + name + " must be at least " + least + ", got " + value);
        }
    }
}
