package org.biobertner.serve;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.biobertner.Bundle;
import org.biobertner.DocumentEncoding;
import org.biobertner.Entity;
import org.biobertner.Json;
import org.biobertner.NerModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The NER HTTP service: {@code POST /v1/entities} answers with the JSON of {@code biobert-ner predict},
 * byte for byte ({@link Json#predictionLine}), plus health, readiness and Prometheus metrics.
 *
 * <p>Built on the JDK's {@code com.sun.net.httpserver.HttpServer}: Java 17 has it, it adds no
 * dependency, and HTTP/1.1 with keep-alive is all a JSON POST needs. Requests are read on a fixed
 * pool of {@code httpThreads} threads with a bounded queue (past it: 503 at once); the texts are
 * tokenized there, then their windows wait in the {@link MicroBatcher} for a shared forward pass.
 *
 * <p>{@link #stop} is the graceful shutdown (the {@code serve} command runs it on SIGTERM): new
 * requests get 503, the accepted ones are answered, then the listener, the batcher and the model
 * are closed, in that order.
 */
public final class NerService implements AutoCloseable {

    static final String ENTITIES = "/v1/entities";
    static final String LIVE = "/health/live";
    static final String READY = "/health/ready";
    static final String METRICS = "/metrics";
    private static final List<String> ROUTES = List.of(ENTITIES, LIVE, READY, METRICS);
    /** Short texts of one and of several windows: the first forward passes (JIT, ONNX Runtime's allocations) run before the port opens. */
    private static final String WARM_UP_TEXT = "Cisplatin induced nephrotoxicity in patients with lung cancer.";

    private static final Logger LOG = LoggerFactory.getLogger(NerService.class);
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
    /** Set on the thread that runs a request the full executor refused: it is answered 503 at once. */
    private static final ThreadLocal<Boolean> OVERLOADED = ThreadLocal.withInitial(() -> false);

    static {
        // An answer is small, and the JDK server writes its headers and its body separately: without
        // TCP_NODELAY, Nagle's algorithm holds the body back until the client's delayed ACK comes, and every
        // request on a keep-alive connection waits ~40 ms for nothing. Read once, when the server classes load.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private final ServeOptions options;
    private final NerModel model;
    private final JsonObject readiness;
    private final Metrics metrics;
    private final MicroBatcher batcher;
    private final ThreadPoolExecutor executor;
    private final HttpServer server;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private volatile boolean draining;
    private boolean stopped; // guarded by this

    private NerService(ServeOptions options, NerModel model, JsonObject readiness) throws IOException {
        this.options = options;
        this.model = model;
        this.readiness = readiness;
        MicroBatcher[] holder = new MicroBatcher[1];
        this.metrics = new Metrics(() -> holder[0] == null ? 0 : holder[0].depth());
        this.batcher = holder[0] = new MicroBatcher(model, options.maxBatch(), options.maxDelayMs(), options.queue(), metrics);
        this.executor = new ThreadPoolExecutor(options.httpThreads(), options.httpThreads(), 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(options.queue()), namedThreads(), NerService::runOverloaded);
        this.server = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
    }

    /** Load the bundle, warm it up, then open the port: ready from the first request it accepts. */
    public static NerService start(ServeOptions options) throws IOException {
        long start = System.nanoTime();
        // One session, one fixed intra-op pool (--threads), and forward passes as wide as a batch.
        NerModel model = NerModel.load(options.bundle(), new NerModel.Options(options.threads(), options.maxBatch()));
        double loadMs = (System.nanoTime() - start) / 1e6;
        try {
            long warmStart = System.nanoTime();
            warmUp(model);
            double warmMs = (System.nanoTime() - warmStart) / 1e6;
            NerService service = new NerService(options, model, readiness(model));
            service.server.start();
            LOG.info("serving {} (labels {}) on http://{}:{}{}; threads={} max-batch={} windows max-delay={} ms queue={} "
                            + "timeout={} ms http-threads={} max-body={} B max-texts={} max-chars={}; loaded in {} ms, warmed up in {} ms",
                    model.bundle().modelName(), model.labelNames(), options.host(), service.port(), ENTITIES,
                    options.threads(), options.maxBatch(), options.maxDelayMs(), options.queue(), options.timeoutMs(),
                    options.httpThreads(), options.maxBodyBytes(), options.maxTexts(), options.maxChars(),
                    Math.round(loadMs), Math.round(warmMs));
            return service;
        } catch (IOException | RuntimeException error) {
            model.close();
            throw error;
        }
    }

    private static void warmUp(NerModel model) {
        String longText = String.join(" ", java.util.Collections.nCopies(3 * model.bundle().windowLength(), "aspirin"));
        for (int i = 0; i < 3; i++) {
            model.predictBatch(List.of(WARM_UP_TEXT, longText));
        }
    }

    /** What {@code GET /health/ready} reports: the model, its labels and the bundle's format and decoding. */
    private static JsonObject readiness(NerModel model) {
        Bundle bundle = model.bundle();
        JsonObject ready = new JsonObject();
        ready.addProperty("status", "ready");
        ready.addProperty("model", bundle.modelName());
        JsonArray labels = new JsonArray();
        model.labelNames().forEach(labels::add);
        ready.add("labels", labels);
        JsonObject info = bundleJson(bundle.dir().resolve(Bundle.BUNDLE_JSON));
        JsonObject format = new JsonObject();
        format.add("format", info.get("format"));
        format.add("format_version", info.get("format_version"));
        ready.add("bundle", format);
        ready.add("decoding", info.has("decoding") ? info.get("decoding") : null);
        ready.addProperty("window_length", bundle.windowLength());
        ready.addProperty("stride", bundle.stride());
        return ready;
    }

    private static JsonObject bundleJson(Path file) {
        try {
            return GSON.fromJson(Files.readString(file, StandardCharsets.UTF_8), JsonObject.class);
        } catch (IOException | RuntimeException error) { // the model loaded from it: report, do not fail
            JsonObject unknown = new JsonObject();
            unknown.addProperty("error", file.getFileName() + " unreadable: " + error.getMessage());
            return unknown;
        }
    }

    /** The port it listens on (the chosen one when {@code --port 0}). */
    public int port() {
        return server.getAddress().getPort();
    }

    /** Requests admitted into the batcher, and those of them answered (equal once stopped). */
    public long accepted() {
        return accepted.get();
    }

    public long completed() {
        return completed.get();
    }

    // ------------------------------------------------------------ requests

    private void handle(HttpExchange exchange) throws IOException {
        long start = System.nanoTime();
        String path = exchange.getRequestURI().getPath();
        String route = ROUTES.contains(path) ? path : "other";
        int status;
        String detail = "";
        boolean[] counted = {false}; // set once this request is counted in inFlight
        try {
            Answer answer = answer(exchange, path, start, counted);
            status = answer.status;
            detail = answer.detail;
            send(exchange, answer);
        } finally {
            exchange.close();
            if (counted[0]) {
                inFlight.decrementAndGet(); // only now, with the answer sent: stop() may close the connections after it
            }
        }
        double ms = (System.nanoTime() - start) / 1e6;
        metrics.request(route, status, ms / 1e3);
        if (LOG.isDebugEnabled()) {
            LOG.debug("{} {} {} {} {} ms", exchange.getRequestMethod(), path, status, detail, String.format(java.util.Locale.ROOT, "%.1f", ms));
        }
    }

    /** The status, body and headers of one request. */
    private record Answer(int status, String body, String detail, boolean close, String allow) {
        static Answer ok(String body, String detail) {
            return new Answer(200, body, detail, false, null);
        }

        static Answer error(ApiError error) {
            JsonObject body = new JsonObject();
            body.addProperty("error", error.getMessage());
            body.addProperty("status", error.status);
            return new Answer(error.status, GSON.toJson(body) + "\n", error.getMessage(), error.status >= 413 || error.status == 400, null);
        }
    }

    private Answer answer(HttpExchange exchange, String path, long start, boolean[] counted) {
        String method = exchange.getRequestMethod();
        try {
            if (OVERLOADED.get()) {
                throw new ApiError(503, "overloaded: every request thread is busy and their queue is full; retry");
            }
            if (!ROUTES.contains(path)) {
                throw new ApiError(404, "no route " + path + " (routes: POST " + ENTITIES + ", GET " + LIVE + ", " + READY + ", " + METRICS + ")");
            }
            String expected = path.equals(ENTITIES) ? "POST" : "GET";
            if (!method.equals(expected)) {
                ApiError error = new ApiError(405, method + " is not allowed on " + path + ": use " + expected);
                Answer refused = Answer.error(error);
                return new Answer(405, refused.body, refused.detail, true, expected);
            }
            return switch (path) {
                case ENTITIES -> entities(exchange, start, counted);
                case LIVE -> Answer.ok("{\"status\": \"live\"}\n", "");
                case READY -> {
                    if (draining) {
                        throw new ApiError(503, "shutting down");
                    }
                    yield Answer.ok(GSON.toJson(readiness) + "\n", "");
                }
                default -> Answer.ok(metrics.exposition(), "");
            };
        } catch (ApiError error) {
            return Answer.error(error);
        } catch (RuntimeException error) {
            LOG.error("{} {} failed", method, path, error);
            return Answer.error(new ApiError(500, "internal error: " + error));
        }
    }

    private Answer entities(HttpExchange exchange, long start, boolean[] counted) throws ApiError {
        if (draining) {
            throw new ApiError(503, "shutting down: not accepting new requests");
        }
        EntitiesRequest request = EntitiesRequest.parse(readBody(exchange), options.maxTexts(), options.maxChars());
        inFlight.incrementAndGet(); // stop() waits for it; handle() counts it down once the answer is sent
        counted[0] = true;
        if (draining) { // stop() began while this one was read: it was not accepted
            throw new ApiError(503, "shutting down: not accepting new requests");
        }
        List<DocumentEncoding> encodings = model.encodeBatch(request.texts());
        MicroBatcher.Job job = new MicroBatcher.Job(encodings);
        MicroBatcher.Refusal refusal = batcher.submit(job);
        if (refusal != null) {
            throw new ApiError(503, refusal == MicroBatcher.Refusal.QUEUE_FULL
                    ? "queue full: " + options.queue() + " requests already wait for the model; retry" : "shutting down");
        }
        accepted.incrementAndGet();
        try {
            List<List<Entity>> entities = await(job, start);
            return Answer.ok(body(request, entities), request.texts().size() + " texts, " + job.windows + " windows");
        } finally {
            completed.incrementAndGet();
        }
    }

    private List<List<Entity>> await(MicroBatcher.Job job, long start) throws ApiError {
        long leftNanos = TimeUnit.MILLISECONDS.toNanos(options.timeoutMs()) - (System.nanoTime() - start);
        try {
            return job.result.get(Math.max(0, leftNanos), TimeUnit.NANOSECONDS);
        } catch (TimeoutException timeout) {
            job.result.cancel(false); // the batcher drops it if it has not run yet
            throw new ApiError(504, "no answer within the timeout of " + options.timeoutMs() + " ms");
        } catch (ExecutionException error) {
            throw new IllegalStateException("prediction failed", error.getCause());
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "interrupted");
        }
    }

    /** One text: its {@code biobert-ner predict} line; several: {@code {"predictions": [line, ...]}}. */
    private static String body(EntitiesRequest request, List<List<Entity>> entities) {
        List<String> texts = request.texts();
        if (request.single()) {
            return Json.predictionLine(texts.get(0), entities.get(0)) + "\n";
        }
        StringBuilder out = new StringBuilder("{\"predictions\": [");
        for (int i = 0; i < texts.size(); i++) {
            out.append(i > 0 ? ", " : "").append(Json.predictionLine(texts.get(i), entities.get(i)));
        }
        return out.append("]}\n").toString();
    }

    /** The body, at most {@code maxBodyBytes}: a longer one (declared or sent) is 413 before it is all read. */
    private byte[] readBody(HttpExchange exchange) throws ApiError {
        int limit = options.maxBodyBytes();
        String declared = exchange.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            try {
                if (Long.parseLong(declared.trim()) > limit) {
                    throw new ApiError(413, "body of " + declared.trim() + " bytes, the limit is " + limit);
                }
            } catch (NumberFormatException error) {
                throw new ApiError(400, "Content-Length '" + declared + "' is not a number");
            }
        }
        try (InputStream in = exchange.getRequestBody()) {
            byte[] body = in.readNBytes(limit + 1);
            if (body.length > limit) {
                throw new ApiError(413, "body over the limit of " + limit + " bytes");
            }
            return body;
        } catch (IOException error) {
            throw new ApiError(400, "could not read the body: " + error.getMessage());
        }
    }

    private void send(HttpExchange exchange, Answer answer) throws IOException {
        byte[] bytes = answer.body.getBytes(StandardCharsets.UTF_8);
        boolean prometheus = answer.status == 200 && exchange.getRequestURI().getPath().equals(METRICS);
        exchange.getResponseHeaders().set("Content-Type",
                prometheus ? "text/plain; version=0.0.4; charset=utf-8" : "application/json; charset=utf-8");
        if (answer.status == 503) {
            exchange.getResponseHeaders().set("Retry-After", "1");
        }
        if (answer.allow != null) {
            exchange.getResponseHeaders().set("Allow", answer.allow);
        }
        if (answer.close || draining) {
            exchange.getResponseHeaders().set("Connection", "close"); // an unread body or a server going away
        }
        exchange.sendResponseHeaders(answer.status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    // ------------------------------------------------------------ threads and shutdown

    private static java.util.concurrent.ThreadFactory namedThreads() {
        AtomicInteger count = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, "http-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** The executor is full: run the request here, flagged, so it is answered 503 without waiting for the model. */
    private static void runOverloaded(Runnable task, ThreadPoolExecutor executor) {
        OVERLOADED.set(true);
        try {
            task.run();
        } finally {
            OVERLOADED.set(false);
        }
    }

    /**
     * Graceful shutdown, once: new requests get 503, the accepted ones are answered (waiting at most
     * the request timeout and a second), then the listener, the batcher and the model are closed.
     */
    public synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        long start = System.nanoTime();
        draining = true;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.timeoutMs() + 1000L);
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        server.stop(0);
        batcher.close();
        executor.shutdown();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
        model.close();
        LOG.info("stopped in {} ms: {} requests accepted, {} answered, {} still in flight",
                Math.round((System.nanoTime() - start) / 1e6), accepted.get(), completed.get(), inFlight.get());
    }

    @Override
    public void close() {
        stop();
    }
}
