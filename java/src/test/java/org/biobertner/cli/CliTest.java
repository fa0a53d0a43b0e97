package org.biobertner.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.management.UnixOperatingSystemMXBean;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line's errors and exit codes; the golden parity tests check what it prints. */
class CliTest {

    @TempDir
    Path tmp;

    /** Exit code, standard output and standard error of one run. */
    private record Run(int status, String stdout, String stderr) {}

    private static Run run(InputStream stdin, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Cli.run(args, stdin, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static Run run(String... args) {
        return run(new ByteArrayInputStream(new byte[0]), args);
    }

    /** Standard input that remembers whether it was closed. */
    private static final class TrackedInput extends ByteArrayInputStream {
        boolean closed;

        TrackedInput(String text) {
            super(text.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    @Test
    void aBadBundleClosesTheInputReader() {
        TrackedInput stdin = new TrackedInput("aspirin\n");
        Run result = run(stdin, "predict", "--bundle", tmp.toString());
        assertEquals(1, result.status());
        assertTrue(result.stderr().startsWith("error: bad bundle: "), result.stderr());
        assertEquals("", result.stdout());
        assertTrue(stdin.closed, "the reader over the input was left open");
    }

    @Test
    void aBadBundleLeaksNoFileDescriptor() throws Exception {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        assumeTrue(os instanceof UnixOperatingSystemMXBean, "open file descriptors are counted on Unix only");
        UnixOperatingSystemMXBean unix = (UnixOperatingSystemMXBean) os;
        Path input = Files.writeString(tmp.resolve("input.txt"), "aspirin\n", StandardCharsets.UTF_8);
        Path notABundle = Files.createDirectory(tmp.resolve("not-a-bundle"));
        int runs = 100;
        long before = unix.getOpenFileDescriptorCount();
        for (int i = 0; i < runs; i++) {
            assertEquals(1, run("predict", "--bundle", notABundle.toString(), "--input", input.toString()).status());
        }
        long leaked = unix.getOpenFileDescriptorCount() - before;
        assertTrue(leaked < runs / 2, leaked + " more open files after " + runs + " runs on a bad bundle");
    }

    @Test
    void aMissingInputFileIsReportedBeforeTheBundle() {
        Run result = run("predict", "--bundle", tmp.toString(), "--input", tmp.resolve("missing.txt").toString());
        assertEquals(1, result.status());
        assertTrue(result.stderr().startsWith("error: java.nio.file.NoSuchFileException: "), result.stderr());
    }

    @Test
    void usageErrors() {
        Run none = run();
        assertEquals(2, none.status());
        assertTrue(none.stderr().startsWith("usage: "), none.stderr());
        Run help = run("--help");
        assertEquals(0, help.status());
        assertEquals(Cli.USAGE + "\n", help.stdout());
        Run unknown = run("frobnicate", "--bundle", tmp.toString());
        assertEquals(2, unknown.status());
        assertTrue(unknown.stderr().startsWith("error: unknown command 'frobnicate'\nusage: "), unknown.stderr());
        Run option = run("predict", "--bundle", tmp.toString(), "--colour", "red");
        assertEquals(2, option.status());
        assertTrue(option.stderr().startsWith("error: unknown option --colour\n"), option.stderr());
        Run bench = run("bench", "--bundle", tmp.toString());
        assertEquals(2, bench.status());
        assertTrue(bench.stderr().startsWith("error: --input is required\n"), bench.stderr());
    }

    @Test
    void serveRefusesBadSettingsBeforeLoadingAnything() {
        Run port = run("serve", "--bundle", tmp.toString(), "--port", "eighty");
        assertEquals(2, port.status());
        assertTrue(port.stderr().startsWith("error: --port needs a whole number, got 'eighty'\n"), port.stderr());
        Run batch = run("serve", "--bundle", tmp.toString(), "--max-batch", "0");
        assertEquals(2, batch.status());
        assertTrue(batch.stderr().startsWith("error: --max-batch must be at least 1, got 0\n"), batch.stderr());
        Run unknown = run("serve", "--bundle", tmp.toString(), "--workers", "4");
        assertEquals(2, unknown.status());
        assertTrue(unknown.stderr().startsWith("error: unknown option --workers\n"), unknown.stderr());
        Run noBundle = run("serve", "--bundle", tmp.resolve("missing").toString());
        assertEquals(1, noBundle.status());
        assertTrue(noBundle.stderr().startsWith("error: bad bundle: "), noBundle.stderr());
    }
}
