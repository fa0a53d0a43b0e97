package org.biobertner;

import java.util.ArrayList;
import java.util.List;

/**
 * Label scores per word to tags: a port of {@code biobert_ner/decoding.py} ({@code viterbi_path},
 * {@code decode_word_labels}, {@code decode_word_tags}).
 *
 * <p>{@link Method#VITERBI} finds, among the tag sequences the bundle's {@link DecodingTables}
 * allow, the one with the highest total log-probability. {@link Method#ARGMAX} takes each word's
 * best label on its own (which may break the scheme; the decoder repairs it). Which one a bundle
 * uses is its {@code decoding} setting, the one the model was scored with. Sums run in double,
 * ties go to the lowest label id, as numpy's {@code argmax}.
 */
public final class Decoding {

    /** How word tags are read from the model's label scores. */
    public enum Method {
        /** The most probable sequence the decoding tables allow. */
        VITERBI,
        /** Each word's best label (may break the scheme: repaired later). */
        ARGMAX;

        /** {@code "viterbi"} or {@code "argmax"}, as {@code bundle.json} and Python spell it. */
        public static Method parse(String value) {
            for (Method method : values()) {
                if (method.name().toLowerCase(java.util.Locale.ROOT).equals(value)) {
                    return method;
                }
            }
            throw new IllegalArgumentException("decoding must be one of viterbi, argmax, not '" + value + "'");
        }

        /** The name {@code bundle.json} and Python use. */
        public String value() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private Decoding() {}

    /** The label ids of the most probable sequence the tables allow, from {@code logProbs[word][label]}. */
    public static int[] viterbiPath(double[][] logProbs, DecodingTables tables) {
        int n = tables.labels().size();
        for (double[] row : logProbs) {
            if (row.length != n) {
                throw new IllegalArgumentException("log-probabilities must have " + n + " labels per word, got " + row.length);
            }
        }
        if (logProbs.length == 0) {
            return new int[0];
        }
        boolean[][] allowed = tables.transitions();
        boolean[] starts = tables.starts();
        double[] best = new double[n];
        for (int label = 0; label < n; label++) {
            best[label] = starts[label] ? logProbs[0][label] : Double.NEGATIVE_INFINITY;
        }
        int[][] cameFrom = new int[logProbs.length][n];
        for (int word = 1; word < logProbs.length; word++) {
            double[] next = new double[n];
            for (int label = 0; label < n; label++) {
                int bestPrevious = 0;
                double bestScore = allowed[0][label] ? best[0] : Double.NEGATIVE_INFINITY;
                for (int previous = 1; previous < n; previous++) {
                    double score = allowed[previous][label] ? best[previous] : Double.NEGATIVE_INFINITY;
                    if (score > bestScore) { // the first of equal maxima wins, as numpy's argmax
                        bestScore = score;
                        bestPrevious = previous;
                    }
                }
                cameFrom[word][label] = bestPrevious;
                next[label] = bestScore + logProbs[word][label];
            }
            best = next;
        }
        for (int label = 0; label < n; label++) {
            best[label] = tables.ends()[label] ? best[label] : Double.NEGATIVE_INFINITY;
        }
        int[] path = new int[logProbs.length];
        path[path.length - 1] = argmax(best);
        for (int word = path.length - 1; word > 0; word--) {
            path[word - 1] = cameFrom[word][path[word]];
        }
        return path;
    }

    /** One label id per word: Viterbi's path, or each row's best label. */
    public static int[] decodeWordLabels(double[][] logProbs, DecodingTables tables, Method method) {
        if (method == Method.ARGMAX) {
            int[] ids = new int[logProbs.length];
            for (int word = 0; word < ids.length; word++) {
                ids[word] = argmax(logProbs[word]);
            }
            return ids;
        }
        return viterbiPath(logProbs, tables);
    }

    /**
     * One tag per word; {@code null} marks a word the model never saw (no sub-word): it is certainly
     * {@code O} in the search (log-probability 0 for {@code O}, minus infinity for the rest), so no
     * entity continues across it.
     */
    public static List<String> decodeWordTags(List<double[]> wordLogProbs, DecodingTables tables, Method method) {
        List<String> labels = tables.labels();
        double[] certainlyOutside = new double[labels.size()];
        for (int label = 0; label < certainlyOutside.length; label++) {
            certainlyOutside[label] = Schemes.OUTSIDE.equals(labels.get(label)) ? 0.0 : Double.NEGATIVE_INFINITY;
        }
        double[][] rows = new double[wordLogProbs.size()][];
        for (int word = 0; word < rows.length; word++) {
            rows[word] = wordLogProbs.get(word) == null ? certainlyOutside : wordLogProbs.get(word);
        }
        List<String> tags = new ArrayList<>(rows.length);
        for (int label : decodeWordLabels(rows, tables, method)) {
            tags.add(labels.get(label));
        }
        return tags;
    }

    private static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }
}
