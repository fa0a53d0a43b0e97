package org.biobertner;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A bundle ready to predict: the Java twin of Python's {@code NerPipeline}, step by step.
 *
 * <ol>
 *   <li>{@link #encodeBatch}: pre-tokenize ({@link PreTokenizer}), tokenize the words
 *       ({@link SubwordTokenizer}), cut the sub-words into overlapping windows ({@link Windows});
 *   <li>{@link #logitsBatch}: all windows of all texts through ONNX Runtime, longest first, each
 *       batch padded to its own longest window;
 *   <li>{@link Decoder#decodeDocument}: first sub-word per word, windows stitched, tags decoded as the
 *       bundle says ({@link Bundle#decoding()}, over its {@link DecodingTables}), entities with offsets into the input string.
 * </ol>
 *
 * <p>Long texts are windowed, never truncated. Thread-safe: ONNX Runtime sessions and the tokenizer
 * may be used from several threads at once; everything else is immutable. Close it to free the
 * native session and tokenizer: {@link #close} waits for the calls in progress on other threads to
 * finish, and every call after it throws {@link IllegalStateException}, so no thread ever uses a
 * freed session.
 */
public final class NerModel implements AutoCloseable {

    /**
     * Run settings.
     *
     * @param threads ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core)
     * @param batchSize windows per forward pass, from all texts together (Python's {@code batch_size})
     */
    public record Options(int threads, int batchSize) {
        public Options {
            if (threads < 0 || batchSize < 1) {
                throw new IllegalArgumentException("need threads >= 0 and batchSize >= 1, got " + threads + ", " + batchSize);
            }
        }

        public static Options defaults() {
            return new Options(0, 32);
        }
    }

    private static final int SPECIAL_TOKENS_PER_WINDOW = 2; // [CLS] in front, [SEP] at the end

    private final Bundle bundle;
    private final Options options;
    private final SubwordTokenizer tokenizer;
    private final OrtEnvironment environment;
    private final OrtSession session;
    private final Set<String> inputNames;
    /**
     * Guards the native session and tokenizer: every public call that uses them holds the read lock
     * for its whole length (many threads at once), {@link #close} takes the write lock, so it waits
     * for them and none of them ever sees a freed session. Inside, the private {@code ...Open} methods
     * do the work without taking the lock again.
     */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed; // guarded by lock

    private NerModel(Bundle bundle, Options options, SubwordTokenizer tokenizer, OrtEnvironment environment, OrtSession session) {
        this.bundle = bundle;
        this.options = options;
        this.tokenizer = tokenizer;
        this.environment = environment;
        this.session = session;
        this.inputNames = session.getInputNames();
    }

    /** Load the bundle in {@code bundleDir} with default options. */
    public static NerModel load(Path bundleDir) {
        return load(bundleDir, Options.defaults());
    }

    /** Load the bundle in {@code bundleDir}; a bad bundle is a {@link BundleException} naming the file. */
    public static NerModel load(Path bundleDir, Options options) {
        Bundle bundle = Bundle.load(bundleDir);
        SubwordTokenizer tokenizer = SubwordTokenizer.load(bundle.tokenizerPath());
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        OrtSession session = null;
        try (OrtSession.SessionOptions sessionOptions = new OrtSession.SessionOptions()) {
            sessionOptions.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (options.threads() > 0) {
                sessionOptions.setIntraOpNumThreads(options.threads());
                sessionOptions.setInterOpNumThreads(1);
            }
            session = environment.createSession(bundle.modelPath().toString(), sessionOptions);
            checkModel(bundle, session);
            return new NerModel(bundle, options, tokenizer, environment, session);
        } catch (OrtException | RuntimeException error) {
            tokenizer.close();
            closeQuietly(session);
            if (error instanceof BundleException bundleError) {
                throw bundleError;
            }
            throw new BundleException(bundle.modelPath(), "ONNX Runtime cannot load it: " + error.getMessage(), error);
        }
    }

    private static void checkModel(Bundle bundle, OrtSession session) throws OrtException {
        Path model = bundle.modelPath();
        Set<String> inputs = session.getInputNames();
        if (!inputs.contains("input_ids") || !Bundle.KNOWN_INPUTS.containsAll(inputs)) {
            throw new BundleException(model, "inputs " + inputs + " must include input_ids and be among " + Bundle.KNOWN_INPUTS);
        }
        Map<String, NodeInfo> outputs = session.getOutputInfo();
        NodeInfo output = outputs.get(bundle.output());
        if (output == null) {
            throw new BundleException(model, "no output named '" + bundle.output() + "' (outputs: " + outputs.keySet() + ")");
        }
        if (!(output.getInfo() instanceof TensorInfo info) || info.getShape().length != 3) {
            throw new BundleException(model, "output '" + bundle.output() + "' is not a [batch, sequence, labels] tensor");
        }
        long labels = info.getShape()[2];
        if (labels > 0 && labels != bundle.labels().size()) {
            throw new BundleException(bundle.dir().resolve(Bundle.LABELS_JSON), bundle.labels().size()
                    + " labels, but " + Bundle.MODEL_ONNX + " predicts " + labels);
        }
    }

    public Bundle bundle() {
        return bundle;
    }

    public Options options() {
        return options;
    }

    /** Label names in label-id order. */
    public List<String> labelNames() {
        return bundle.labels();
    }

    // ------------------------------------------------------------ 1. text -> windows of token ids

    /** Words, sub-word ids, windows and window inputs of one text. */
    public DocumentEncoding encode(String text) {
        return whileOpen(() -> encodeOpen(text));
    }

    private DocumentEncoding encodeOpen(String text) {
        List<Word> words = PreTokenizer.pretokenize(text);
        SubwordTokenizer.Encoded encoded = tokenizer.encodeWords(words.stream().map(Word::text).collect(Collectors.toList()));
        int[] tokenIds = encoded.tokenIds();
        List<Window> windows = tokenIds.length > 0
                ? Windows.planWindows(tokenIds.length, bundle.windowLength() - SPECIAL_TOKENS_PER_WINDOW, bundle.stride())
                : List.of();
        List<int[]> windowInputIds = new ArrayList<>(windows.size());
        for (Window window : windows) {
            int[] ids = new int[window.size() + SPECIAL_TOKENS_PER_WINDOW];
            ids[0] = bundle.clsId();
            System.arraycopy(tokenIds, window.start(), ids, 1, window.size());
            ids[ids.length - 1] = bundle.sepId();
            windowInputIds.add(ids);
        }
        return new DocumentEncoding(text, words, tokenIds, encoded.wordIds(), windows, windowInputIds);
    }

    public List<DocumentEncoding> encodeBatch(List<String> texts) {
        return whileOpen(() -> encodeBatchOpen(texts));
    }

    private List<DocumentEncoding> encodeBatchOpen(List<String> texts) {
        List<DocumentEncoding> encodings = new ArrayList<>(texts.size());
        for (String text : texts) {
            encodings.add(encodeOpen(text));
        }
        return encodings;
    }

    // ------------------------------------------------------------ 2. windows -> logits

    /** Indices of {@code lengths} in batches of {@code batchSize}, longest first (ties: input order). */
    public static List<List<Integer>> lengthSortedBatches(int[] lengths, int batchSize) {
        List<Integer> order = IntStream.range(0, lengths.length).boxed()
                .sorted(Comparator.comparingInt(i -> -lengths[i]))
                .collect(Collectors.toList());
        List<List<Integer>> batches = new ArrayList<>();
        for (int i = 0; i < order.size(); i += batchSize) {
            batches.add(order.subList(i, Math.min(i + batchSize, order.size())));
        }
        return batches;
    }

    /** Logits of each window, {@code [window length][labels]}, in input order. */
    public List<float[][]> forwardWindows(List<int[]> windows) {
        return whileOpen(() -> forwardWindowsOpen(windows));
    }

    private List<float[][]> forwardWindowsOpen(List<int[]> windows) {
        float[][][] results = new float[windows.size()][][];
        int[] lengths = windows.stream().mapToInt(ids -> ids.length).toArray();
        for (List<Integer> batch : lengthSortedBatches(lengths, options.batchSize())) {
            int width = 0;
            for (int i : batch) {
                width = Math.max(width, lengths[i]);
            }
            long[] inputIds = new long[batch.size() * width];
            long[] attentionMask = new long[batch.size() * width];
            java.util.Arrays.fill(inputIds, bundle.padId());
            for (int row = 0; row < batch.size(); row++) {
                int[] ids = windows.get(batch.get(row));
                for (int t = 0; t < ids.length; t++) {
                    inputIds[row * width + t] = ids[t];
                    attentionMask[row * width + t] = 1;
                }
            }
            float[][][] batchLogits = run(inputIds, attentionMask, batch.size(), width);
            for (int row = 0; row < batch.size(); row++) {
                int i = batch.get(row);
                results[i] = java.util.Arrays.copyOf(batchLogits[row], lengths[i]);
            }
        }
        return java.util.Arrays.asList(results);
    }

    private float[][][] run(long[] inputIds, long[] attentionMask, int rows, int width) {
        long[] shape = {rows, width};
        Map<String, OnnxTensor> inputs = new HashMap<>();
        try {
            inputs.put("input_ids", OnnxTensor.createTensor(environment, LongBuffer.wrap(inputIds), shape));
            if (inputNames.contains("attention_mask")) {
                inputs.put("attention_mask", OnnxTensor.createTensor(environment, LongBuffer.wrap(attentionMask), shape));
            }
            if (inputNames.contains("token_type_ids")) {
                inputs.put("token_type_ids", OnnxTensor.createTensor(environment, LongBuffer.wrap(new long[rows * width]), shape));
            }
            try (OrtSession.Result result = session.run(inputs, Set.of(bundle.output()))) {
                OnnxTensor logits = (OnnxTensor) result.get(0);
                int labels = (int) logits.getInfo().getShape()[2];
                FloatBuffer values = logits.getFloatBuffer();
                float[][][] out = new float[rows][width][labels];
                for (int row = 0; row < rows; row++) {
                    for (int t = 0; t < width; t++) {
                        values.get(out[row][t]);
                    }
                }
                return out;
            }
        } catch (OrtException error) {
            throw new IllegalStateException("ONNX Runtime failed on a batch of " + rows + " windows of " + width + " tokens", error);
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    /** Window logits of every document, all windows batched together. */
    public List<List<float[][]>> logitsBatch(List<DocumentEncoding> encodings) {
        return whileOpen(() -> logitsBatchOpen(encodings));
    }

    private List<List<float[][]>> logitsBatchOpen(List<DocumentEncoding> encodings) {
        List<int[]> flat = new ArrayList<>();
        for (DocumentEncoding encoding : encodings) {
            flat.addAll(encoding.windowInputIds());
        }
        List<float[][]> outputs = forwardWindowsOpen(flat);
        List<List<float[][]>> result = new ArrayList<>(encodings.size());
        int offset = 0;
        for (DocumentEncoding encoding : encodings) {
            result.add(outputs.subList(offset, offset + encoding.windows().size()));
            offset += encoding.windows().size();
        }
        return result;
    }

    /** Logits of each window of one text, {@code [CLS]} and {@code [SEP]} rows included. */
    public List<float[][]> logits(String text) {
        return whileOpen(() -> logitsBatchOpen(List.of(encodeOpen(text))).get(0));
    }

    // ------------------------------------------------------------ 3. logits -> entities

    /** Entities of one text. */
    public List<Entity> predict(String text) {
        return predictBatch(List.of(text)).get(0);
    }

    /** Entities of each text; the windows of all texts share forward passes. */
    public List<List<Entity>> predictBatch(List<String> texts) {
        return whileOpen(() -> predictEncodedOpen(encodeBatchOpen(texts)));
    }

    /**
     * Entities of texts already encoded with {@link #encode} (on any thread): the windows of all of
     * them share forward passes, decoded as {@link #predictBatch} decodes. Lets a caller that gathers
     * texts from many requests (the HTTP service's micro-batcher) count their windows before it runs them.
     */
    public List<List<Entity>> predictEncoded(List<DocumentEncoding> encodings) {
        return whileOpen(() -> predictEncodedOpen(encodings));
    }

    private List<List<Entity>> predictEncodedOpen(List<DocumentEncoding> encodings) { // the caller holds the read lock
        List<List<float[][]>> allLogits = logitsBatchOpen(encodings);
        List<List<Entity>> entities = new ArrayList<>(encodings.size());
        for (int i = 0; i < encodings.size(); i++) {
            entities.add(Decoder.decodeDocument(encodings.get(i), allLogits.get(i), bundle.tables(), bundle.decoding()));
        }
        return entities;
    }

    // ------------------------------------------------------------ the native resources and close()

    /**
     * Run {@code action} holding the read lock, after checking that the model is open: a concurrent
     * {@link #close} waits until it returns. Package-private for the tests, which hold the lock with it.
     */
    <T> T whileOpen(Supplier<T> action) {
        Lock read = lock.readLock();
        read.lock();
        try {
            checkOpen();
            return action.get();
        } finally {
            read.unlock();
        }
    }

    private void checkOpen() { // the caller holds the read lock
        if (closed) {
            throw new IllegalStateException("model is closed");
        }
    }

    /**
     * Free the native session and tokenizer, once; closing again does nothing. Waits for the calls in
     * progress on other threads to finish; calls made after it throw {@link IllegalStateException}.
     * The ONNX Runtime environment is process-wide and stays (its {@code close} is a no-op; a JVM
     * shutdown hook frees it).
     *
     * @throws IllegalStateException when called from inside a call of this model on the same thread
     *     (it would wait for itself forever)
     */
    @Override
    public void close() {
        if (lock.getReadHoldCount() > 0) {
            throw new IllegalStateException("close() called while this thread is using the model");
        }
        Lock write = lock.writeLock();
        write.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            closeQuietly(session);
            tokenizer.close();
        } finally {
            write.unlock();
        }
    }

    private static void closeQuietly(OrtSession session) {
        if (session == null) {
            return;
        }
        try {
            session.close();
        } catch (OrtException ignored) {
            // closing is best effort; nothing useful to do with a failure here
        }
    }

    @Override
    public String toString() {
        return "NerModel(" + bundle + ", threads=" + options.threads() + ", batch_size=" + options.batchSize() + ")";
    }
}
