package org.biobertner.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.biobertner.DocumentEncoding;
import org.biobertner.Entity;
import org.biobertner.NerModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Dynamic micro-batching: one thread gathers the requests of concurrent clients, up to
 * {@code maxBatch} windows or {@code maxDelayMs} after the first, and runs their windows together
 * ({@link NerModel#predictEncoded}), so one session with a fixed thread pool serves everyone instead of
 * each caller running its own forward pass on its own threads.
 *
 * <p>At most {@code capacity} requests wait for a forward pass, those being gathered into the next
 * batch included (a semaphore, so memory is bounded):
 * {@link #submit} refuses the next one at once, which the service answers 503. A request whose
 * client gave up (its future is done: the per-request timeout) is dropped before it is run.
 */
final class MicroBatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MicroBatcher.class);

    /** The windows of one request and the promise of its entities. */
    static final class Job {
        final List<DocumentEncoding> encodings;
        final int windows;
        final CompletableFuture<List<List<Entity>>> result = new CompletableFuture<>();

        Job(List<DocumentEncoding> encodings) {
            this.encodings = encodings;
            this.windows = encodings.stream().mapToInt(encoding -> encoding.windows().size()).sum();
        }
    }

    /** Why {@link #submit} refused a request. */
    enum Refusal { QUEUE_FULL, STOPPED }

    private final NerModel model;
    private final int maxBatch;
    private final long maxDelayNanos;
    private final int capacity;
    private final Metrics metrics;
    private final Semaphore slots;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean accepting = true;
    private Job carried; // taken from the queue but did not fit the last batch; batcher thread only

    MicroBatcher(NerModel model, int maxBatch, int maxDelayMs, int capacity, Metrics metrics) {
        this.model = model;
        this.maxBatch = maxBatch;
        this.maxDelayNanos = TimeUnit.MILLISECONDS.toNanos(maxDelayMs);
        this.capacity = capacity;
        this.metrics = metrics;
        this.slots = new Semaphore(capacity);
        this.thread = new Thread(this::loop, "micro-batcher");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Queue {@code job}; null when it is queued, else why not (the caller answers 503). */
    Refusal submit(Job job) {
        if (!accepting) {
            return Refusal.STOPPED;
        }
        if (!slots.tryAcquire()) {
            return Refusal.QUEUE_FULL;
        }
        queue.add(job);
        return null;
    }

    /** Requests queued and not yet in a forward pass. */
    int depth() {
        return capacity - slots.availablePermits();
    }

    private void loop() {
        while (accepting || carried != null || !queue.isEmpty()) {
            try {
                List<Job> batch = gather();
                if (!batch.isEmpty()) {
                    run(batch);
                }
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException error) { // never let the one batcher thread die
                LOG.error("micro-batcher failed", error);
            }
        }
    }

    /** The next batch: the first waiting request, then more until the batch is full or the delay is over. */
    private List<Job> gather() throws InterruptedException {
        List<Job> batch = new ArrayList<>();
        Job first = carried != null ? carried : queue.poll(50, TimeUnit.MILLISECONDS);
        carried = null;
        if (first == null) {
            return batch;
        }
        int windows = admit(first, batch, 0);
        long deadline = System.nanoTime() + maxDelayNanos;
        while (windows < maxBatch) {
            Job next = queue.poll();
            if (next == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || (next = queue.poll(left, TimeUnit.NANOSECONDS)) == null) {
                    break;
                }
            }
            if (!batch.isEmpty() && windows + next.windows > maxBatch) {
                carried = next; // keeps its slot: it leads the next batch
                break;
            }
            windows = admit(next, batch, windows);
        }
        return batch;
    }

    private int admit(Job job, List<Job> batch, int windows) {
        if (job.result.isDone()) {
            slots.release(); // timed out while it waited: dropped
            return windows;
        }
        batch.add(job);
        return windows + job.windows;
    }

    private void run(List<Job> batch) {
        List<DocumentEncoding> encodings = new ArrayList<>();
        int windows = 0;
        for (Job job : batch) {
            encodings.addAll(job.encodings);
            windows += job.windows;
        }
        slots.release(batch.size()); // they leave the queue (a request being gathered still counts as waiting)
        metrics.batch(windows, batch.size());
        try {
            List<List<Entity>> entities = model.predictEncoded(encodings);
            int offset = 0;
            for (Job job : batch) {
                job.result.complete(entities.subList(offset, offset + job.encodings.size()));
                offset += job.encodings.size();
            }
        } catch (RuntimeException error) {
            LOG.error("forward pass of {} requests ({} windows) failed", batch.size(), windows, error);
            batch.forEach(job -> job.result.completeExceptionally(error));
        }
    }

    /** Refuse new requests, run every queued one, then stop the thread. */
    @Override
    public void close() {
        accepting = false;
        try {
            thread.join();
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
