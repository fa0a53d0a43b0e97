package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Decoding and offsets with hand-written logits: no model, no weights. */
class DecoderTest {

    static final List<String> LABELS = List.of("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene");
    static final DecodingTables TABLES = GoldenBundle.iob2Tables(LABELS);
    static final int O = 0, B_DIS = 3, I_DIS = 4, B_GENE = 5, I_GENE = 6;
    static final float HIGH = 5f;
    /** Probability of the label with logit HIGH among 7 labels whose other logits are 0. */
    static final double P = Math.exp(HIGH) / (Math.exp(HIGH) + 6);

    /** Logit rows for {@code [CLS]}, one row per given label, {@code [SEP]}. */
    static float[][] windowLogits(int... labels) {
        float[][] rows = new float[labels.length + 2][LABELS.size()];
        for (int i = 0; i < labels.length; i++) {
            rows[i + 1][labels[i]] = HIGH;
        }
        rows[0][O] = HIGH;
        rows[labels.length + 1][O] = HIGH;
        return rows;
    }

    static DocumentEncoding encoding(String text, int[] wordIds, List<Window> windows) {
        int[] tokenIds = new int[wordIds.length];
        java.util.Arrays.setAll(tokenIds, i -> 100 + i);
        List<int[]> inputs = new ArrayList<>();
        for (Window window : windows) {
            inputs.add(new int[window.size() + 2]);
        }
        return new DocumentEncoding(text, PreTokenizer.pretokenize(text), tokenIds, wordIds, windows, inputs);
    }

    // "🤒 fever, 𝛼-synuclein in PD": two characters outside the BMP before the entities, so UTF-16
    // offsets (Java) and code-point offsets (Python, JSON) differ.
    static final String TEXT = "🤒 fever, 𝛼-synuclein in PD";
    // words: 🤒 fever , 𝛼 - synuclein in PD; "synuclein" is three sub-words
    static final int[] WORD_IDS = {0, 1, 2, 3, 4, 5, 5, 5, 6, 7};

    static void assertEntity(Entity entity, String type, String text, int utf16Start, int utf16End, int cpStart, int cpEnd, double score) {
        assertEquals(type, entity.type());
        assertEquals(text, entity.text());
        assertEquals(utf16Start, entity.start(), "UTF-16 start");
        assertEquals(utf16End, entity.end(), "UTF-16 end");
        assertEquals(cpStart, entity.codePointStart(), "code-point start");
        assertEquals(cpEnd, entity.codePointEnd(), "code-point end");
        assertEquals(score, entity.score(), 1e-6);
        assertEquals(text, TEXT.substring(entity.start(), entity.end()));
    }

    @Test
    void oneWindowFirstSubWordRuleRepairAndOffsets() {
        List<Window> windows = Windows.planWindows(WORD_IDS.length, 62, 16);
        // continuation pieces of "synuclein" say O: ignored, the first piece decides
        float[][] logits = windowLogits(O, I_DIS, O, B_GENE, I_GENE, I_GENE, O, O, O, B_DIS);
        List<Entity> entities = Decoder.decodeDocument(
                encoding(TEXT, WORD_IDS, windows), List.<float[][]>of(logits), TABLES, Decoding.Method.ARGMAX);
        assertEquals(3, entities.size(), entities.toString());
        assertEntity(entities.get(0), "Disease", "fever", 3, 8, 2, 7, P); // I-Disease at the start: repaired to B
        assertEntity(entities.get(1), "Gene", "𝛼-synuclein", 10, 22, 9, 20, P);
        assertEntity(entities.get(2), "Disease", "PD", 26, 28, 24, 26, P);
    }

    @Test
    void twoWindowsEachTokenFromItsBestWindow() {
        List<Window> windows = Windows.planWindows(WORD_IDS.length, 6, 2); // (0,6), (4,10)
        assertEquals(List.of(new Window(0, 6), new Window(4, 10)), windows);
        // token 4 ("-") is read from window 0, token 5 (first piece of "synuclein") from window 1:
        // the other window's opinion on each must not matter
        float[][] first = windowLogits(O, I_DIS, O, B_GENE, I_GENE, O);
        float[][] second = windowLogits(O, I_GENE, O, O, O, B_DIS);
        List<Entity> entities = Decoder.decodeDocument(
                encoding(TEXT, WORD_IDS, windows), List.of(first, second), TABLES, Decoding.Method.ARGMAX);
        assertEquals(3, entities.size(), entities.toString());
        assertEntity(entities.get(1), "Gene", "𝛼-synuclein", 10, 22, 9, 20, P);
    }

