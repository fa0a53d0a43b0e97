package org.biobertner.cli;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.biobertner.BundleException;
import org.biobertner.Entity;
import org.biobertner.Json;
import org.biobertner.NerModel;

/**
 * {@code java -jar biobert-ner-java.jar predict --bundle DIR [--input FILE] [--threads N] [--batch-size N]}
 *
 * <p>Reads text lines (UTF-8) from the file or standard input (a line ends at {@code \n},
 * {@code \r\n} or {@code \r}, like Python's universal newlines) and writes one JSON line per input
 * line: {@code {"text": ..., "entities": [{"type", "text", "start", "end", "score"}]}}, the schema of
 * {@code biobert-ner predict}, offsets in code points. {@code bench} runs {@link Bench}, {@code serve}
 * the HTTP service ({@link Serve}).
 */
public final class Cli {

    static final String USAGE = String.join("\n",
            "usage: java -jar biobert-ner-java.jar predict --bundle DIR [--input FILE] [--threads N] [--batch-size N]",
            "       java -jar biobert-ner-java.jar bench --bundle DIR --input FILE [--threads N] [--batch-sizes 1,8,32] [--repeat N]",
            "       java -jar biobert-ner-java.jar serve --bundle DIR [--host 127.0.0.1] [--port 8080] [--threads N] [--max-batch 32]",
            "           [--max-delay-ms 2] [--queue 256] [--max-body-bytes 1048576] [--max-texts 64] [--max-chars 100000] [--timeout-ms 10000]",
            "  predict: one JSON line {\"text\", \"entities\"} per input line (stdin when --input is not given)");

    /** How many lines are predicted together (their windows share forward passes). */
    static final int LINES_PER_CHUNK = 64;

    private Cli() {}

    public static void main(String[] args) {
        System.exit(run(args, System.in, System.out, System.err));
    }

    /** The command line without {@code System.exit}: 0 success, 1 error, 2 usage error. */
    public static int run(String[] args, java.io.InputStream stdin, PrintStream stdout, PrintStream stderr) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            (args.length == 0 ? stderr : stdout).println(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        String command = args[0];
        Map<String, String> options;
        try {
            options = parseOptions(args, 1);
        } catch (IllegalArgumentException error) {
            stderr.println("error: " + error.getMessage() + "\n" + USAGE);
            return 2;
        }
        try {
            return switch (command) {
                case "predict" -> predict(options, stdin, stdout);
                case "bench" -> Bench.run(options, stdout);
                case "serve" -> Serve.run(options);
                default -> {
                    stderr.println("error: unknown command '" + command + "'\n" + USAGE);
                    yield 2;
                }
            };
        } catch (IllegalArgumentException error) {
            stderr.println("error: " + error.getMessage() + "\n" + USAGE);
            return 2;
        } catch (BundleException error) {
            stderr.println("error: bad bundle: " + error.getMessage());
            return 1;
        } catch (IOException error) {
            stderr.println("error: " + error);
            return 1;
        }
    }

    /** {@code --name value} pairs after {@code start}; every option takes a value. */
    static Map<String, String> parseOptions(String[] args, int start) {
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = start; i < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + args[i] + "'");
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + args[i] + " needs a value");
            }
            options.put(args[i].substring(2), args[i + 1]);
        }
        return options;
    }

    static NerModel.Options modelOptions(Map<String, String> options) {
        NerModel.Options defaults = NerModel.Options.defaults();
        return new NerModel.Options(
                intOption(options, "threads", defaults.threads()), intOption(options, "batch-size", defaults.batchSize()));
    }

    static int intOption(Map<String, String> options, String name, int fallback) {
        String value = options.get(name);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException error) {
            throw new IllegalArgumentException("--" + name + " needs a whole number, got '" + value + "'");
        }
    }

    static Path requiredPath(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return Path.of(value);
    }

    static void checkKnown(Map<String, String> options, List<String> known) {
        for (String name : options.keySet()) {
            if (!known.contains(name)) {
                throw new IllegalArgumentException("unknown option --" + name);
            }
        }
    }

    private static int predict(Map<String, String> options, java.io.InputStream stdin, PrintStream stdout) throws IOException {
        checkKnown(options, List.of("bundle", "input", "threads", "batch-size"));
        Path bundle = requiredPath(options, "bundle");
        NerModel.Options modelOptions = modelOptions(options);
        Writer writer = new BufferedWriter(new OutputStreamWriter(stdout, StandardCharsets.UTF_8));
        // The input is opened first (a missing file is reported before a bad bundle) and closed
        // whatever happens next, a bundle that fails to load included.
        try (BufferedReader reader = openInput(options, stdin); NerModel model = NerModel.load(bundle, modelOptions)) {
            List<String> chunk = new ArrayList<>();
            String line;
            while ((line = reader.readLine()) != null) {
                chunk.add(line);
                if (chunk.size() == LINES_PER_CHUNK) {
                    writePredictions(model, chunk, writer);
                    chunk.clear();
                }
            }
            writePredictions(model, chunk, writer);
        } finally {
            writer.flush();
        }
        return 0;
    }

    private static BufferedReader openInput(Map<String, String> options, java.io.InputStream stdin) throws IOException {
        return options.containsKey("input")
                ? Files.newBufferedReader(Path.of(options.get("input")), StandardCharsets.UTF_8)
                : new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8));
    }

    private static void writePredictions(NerModel model, List<String> lines, Writer writer) throws IOException {
        if (lines.isEmpty()) {
            return;
        }
        List<List<Entity>> predictions = model.predictBatch(lines);
        for (int i = 0; i < lines.size(); i++) {
            writer.write(Json.predictionLine(lines.get(i), predictions.get(i)));
            writer.write('\n');
        }
        writer.flush();
    }
}
