package org.biobertner.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code serve} in a process of its own, stopped by SIGTERM while requests are in flight: its shutdown hook answers them. */
class SigtermTest {

    private static final Pattern LISTENING = Pattern.compile("on http://127\\.0\\.0\\.1:(\\d+)/v1/entities");
    private static final Pattern STOPPED = Pattern.compile("stopped in \\d+ ms: (\\d+) requests accepted, (\\d+) answered, 0 still in flight");

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void sigtermAnswersTheAcceptedRequestsThenExits() throws Exception {
        String bundle = System.getProperty("bundle.dir");
        assumeTrue(bundle != null && Files.isRegularFile(Path.of(bundle, "golden.json")), "no golden bundle: skipped");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // A 3 s gathering window: the requests below are accepted and still waiting when SIGTERM comes.
        Process process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "org.biobertner.cli.Cli",
                "serve", "--bundle", bundle, "--port", "0", "--threads", "1", "--max-batch", "1000", "--max-delay-ms", "3000")
                .redirectErrorStream(true).start();
        List<String> log = new ArrayList<>();
        try {
            BufferedReader output = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            int port = -1;
            for (String line; port < 0 && (line = output.readLine()) != null; ) {
                log.add(line);
                Matcher listening = LISTENING.matcher(line);
                if (listening.find()) {
                    port = Integer.parseInt(listening.group(1));
                }
            }
            assertTrue(port > 0, "no start-up line in\n" + String.join("\n", log));
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/entities"))
                        .timeout(Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.ofString("{\"text\": \"aspirin " + i + "\"}")).build();
                inFlight.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
            }
            awaitQueueDepth(client, port, inFlight.size()); // all accepted, none answered yet
            // SIGTERM from outside, as a service manager sends it (Process.destroy would also close our end of its output).
            assertEquals(0, new ProcessBuilder("kill", "-TERM", String.valueOf(process.pid())).start().waitFor());
            for (int i = 0; i < inFlight.size(); i++) {
                HttpResponse<String> response;
                try {
                    response = inFlight.get(i).get(20, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException error) {
                    process.waitFor(20, TimeUnit.SECONDS);
                    for (String line; (line = output.readLine()) != null; ) {
                        log.add(line);
                    }
                    throw new AssertionError("request " + i + " failed: " + error.getCause() + "\n" + String.join("\n", log), error);
                }
                assertEquals(200, response.statusCode(), response.body());
                assertTrue(response.body().startsWith("{\"text\": \"aspirin " + i + "\", \"entities\": ["), response.body());
            }
            assertTrue(process.waitFor(20, TimeUnit.SECONDS), "still running 20 s after SIGTERM");
            for (String line; (line = output.readLine()) != null; ) {
                log.add(line);
            }
            String last = log.get(log.size() - 1);
            Matcher stopped = STOPPED.matcher(last);
            assertTrue(stopped.find(), "last log line: " + last);
            assertEquals("6", stopped.group(1));
            assertEquals("6", stopped.group(2));
        } finally {
            process.destroyForcibly();
        }
    }

    /** Wait (at most 15 s) until {@code depth} requests wait for a forward pass, as {@code /metrics} says. */
    private static void awaitQueueDepth(HttpClient client, int port, int depth) throws Exception {
        HttpRequest metrics = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        String body = "";
        while (System.nanoTime() < deadline) {
            body = client.send(metrics, HttpResponse.BodyHandlers.ofString()).body();
            if (body.contains("\nbiobertner_queue_depth " + depth + "\n")) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("queue depth never reached " + depth + ":\n" + body);
    }
}
