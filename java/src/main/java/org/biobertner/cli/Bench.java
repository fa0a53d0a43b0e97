package org.biobertner.cli;

import ai.onnxruntime.OrtEnvironment;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.biobertner.DocumentEncoding;
import org.biobertner.Entity;
import org.biobertner.Json;
import org.biobertner.NerModel;

/**
 * Latency and throughput of {@link NerModel} on the lines of a file, printed as one JSON object
 * (compared with Python by {@code benchmarks/bench_java.py}).
 *
 * <pre>
 * java -cp biobert-ner-java.jar org.biobertner.cli.Bench --bundle DIR --input FILE [--threads N]
 *     [--batch-sizes 1,8,32] [--repeat N] [--entities-out FILE]
 * </pre>
 *
 * <ul>
 *   <li>latency: each text alone ({@code predict(text)}, batch 1), milliseconds per text over
 *       {@code repeat} passes after one warm-up pass;
 *   <li>throughput: all texts in one {@code predictBatch} call, windows batched {@code batch size} at a
 *       time, texts per second, the best of {@code repeat} runs, for each batch size (on a CPU the
 *       largest batch is not always the fastest: activations of big batches fall out of the caches).
 * </ul>
 */
public final class Bench {

    private Bench() {}

    public static void main(String[] args) {
        String[] withCommand = new String[args.length + 1];
        withCommand[0] = "bench";
        System.arraycopy(args, 0, withCommand, 1, args.length);
        System.exit(Cli.run(withCommand, System.in, System.out, System.err));
    }

    static int run(Map<String, String> options, PrintStream stdout) throws IOException {
        Cli.checkKnown(options, List.of("bundle", "input", "threads", "batch-sizes", "repeat", "entities-out"));
        Path bundle = Cli.requiredPath(options, "bundle");
        Path input = Cli.requiredPath(options, "input");
        int repeat = Cli.intOption(options, "repeat", 3);
        int threads = Cli.intOption(options, "threads", 0);
        List<Integer> batchSizes = new ArrayList<>();
        for (String size : options.getOrDefault("batch-sizes", "32").split(",")) {
            batchSizes.add(Cli.intOption(Map.of("batch-sizes", size.trim()), "batch-sizes", 32));
        }
        List<String> texts = Files.readAllLines(input, StandardCharsets.UTF_8);
        if (texts.isEmpty()) {
            throw new IllegalArgumentException(input + " has no lines");
        }

        JsonObject result = new JsonObject();
        result.addProperty("runtime", "java onnxruntime");
        result.addProperty("java", System.getProperty("java.version"));
        result.addProperty("onnxruntime", OrtEnvironment.getEnvironment().getVersion());
        result.addProperty("bundle", bundle.toString());
        result.addProperty("threads", threads);
        result.addProperty("texts", texts.size());
        result.addProperty("repeat", repeat);
        JsonObject throughput = new JsonObject();
        double bestThroughput = 0;
        for (int b = 0; b < batchSizes.size(); b++) {
            long loadStart = System.nanoTime();
            try (NerModel model = NerModel.load(bundle, new NerModel.Options(threads, batchSizes.get(b)))) {
                if (b == 0) {
                    result.addProperty("load_s", round((System.nanoTime() - loadStart) / 1e9, 3));
                    result.add("latency_ms", latency(model, texts, repeat));
                    int tokens = 0;
                    for (DocumentEncoding encoding : model.encodeBatch(texts)) {
                        tokens += encoding.numTokens();
                    }
                    result.addProperty("tokens", tokens);
                }
                List<List<Entity>> entities = model.predictBatch(texts); // warm-up, and the entities compared with Python
                double best = Double.MAX_VALUE;
                for (int r = 0; r < repeat; r++) {
                    long start = System.nanoTime();
                    model.predictBatch(texts);
                    best = Math.min(best, (System.nanoTime() - start) / 1e9);
                }
                throughput.addProperty(String.valueOf(batchSizes.get(b)), round(texts.size() / best, 2));
                bestThroughput = Math.max(bestThroughput, texts.size() / best);
                if (b == batchSizes.size() - 1 && options.containsKey("entities-out")) {
                    List<String> lines = new ArrayList<>();
                    for (int i = 0; i < texts.size(); i++) {
                        lines.add(Json.predictionLine(texts.get(i), entities.get(i)));
                    }
                    Files.write(Path.of(options.get("entities-out")), lines, StandardCharsets.UTF_8);
                }
            }
        }
        result.add("throughput_texts_per_s", throughput);
        result.addProperty("best_throughput_texts_per_s", round(bestThroughput, 2));
        stdout.println(new GsonBuilder().disableHtmlEscaping().create().toJson(result));
        return 0;
    }

    /** Milliseconds per text, each text alone, after a warm-up pass (JIT, ONNX Runtime's first runs). */
    private static JsonObject latency(NerModel model, List<String> texts, int repeat) {
        for (String text : texts) {
            model.predict(text);
        }
        double[] perText = new double[texts.size() * repeat];
        int k = 0;
        for (int r = 0; r < repeat; r++) {
            for (String text : texts) {
                long start = System.nanoTime();
                model.predict(text);
                perText[k++] = (System.nanoTime() - start) / 1e6;
            }
        }
        Arrays.sort(perText);
        JsonObject latency = new JsonObject();
        latency.addProperty("mean", round(Arrays.stream(perText).average().orElse(0), 3));
        latency.addProperty("median", round(percentile(perText, 0.5), 3));
        latency.addProperty("p90", round(percentile(perText, 0.9), 3));
        return latency;
    }

    static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    private static double round(double value, int decimals) {
        double scale = Math.pow(10, decimals);
        return Math.round(value * scale) / scale;
    }
}
