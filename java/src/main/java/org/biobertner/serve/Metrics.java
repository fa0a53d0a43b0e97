package org.biobertner.serve;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * The service's metrics in the Prometheus text exposition format (version 0.0.4), written by hand:
 * four metrics do not need a client library, and the service keeps its zero new dependencies.
 */
final class Metrics {

    /** Seconds from a request's arrival to its answer. */
    static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    /** Windows in one shared forward pass. */
    static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>(); // key: route + " " + status
    private final Histogram latency = new Histogram(LATENCY_BUCKETS);
    private final Histogram batchWindows = new Histogram(BATCH_BUCKETS);
    private final LongAdder batchRequests = new LongAdder();
    private final IntSupplier queueDepth;

    Metrics(IntSupplier queueDepth) {
        this.queueDepth = queueDepth;
    }

    void request(String route, int status, double seconds) {
        requests.computeIfAbsent(route + " " + status, key -> new LongAdder()).increment();
        if (route.equals(NerService.ENTITIES)) {
            latency.observe(seconds);
        }
    }

    void batch(int windows, int requestsInBatch) {
        batchWindows.observe(windows);
        batchRequests.add(requestsInBatch);
    }

    /** How many answers had {@code status} on {@code route} so far. */
    long count(String route, int status) {
        LongAdder adder = requests.get(route + " " + status);
        return adder == null ? 0 : adder.sum();
    }

    String exposition() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP biobertner_http_requests_total HTTP requests answered, by route and status.\n");
        out.append("# TYPE biobertner_http_requests_total counter\n");
        for (Map.Entry<String, LongAdder> entry : new TreeMap<>(requests).entrySet()) {
            String[] parts = entry.getKey().split(" ", 2);
            out.append("biobertner_http_requests_total{route=\"").append(parts[0]).append("\",status=\"")
                    .append(parts[1]).append("\"} ").append(entry.getValue().sum()).append('\n');
        }
        latency.write(out, "biobertner_request_duration_seconds",
                "Seconds from arrival to answer of POST " + NerService.ENTITIES + ".");
        batchWindows.write(out, "biobertner_batch_windows", "Windows in one shared forward pass.");
        out.append("# HELP biobertner_batched_requests_total Requests whose windows ran in a shared forward pass.\n");
        out.append("# TYPE biobertner_batched_requests_total counter\n");
        out.append("biobertner_batched_requests_total ").append(batchRequests.sum()).append('\n');
        out.append("# HELP biobertner_queue_depth Requests waiting for a forward pass.\n");
        out.append("# TYPE biobertner_queue_depth gauge\n");
        out.append("biobertner_queue_depth ").append(queueDepth.getAsInt()).append('\n');
        return out.toString();
    }

    /** A cumulative histogram; observations are lock-free. */
    static final class Histogram {
        private final double[] bounds;
        private final AtomicLongArray counts; // per bucket, not cumulative; the last is +Inf
        private final DoubleAdder sum = new DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds.clone();
            this.counts = new AtomicLongArray(bounds.length + 1);
        }

        void observe(double value) {
            int bucket = 0;
            while (bucket < bounds.length && value > bounds[bucket]) {
                bucket++;
            }
            counts.incrementAndGet(bucket);
            sum.add(value);
        }

        void write(StringBuilder out, String name, String help) {
            out.append("# HELP ").append(name).append(' ').append(help).append('\n');
            out.append("# TYPE ").append(name).append(" histogram\n");
            long cumulative = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cumulative += counts.get(i);
                String le = i < bounds.length ? number(bounds[i]) : "+Inf";
                out.append(name).append("_bucket{le=\"").append(le).append("\"} ").append(cumulative).append('\n');
            }
            out.append(name).append("_sum ").append(number(sum.sum())).append('\n');
            out.append(name).append("_count ").append(cumulative).append('\n');
        }

        private static String number(double value) {
            return value == Math.rint(value) && Math.abs(value) < 1e15
                    ? String.valueOf((long) value) : String.format(Locale.ROOT, "%s", value);
        }
    }
}
