package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * {@link NerModel#close} against predictions on other threads: a prediction either finishes with
 * the right entities or is refused with "model is closed"; it never runs on a freed session.
 */
class NerModelCloseTest {

    private static final long TIMEOUT_S = 120;

    private Path dir;
    private List<JsonObject> fixtures;
    private double tolerance;

    @BeforeEach
    void loadFixtures() {
        dir = GoldenBundle.dir(); // skips the test, saying why, when there is no bundle
        JsonObject golden = GoldenBundle.golden(dir);
        fixtures = GoldenBundle.fixtures(golden);
        tolerance = golden.get("tolerance").getAsFloat();
    }

    @Test
    void predictsRacingACloseGetTheRightEntitiesOrAreRefused() throws Exception {
        int threads = 4;
        int warmUpPredicts = 2;
        NerModel model = NerModel.load(dir, new NerModel.Options(1, 8));
        CountDownLatch warmedUp = new CountDownLatch(threads);
        AtomicInteger predicted = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Integer>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int first = t;
                workers.add(pool.submit(() -> {
                    for (int i = 0; i < 100_000; i++) {
                        JsonObject fixture = fixtures.get((first + i) % fixtures.size());
                        List<Entity> entities;
                        try {
                            entities = model.predict(fixture.get("text").getAsString());
                        } catch (IllegalStateException refused) {
                            assertEquals("model is closed", refused.getMessage());
                            return i;
                        }
                        GoldenParityTest.assertSameEntities(fixture, entities, tolerance);
                        predicted.incrementAndGet();
                        if (i + 1 == warmUpPredicts) {
                            warmedUp.countDown();
                        }
                    }
                    return fail("the model was never closed");
                }));
            }
            assertTrue(warmedUp.await(TIMEOUT_S, TimeUnit.SECONDS), "the threads did not start predicting");
            Thread closer = new Thread(model::close, "closer");
            closer.start();
            closer.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            assertFalse(closer.isAlive(), "close() never returned");
            for (Future<Integer> worker : workers) {
                int done = worker.get(TIMEOUT_S, TimeUnit.SECONDS); // rethrows a wrong entity or a wrong error
                assertTrue(done >= warmUpPredicts, "a thread was refused before the close: " + done + " predictions");
            }
            assertTrue(predicted.get() >= threads * warmUpPredicts);
            assertRefused(() -> model.predict("aspirin"));
        } finally {
            pool.shutdownNow();
            model.close();
        }
    }

    @Test
    void closeWaitsForAPredictionInProgress() throws Exception {
        NerModel model = NerModel.load(dir, new NerModel.Options(1, 8));
        JsonObject fixture = fixtures.get(0);
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            // A prediction that holds the model (as every call does) until the test lets it go on.
            Future<List<Entity>> inProgress = pool.submit(() -> model.whileOpen(() -> {
                holding.countDown();
                awaitUninterruptibly(release);
                return model.predict(fixture.get("text").getAsString());
            }));
            assertTrue(holding.await(TIMEOUT_S, TimeUnit.SECONDS));

            Thread closer = new Thread(model::close, "closer");
            closer.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (closer.getState() != Thread.State.WAITING && closer.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(Thread.State.WAITING, closer.getState(), "close() did not wait for the prediction in progress");

            release.countDown();
            GoldenParityTest.assertSameEntities(fixture, inProgress.get(TIMEOUT_S, TimeUnit.SECONDS), tolerance);
            closer.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            assertFalse(closer.isAlive(), "close() never returned");
            assertRefused(() -> model.predict(fixture.get("text").getAsString()));
        } finally {
            release.countDown();
            pool.shutdownNow();
            model.close();
        }
    }

    @Test
    void closingTwiceIsANoOpAndEveryCallIsRefusedAfterIt() {
        NerModel model = NerModel.load(dir);
        model.close();
        model.close();
        assertRefused(() -> model.predict("aspirin"));
        assertRefused(() -> model.predictBatch(List.of("aspirin", "TNF")));
        assertRefused(() -> model.encode("aspirin"));
        assertRefused(() -> model.encodeBatch(List.of("aspirin")));
        assertRefused(() -> model.logits("aspirin"));
        assertRefused(() -> model.forwardWindows(List.of(new int[] {model.bundle().clsId(), model.bundle().sepId()})));
        assertRefused(() -> model.logitsBatch(List.of()));
        assertEquals(dir, model.bundle().dir()); // plain Java state stays readable
    }

    @Test
    void closeFromInsideACallIsRefusedInsteadOfWaitingForever() {
        try (NerModel model = NerModel.load(dir)) {
            IllegalStateException error = model.whileOpen(() -> assertThrows(IllegalStateException.class, model::close));
            assertTrue(error.getMessage().contains("while this thread is using the model"), error.getMessage());
            GoldenParityTest.assertSameEntities(fixtures.get(0), model.predict(fixtures.get(0).get("text").getAsString()), tolerance);
        }
    }

    private static void assertRefused(Executable call) {
        IllegalStateException error = assertThrows(IllegalStateException.class, call);
        assertEquals("model is closed", error.getMessage());
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        try {
            assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS));
        } catch (InterruptedException error) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(error);
        }
    }
}
