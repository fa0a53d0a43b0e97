package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The bundle's IOB2 tables and Viterbi over them against brute force, as {@code tests/test_decoding.py}. */
class DecodingTest {

    static final List<String> LABELS = List.of("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease");
    static final DecodingTables TABLES = GoldenBundle.iob2Tables(LABELS);

    @Test
    void theBundleTablesAreTheIob2Rule() {
        boolean[][] allowed = TABLES.transitions();
        assertArrayEquals(new boolean[] {true, true, false, true, false}, allowed[0]); // after O
        assertArrayEquals(new boolean[] {true, true, true, true, false}, allowed[1]); // after B-Chemical
        assertArrayEquals(new boolean[] {true, true, true, true, false}, allowed[2]); // after I-Chemical
        assertArrayEquals(new boolean[] {true, true, false, true, true}, allowed[3]); // after B-Disease
        assertArrayEquals(new boolean[] {true, true, false, true, true}, allowed[4]); // after I-Disease
        assertArrayEquals(new boolean[] {true, true, false, true, false}, TABLES.starts());
        assertArrayEquals(new boolean[] {true, true, true, true, true}, TABLES.ends());
    }

    @Test
    void repairStartsAnEntityWhereTheTablesForbidItsLabel() {
        // the cases of Python's test_repair_iob2 that IOB2 labels can express
        assertEquals(List.of("B-Chemical", "I-Chemical", "O"), TABLES.repair(List.of("I-Chemical", "I-Chemical", "O")));
        assertEquals(List.of("B-Chemical", "B-Disease", "I-Disease"), TABLES.repair(List.of("B-Chemical", "I-Disease", "I-Disease")));
        assertEquals(List.of("B-Disease", "O", "B-Disease"), TABLES.repair(List.of("B-Disease", "O", "I-Disease")));
        assertEquals(List.of(), TABLES.repair(List.of()));
        assertThrows(IllegalArgumentException.class, () -> TABLES.repair(List.of("E-Disease")));
    }

    /** The best valid sequence's score, by trying every sequence. */
    static double bruteForce(double[][] logProbs) {
        int n = LABELS.size();
        double best = Double.NEGATIVE_INFINITY;
        int total = (int) Math.pow(n, logProbs.length);
        for (int code = 0; code < total; code++) {
            List<String> tags = new ArrayList<>();
            double score = 0;
            int rest = code;
            for (double[] row : logProbs) {
                tags.add(LABELS.get(rest % n));
                score += row[rest % n];
                rest /= n;
            }
            if (TABLES.repair(tags).equals(tags)) { // valid IOB2: repair changes nothing
                best = Math.max(best, score);
            }
        }
        return best;
    }

    @Test
    void viterbiFindsTheBestValidSequence() {
        Random random = new Random(42);
        for (int trial = 0; trial < 200; trial++) {
            double[][] logProbs = new double[1 + random.nextInt(5)][LABELS.size()];
            for (double[] row : logProbs) {
                for (int label = 0; label < row.length; label++) {
                    row[label] = -3 * Math.abs(random.nextGaussian());
                }
            }
            int[] path = Decoding.viterbiPath(logProbs, TABLES);
            List<String> tags = new ArrayList<>();
            double score = 0;
            for (int word = 0; word < path.length; word++) {
                tags.add(LABELS.get(path[word]));
                score += logProbs[word][path[word]];
            }
            assertEquals(TABLES.repair(tags), tags, "valid IOB2");
            assertEquals(bruteForce(logProbs), score, 1e-9);
        }
    }

    @Test
    void anInsideTagThatBreaksIob2IsWeighedNotKept() {
        double[][] probableStart = logs(new double[][] {{0.55, 0.001, 0.001, 0.40, 0.048}, {0.2, 0.001, 0.001, 0.1, 0.698}});
        assertEquals(List.of("O", "I-Disease"), Decoding.decodeWordTags(Arrays.asList(probableStart), TABLES, Decoding.Method.ARGMAX));
        assertEquals(List.of("B-Disease", "I-Disease"), Decoding.decodeWordTags(Arrays.asList(probableStart), TABLES, Decoding.Method.VITERBI));
        double[][] unlikelyStart = logs(new double[][] {{0.9, 0.001, 0.001, 0.05, 0.048}, {0.35, 0.001, 0.001, 0.05, 0.598}});
        assertEquals(List.of("O", "O"), Decoding.decodeWordTags(Arrays.asList(unlikelyStart), TABLES, Decoding.Method.VITERBI));
    }

    @Test
    void unseenWordIsOutsideAndBreaksAnEntity() {
        double[] start = logs(new double[][] {{0.05, 0.001, 0.001, 0.9, 0.048}})[0];
        double[] inside = logs(new double[][] {{0.05, 0.001, 0.001, 0.048, 0.9}})[0];
        List<double[]> words = new ArrayList<>();
        words.add(start);
        words.add(null);
        words.add(inside);
        List<String> tags = Decoding.decodeWordTags(words, TABLES, Decoding.Method.VITERBI);
        assertEquals("O", tags.get(1));
        assertEquals(TABLES.repair(tags), tags);
        assertTrue(Decoding.decodeWordTags(List.of(), TABLES, Decoding.Method.VITERBI).isEmpty());
    }

    @Test
    void wrongRowLengthIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> Decoding.viterbiPath(new double[3][4], TABLES));
    }

    static double[][] logs(double[][] probabilities) {
        double[][] result = new double[probabilities.length][];
        for (int i = 0; i < probabilities.length; i++) {
            result[i] = new double[probabilities[i].length];
            for (int j = 0; j < probabilities[i].length; j++) {
                result[i][j] = Math.log(probabilities[i][j]);
            }
        }
        return result;
    }
}
