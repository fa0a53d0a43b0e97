package org.biobertner.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.biobertner.Entity;
import org.biobertner.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The service over real HTTP on 127.0.0.1 (an ephemeral port), against the golden bundle: Python's
 * entities byte for byte, concurrent clients, bad requests beside a good client, a full queue, the
 * per-request timeout and shutdown under load. Every test is bounded in requests and time.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NerServiceTest {

    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

    private static Path bundle;
    /** Golden text -> the line {@code biobert-ner predict} prints for it (from the Python entities in golden.json). */
    private static Map<String, String> pythonLines;
    private static List<String> texts;
    private static NerService service;

    @BeforeAll
    static void start() throws IOException {
        String property = System.getProperty("bundle.dir");
        assumeTrue(property != null && Files.isRegularFile(Path.of(property, "golden.json")),
                "no golden bundle (-Dbundle.dir=DIR with a golden.json): service tests skipped");
        bundle = Path.of(property);
        pythonLines = pythonLines(bundle);
        texts = new ArrayList<>(pythonLines.keySet());
        service = NerService.start(options(8, 2, 256, 10_000));
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.stop();
        }
    }

    private static ServeOptions options(int maxBatch, int maxDelayMs, int queue, int timeoutMs) {
        return new ServeOptions(bundle, "127.0.0.1", 0, 2, maxBatch, maxDelayMs, queue, 16_384, 8, 2000, timeoutMs, 48);
    }

    /** Python's expected line per golden text: its entities (code-point offsets, unrounded scores) as the CLI writes them. */
    private static Map<String, String> pythonLines(Path dir) throws IOException {
        JsonObject golden = JsonParser.parseString(Files.readString(dir.resolve("golden.json"), StandardCharsets.UTF_8)).getAsJsonObject();
        Map<String, String> lines = new java.util.LinkedHashMap<>();
        for (JsonElement element : golden.getAsJsonArray("fixtures")) {
            JsonObject fixture = element.getAsJsonObject();
            String text = fixture.get("text").getAsString();
            List<Entity> entities = new ArrayList<>();
            for (JsonElement e : fixture.getAsJsonArray("entities")) {
                JsonObject entity = e.getAsJsonObject();
                entities.add(new Entity(entity.get("type").getAsString(), entity.get("text").getAsString(),
                        entity.get("utf16_start").getAsInt(), entity.get("utf16_end").getAsInt(),
                        entity.get("start").getAsInt(), entity.get("end").getAsInt(), entity.get("score").getAsDouble()));
            }
            lines.put(text, Json.predictionLine(text, entities));
        }
        return lines;
    }

    // ------------------------------------------------------------ HTTP helpers

    private static URI uri(NerService target, String path) {
        return URI.create("http://127.0.0.1:" + target.port() + path);
    }

    private static HttpResponse<String> post(NerService target, byte[] body) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(uri(target, "/v1/entities")).timeout(Duration.ofSeconds(20))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static HttpResponse<String> post(NerService target, String body) throws IOException, InterruptedException {
        return post(target, body.getBytes(StandardCharsets.UTF_8));
    }

    private static String textsBody(List<String> batch) {
        JsonObject body = new JsonObject();
        JsonArray array = new JsonArray();
        batch.forEach(array::add);
        body.add("texts", array);
        return body.toString();
    }

    private static String textBody(String text) {
        JsonObject body = new JsonObject();
        body.addProperty("text", text);
        return body.toString();
    }

    /** What the service must answer for {@code batch}, from Python's lines. */
    private static String expectedTexts(List<String> batch) {
        List<String> lines = batch.stream().map(pythonLines::get).toList();
        return "{\"predictions\": [" + String.join(", ", lines) + "]}\n";
    }

    private static String errorMessage(HttpResponse<String> response) {
        return JsonParser.parseString(response.body()).getAsJsonObject().get("error").getAsString();
    }

    // ------------------------------------------------------------ answers

    @Test
    void goldenTextsAreAnsweredWithPythonsBytes() throws Exception {
        for (String text : texts) {
            HttpResponse<String> response = post(service, textBody(text));
            assertEquals(200, response.statusCode(), response.body());
            assertEquals(pythonLines.get(text) + "\n", response.body(), text);
        }
        List<String> some = texts.subList(0, Math.min(8, texts.size()));
        HttpResponse<String> response = post(service, textsBody(some));
        assertEquals(expectedTexts(some), response.body());
        assertTrue(texts.stream().anyMatch(text -> text.contains("\n")), "a golden text holds a newline");
    }

    @Test
    void concurrentClientsGetTheirOwnAnswers() throws Exception {
        int clients = 32;
        int perClient = 63; // 2016 requests
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger wrong = new AtomicInteger();
        AtomicInteger answered = new AtomicInteger();
        List<Future<?>> futures = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            Random random = new Random(c);
            futures.add(pool.submit(() -> {
                for (int r = 0; r < perClient; r++) {
                    List<String> batch = new ArrayList<>();
                    int size = 1 + random.nextInt(3);
                    for (int k = 0; k < size; k++) {
                        batch.add(texts.get(random.nextInt(texts.size())));
                    }
                    try {
                        HttpResponse<String> response = post(service, textsBody(batch));
                        if (response.statusCode() != 200) {
                            errors.incrementAndGet();
                            System.out.println("error answer: " + response.statusCode() + " " + response.body());
                        } else if (!response.body().equals(expectedTexts(batch))) {
                            wrong.incrementAndGet();
                        } else {
                            answered.incrementAndGet();
                        }
                    } catch (IOException | InterruptedException error) {
                        errors.incrementAndGet();
                        error.printStackTrace(System.out);
                    }
                }
                return null;
            }));
        }
        for (Future<?> future : futures) {
            future.get(50, TimeUnit.SECONDS);
        }
        pool.shutdown();
        System.out.printf("concurrent clients: %d requests, %d correct, %d errors, %d wrong answers%n",
                clients * perClient, answered.get(), errors.get(), wrong.get());
        assertEquals(0, errors.get(), "errors");
        assertEquals(0, wrong.get(), "lost or mixed-up answers");
        assertEquals(clients * perClient, answered.get());
        String metrics = CLIENT.send(HttpRequest.newBuilder(uri(service, "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        long passes = metric(metrics, "biobertner_batch_windows_count");
        long batchedRequests = metric(metrics, "biobertner_batched_requests_total");
        System.out.printf("micro-batching: %d requests in %d forward passes%n", batchedRequests, passes);
        assertTrue(passes > 0 && batchedRequests > passes, "concurrent requests shared forward passes: " + batchedRequests + " in " + passes);
    }

    private static long metric(String exposition, String name) {
        return exposition.lines().filter(line -> line.startsWith(name + " "))
                .mapToLong(line -> (long) Double.parseDouble(line.substring(name.length() + 1))).findFirst()
                .orElseThrow(() -> new AssertionError(name + " not in\n" + exposition));
    }

    // ------------------------------------------------------------ bad requests

    private record Bad(String name, byte[] body, int status, String message) {
        Bad(String name, String body, int status, String message) {
            this(name, body.getBytes(StandardCharsets.UTF_8), status, message);
        }
    }

    @Test
    void badRequestsGetTheirStatusAndMessageWhileAGoodClientIsServed() throws Exception {
        List<Bad> bad = List.of(
                new Bad("empty body", "", 400, "empty body"),
                new Bad("malformed JSON", "{\"texts\": [\"a\"", 400, "malformed JSON"),
                new Bad("trailing data", "{\"text\": \"a\"} x", 400, "malformed JSON"),
                new Bad("not an object", "[\"a\"]", 400, "must be a JSON object, got a list"),
                new Bad("texts not a list", "{\"texts\": \"a\"}", 400, "\"texts\" must be a list of strings, got a string"),
                new Bad("a text not a string", "{\"texts\": [\"a\", 3]}", 400, "\"texts\"[1] must be a string, got a number"),
                new Bad("text null", "{\"text\": null}", 400, "\"text\" must be a string, got null"),
                new Bad("both fields", "{\"text\": \"a\", \"texts\": [\"b\"]}", 400, "exactly one of"),
                new Bad("unknown field", "{\"txt\": \"a\"}", 400, "unknown field \"txt\""),
                new Bad("empty texts", "{\"texts\": []}", 400, "\"texts\" is empty"),
                new Bad("invalid UTF-8", new byte[] {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, '(', '"', '}'}, 400, "not valid UTF-8"),
                new Bad("too many texts", textsBody(java.util.Collections.nCopies(9, "a")), 413, "9 texts in one request, the limit is 8"),
                new Bad("text too long", textBody("a".repeat(2001)), 413, "\"text\" has 2001 characters, the limit is 2000"),
                new Bad("body too large", textBody("a ".repeat(9000)), 413, "the limit is 16384"));
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger good = new AtomicInteger();
        AtomicInteger goodFailures = new AtomicInteger();
        CompletableFuture<Void> goodClient = CompletableFuture.runAsync(() -> {
            int i = 0;
            while (running.get() || good.get() < 20) {
                String text = texts.get(i++ % texts.size());
                try {
                    HttpResponse<String> response = post(service, textBody(text));
                    if (response.statusCode() == 200 && response.body().equals(pythonLines.get(text) + "\n")) {
                        good.incrementAndGet();
                    } else {
                        goodFailures.incrementAndGet();
                    }
                } catch (IOException | InterruptedException error) {
                    goodFailures.incrementAndGet();
                }
            }
        });
        for (Bad request : bad) {
            HttpResponse<String> response = post(service, request.body());
            assertEquals(request.status(), response.statusCode(), request.name() + ": " + response.body());
            assertTrue(errorMessage(response).contains(request.message()), request.name() + ": " + response.body());
        }
        HttpResponse<String> unknown = CLIENT.send(HttpRequest.newBuilder(uri(service, "/v1/nothing")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(404, unknown.statusCode());
        assertTrue(errorMessage(unknown).contains("no route /v1/nothing"), unknown.body());
        HttpResponse<String> wrongMethod = CLIENT.send(HttpRequest.newBuilder(uri(service, "/v1/entities")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(405, wrongMethod.statusCode());
        assertEquals("POST", wrongMethod.headers().firstValue("Allow").orElse(""));
        assertTrue(errorMessage(wrongMethod).contains("GET is not allowed on /v1/entities"), wrongMethod.body());
        running.set(false);
        goodClient.get(30, TimeUnit.SECONDS);
        System.out.printf("bad requests: %d, each with its status; good client beside them: %d correct, %d failures%n",
                bad.size() + 2, good.get(), goodFailures.get());
        assertEquals(0, goodFailures.get());
        assertTrue(good.get() >= 20);
    }

    @Test
    void healthReadinessAndMetrics() throws Exception {
        HttpResponse<String> live = CLIENT.send(HttpRequest.newBuilder(uri(service, "/health/live")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, live.statusCode());
        JsonObject ready = JsonParser.parseString(CLIENT.send(HttpRequest.newBuilder(uri(service, "/health/ready")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).getAsJsonObject();
        assertEquals("ready", ready.get("status").getAsString());
        assertEquals(JsonParser.parseString(Files.readString(bundle.resolve("labels.json"))), ready.get("labels"));
        assertEquals("biobert-ner-bundle", ready.getAsJsonObject("bundle").get("format").getAsString());
        assertTrue(ready.has("decoding"));
        post(service, textBody("aspirin"));
        HttpResponse<String> metrics = CLIENT.send(HttpRequest.newBuilder(uri(service, "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
        for (String name : List.of("biobertner_http_requests_total{route=\"/v1/entities\",status=\"200\"}",
                "biobertner_request_duration_seconds_bucket{le=\"+Inf\"}", "biobertner_batch_windows_bucket{le=\"8\"}",
                "biobertner_queue_depth 0")) {
            assertTrue(metrics.body().contains(name), name + " in\n" + metrics.body());
        }
    }

    // ------------------------------------------------------------ back-pressure, timeout, shutdown

    @Test
    void aFullQueueAnswers503AndRecovers() throws Exception {
        // The batcher waits 800 ms to fill a batch of 10000 windows: the first 4 requests fill the queue.
        try (NerService small = NerService.start(options(10_000, 800, 4, 5_000))) {
            List<CompletableFuture<HttpResponse<String>>> burst = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                HttpRequest request = HttpRequest.newBuilder(uri(small, "/v1/entities"))
                        .POST(HttpRequest.BodyPublishers.ofString(textBody(texts.get(0)))).build();
                burst.add(CLIENT.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
            }
            int ok = 0;
            int full = 0;
            for (CompletableFuture<HttpResponse<String>> future : burst) {
                HttpResponse<String> response = future.get(20, TimeUnit.SECONDS);
                if (response.statusCode() == 200) {
                    assertEquals(pythonLines.get(texts.get(0)) + "\n", response.body());
                    ok++;
                } else {
                    assertEquals(503, response.statusCode(), response.body());
                    assertEquals("1", response.headers().firstValue("Retry-After").orElse(""));
                    assertTrue(errorMessage(response).contains("queue full"), response.body());
                    full++;
                }
            }
            assertEquals(12, ok + full);
            // Unbounded, all 12 would wait; bounded, at most 4 wait per 800 ms batch (more only if the burst took longer).
            assertTrue(full >= 1 && ok >= 1, ok + " answered, " + full + " refused");
            HttpResponse<String> after = post(small, textBody(texts.get(1)));
            assertEquals(200, after.statusCode(), "recovered: " + after.body());
            assertEquals(pythonLines.get(texts.get(1)) + "\n", after.body());
        }
    }

    @Test
    void aRequestPastItsTimeoutGets504() throws Exception {
        try (NerService slow = NerService.start(options(10_000, 1_500, 16, 200))) {
            long start = System.nanoTime();
            HttpResponse<String> response = post(slow, textBody("aspirin"));
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertEquals(504, response.statusCode(), response.body());
            assertTrue(errorMessage(response).contains("timeout of 200 ms"), response.body());
            assertTrue(ms < 1_400, "answered at the timeout, not when the batch ran: " + ms + " ms");
        }
    }

    @Test
    void shutdownUnderLoadAnswersEveryAcceptedRequest() throws Exception {
        NerService target = NerService.start(options(8, 2, 256, 10_000));
        int clients = 16;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        AtomicBoolean stopped = new AtomicBoolean();
        Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
        AtomicInteger wrong = new AtomicInteger();
        AtomicInteger refusedConnections = new AtomicInteger();
        List<Future<?>> futures = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            futures.add(pool.submit(() -> {
                for (int r = 0; r < 400; r++) {
                    String text = texts.get((client + r) % texts.size());
                    try {
                        HttpResponse<String> response = post(target, textBody(text));
                        statuses.computeIfAbsent(response.statusCode(), s -> new AtomicInteger()).incrementAndGet();
                        if (response.statusCode() == 200 && !response.body().equals(pythonLines.get(text) + "\n")) {
                            wrong.incrementAndGet();
                        }
                    } catch (IOException error) { // after the listener closed: never accepted
                        refusedConnections.incrementAndGet();
                        if (stopped.get()) {
                            return null;
                        }
                    }
                    if (stopped.get() && r % 5 == 0) {
                        Thread.sleep(1);
                    }
                }
                return null;
            }));
        }
        Thread.sleep(600);
        long acceptedBeforeStop = target.accepted();
        stopped.set(true);
        target.stop();
        for (Future<?> future : futures) {
            future.get(30, TimeUnit.SECONDS);
        }
        pool.shutdown();
        int answered = statuses.getOrDefault(200, new AtomicInteger()).get();
        System.out.printf("shutdown under load: %d accepted (%d before stop began), %d answered 200, statuses %s, "
                + "%d connections refused after the stop, %d wrong answers%n",
                target.accepted(), acceptedBeforeStop, answered, statuses, refusedConnections.get(), wrong.get());
        assertTrue(acceptedBeforeStop > 0);
        assertEquals(target.accepted(), target.completed(), "every accepted request was answered");
        assertEquals(target.accepted(), answered, "every accepted request reached its client with 200");
        assertEquals(0, wrong.get());
        assertTrue(statuses.keySet().stream().allMatch(s -> s == 200 || s == 503), statuses.toString());
    }
}