    @Test
    void wordWithoutSubWordIsOutsideWithScoreOne() {
        String text = "a \u0000 b";
        int[] wordIds = {0, 2}; // NUL (word 1) is dropped by the normalizer: no sub-word
        List<Window> windows = Windows.planWindows(2, 62, 16);
        Decoder.WordPredictions words = Decoder.wordPredictions(
                encoding(text, wordIds, windows), List.<float[][]>of(windowLogits(B_GENE, I_GENE)), TABLES, Decoding.Method.ARGMAX);
        assertEquals(List.of("B-Gene", "O", "I-Gene"), words.tags());
        assertArrayEquals(new double[] {P, 1.0, P}, words.scores(), 1e-6);
        List<Entity> entities = Decoder.decodeDocument(
                encoding(text, wordIds, windows), List.<float[][]>of(windowLogits(B_GENE, I_GENE)), TABLES, Decoding.Method.ARGMAX);
        assertEquals(2, entities.size()); // the O in between splits them; the lone I-Gene became B-Gene
        assertEntity2(entities.get(1), "Gene", "b", 4, 5);
        // Viterbi: nothing continues across the unseen word; "b" is then O, B-anything or nothing alike (tie: O)
        Decoder.WordPredictions viterbi = Decoder.wordPredictions(
                encoding(text, wordIds, windows), List.<float[][]>of(windowLogits(B_GENE, I_GENE)), TABLES, Decoding.Method.VITERBI);
        assertEquals(List.of("B-Gene", "O", "O"), viterbi.tags());
    }

    private static void assertEntity2(Entity entity, String type, String text, int start, int end) {
        assertEquals(type, entity.type());
        assertEquals(text, entity.text());
        assertEquals(start, entity.start());
        assertEquals(end, entity.end());
    }

    @Test
    void viterbiWeighsAnEntityWithoutItsStartAgainstNone() {
        // the same case as Python's test_viterbi_decoding_weighs_an_entity_without_its_start_against_none
        DecodingTables tables = GoldenBundle.iob2Tables(List.of("O", "B-Disease", "I-Disease"));
        String text = "Cisplatin nephrotoxicity .";
        int[] wordIds = {0, 1, 1, 2};
        List<Window> windows = Windows.planWindows(4, 62, 16);
        float[][] logits = new float[6][3]; // [CLS], Cisplatin, nephro, ##toxicity, ., [SEP]
        logits[1] = new float[] {3f, 0f, 0f};
        logits[2] = new float[] {0f, 2f, 2.5f}; // I-Disease best, B-Disease close behind
        logits[4] = new float[] {3f, 0f, 0f};
        List<Entity> entities = Decoder.decodeDocument(encoding(text, wordIds, windows), List.<float[][]>of(logits), tables, Decoding.Method.VITERBI);
        assertEquals(1, entities.size(), entities.toString());
        assertEntity2(entities.get(0), "Disease", "nephrotoxicity", 10, 24);
        assertEquals(Decoder.softmax(logits[2])[1], entities.get(0).score(), 1e-7); // the probability of the tag chosen
        logits[2] = new float[] {2.4f, 0f, 2.5f}; // O nearly as likely as I-, B- is not: no entity
        assertEquals(List.of(), Decoder.decodeDocument(encoding(text, wordIds, windows), List.<float[][]>of(logits), tables, Decoding.Method.VITERBI));
        List<Entity> repaired = Decoder.decodeDocument(
                encoding(text, wordIds, windows), List.<float[][]>of(logits), tables, Decoding.Method.ARGMAX);
        assertEntity2(repaired.get(0), "Disease", "nephrotoxicity", 10, 24);
    }

