package org.biobertner.cli;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.biobertner.serve.NerService;
import org.biobertner.serve.ServeOptions;

/**
 * {@code java -jar biobert-ner-java.jar serve --bundle DIR [...]}: the HTTP service until SIGTERM or
 * Ctrl-C, whose shutdown hook stops it gracefully ({@link NerService#stop}).
 */
final class Serve {

    private Serve() {}

    static int run(Map<String, String> flags) throws IOException {
        NerService service = NerService.start(ServeOptions.parse(flags));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.stop();
            stopped.countDown();
        }, "shutdown"));
        try {
            stopped.await(); // the JVM exits from the hook; this thread only keeps the process alive
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