    @Test
    void nothingFound() {
        List<Window> windows = Windows.planWindows(WORD_IDS.length, 62, 16);
        float[][] logits = windowLogits(O, O, O, O, O, O, O, O, O, O);
        assertEquals(List.of(), Decoder.decodeDocument(encoding(TEXT, WORD_IDS, windows), List.<float[][]>of(logits), TABLES, Decoding.Method.VITERBI));
    }

    @Test
    void emptyText() {
        DocumentEncoding empty = new DocumentEncoding("", List.of(), new int[0], new int[0], List.of(), List.of());
        assertEquals(List.of(), Decoder.decodeDocument(empty, List.of(), TABLES, Decoding.Method.VITERBI));
    }

    @Test
    void entityScoreIsTheMeanOfItsWordsProbabilities() {
        String text = "alpha beta";
        float[][] logits = new float[4][LABELS.size()];
        logits[1][B_GENE] = 5f;
        logits[2][I_GENE] = 1f; // probability e/(e+6)
        List<Entity> entities = Decoder.decodeDocument(
                encoding(text, new int[] {0, 1}, Windows.planWindows(2, 62, 16)), List.<float[][]>of(logits), TABLES, Decoding.Method.VITERBI);
        double p2 = Math.exp(1) / (Math.exp(1) + 6);
        assertEquals(1, entities.size());
        assertEquals((P + p2) / 2, entities.get(0).score(), 1e-6);
    }

    @Test
    void softmaxIsStableAndArgmaxTakesTheFirstMaximum() {
        assertArrayEquals(new float[] {0.5f, 0.5f}, Decoder.softmax(new float[] {1000f, 1000f}), 1e-7f);
        assertArrayEquals(new float[] {1f, 0f}, Decoder.softmax(new float[] {1000f, -1000f}), 1e-7f);
    }

    @Test
    void wordLabelIdsTakesTheFirstToken() {
        assertArrayEquals(new int[] {10, -1, 13, 14}, Decoder.wordLabelIds(new int[] {0, 0, 2, 2, 3}, new int[] {10, 11, 13, 12, 14}, 4));
    }

    @Test
    void mismatchedCountsAreErrors() {
        List<Window> windows = Windows.planWindows(WORD_IDS.length, 62, 16);
        assertThrows(IllegalArgumentException.class,
                () -> Decoder.decodeDocument(encoding(TEXT, WORD_IDS, windows), List.of(), TABLES, Decoding.Method.VITERBI));
        assertThrows(IllegalArgumentException.class,
                () -> Decoder.entitiesFromWordTags("a b", PreTokenizer.pretokenize("a b"), List.of("O"), null, TABLES));
    }

    @Test
    void roundedScoreIsPrintedLikePython() {
        assertEquals("0.1235", new Entity("Gene", "x", 0, 1, 0, 1, 0.12345678).roundedScore());
        assertEquals("0.5", new Entity("Gene", "x", 0, 1, 0, 1, 0.5).roundedScore());
        assertEquals("1.0", new Entity("Gene", "x", 0, 1, 0, 1, 0.99999).roundedScore());
        assertEquals("0.0001", new Entity("Gene", "x", 0, 1, 0, 1, 0.0001).roundedScore());
        assertEquals("0.0", new Entity("Gene", "x", 0, 1, 0, 1, 0.00001).roundedScore());
    }

    @Test
    void jsonLineUsesCodePointOffsets() {
        Entity entity = Entity.fromUtf16Span(TEXT, "Gene", 10, 22, 0.96);
        // what Python's json.dumps({"text": ..., "entities": [e.to_dict()]}, ensure_ascii=False) prints
        assertEquals("{\"text\": \"🤒 fever, 𝛼-synuclein in PD\", \"entities\": [{\"type\": \"Gene\", \"text\": \"𝛼-synuclein\", "
                + "\"start\": 9, \"end\": 20, \"score\": 0.96}]}", Json.predictionLine(TEXT, List.of(entity)));
        assertEquals("{\"text\": \"a\\\"b\\\\c\\td\\u0000\\u001f\u2028\u007f\", \"entities\": []}",
                Json.predictionLine("a\"b\\c\td\u0000\u001f\u2028\u007f", List.of()));
    }
}
