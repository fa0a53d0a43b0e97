package org.biobertner;

import java.util.ArrayList;
import java.util.List;

/**
 * Label scores per word to IOB2 tags: a port of {@code biobert_ner/decoding.py}
 * ({@code allowed_transitions}, {@code allowed_starts}, {@code viterbi_path},
 * {@code decode_word_labels}, {@code decode_word_tags}).
 *
 * <p>{@link Method#VITERBI} (the default) finds, among the tag sequences IOB2 allows, the one with
 * the highest total log-probability: {@code I-X} only after {@code B-X} or {@code I-X}, never first.
 * {@link Method#ARGMAX} takes each word's best label on its own (which may break IOB2; the decoder
 * repairs it). Sums run in double, ties go to the lowest label id, as numpy's {@code argmax}.
 */
public final class Decoding {

    /** How word tags are read from the model's label scores. */
    public enum Method {
        /** The most probable sequence that is valid IOB2. */
        VITERBI,
        /** Each word's best label (may break IOB2: repaired later). */
        ARGMAX
    }

    public static final Method DEFAULT = Method.VITERBI;

    private Decoding() {}

    /** {@code allowed[previous][next]}: whether IOB2 lets label {@code next} follow label {@code previous}. */
    public static boolean[][] allowedTransitions(List<String> labels) {
        int n = labels.size();
        boolean[][] allowed = new boolean[n][n];
        for (int previous = 0; previous < n; previous++) {
            Schemes.Tag before = Schemes.splitTag(labels.get(previous));
            for (int next = 0; next < n; next++) {
                Schemes.Tag after = Schemes.splitTag(labels.get(next));
                // only I-X is restricted: it continues an entity of type X (after B-X or I-X)
                allowed[previous][next] = !"I".equals(after.prefix())
                        || (("B".equals(before.prefix()) || "I".equals(before.prefix())) && after.type().equals(before.type()));
            }
        }
        return allowed;
    }

    /** Whether a sentence may start with each label: anything but an {@code I-}. */
    public static boolean[] allowedStarts(List<String> labels) {
        boolean[] allowed = new boolean[labels.size()];
        for (int label = 0; label < allowed.length; label++) {
            allowed[label] = !"I".equals(Schemes.splitTag(labels.get(label)).prefix());
        }
        return allowed;
    }

    /** The label ids of the most probable IOB2-valid sequence, from {@code logProbs[word][label]}. */
    public static int[] viterbiPath(double[][] logProbs, List<String> labels) {
        int n = labels.size();
        for (double[] row : logProbs) {
            if (row.length != n) {
                throw new IllegalArgumentException("log-probabilities must have " + n + " labels per word, got " + row.length);
            }
        }
        if (logProbs.length == 0) {
            return new int[0];
        }
        boolean[][] allowed = allowedTransitions(labels);
        boolean[] starts = allowedStarts(labels);
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
        int[] path = new int[logProbs.length];
        path[path.length - 1] = argmax(best);
        for (int word = path.length - 1; word > 0; word--) {
            path[word - 1] = cameFrom[word][path[word]];
        }
        return path;
    }

    /** One label id per word: Viterbi's path, or each row's best label. */
    public static int[] decodeWordLabels(double[][] logProbs, List<String> labels, Method method) {
        if (method == Method.ARGMAX) {
            int[] ids = new int[logProbs.length];
            for (int word = 0; word < ids.length; word++) {
                ids[word] = argmax(logProbs[word]);
            }
            return ids;
        }
        return viterbiPath(logProbs, labels);
    }

    /**
     * One tag per word; {@code null} marks a word the model never saw (no sub-word): it is certainly
     * {@code O} in the search (log-probability 0 for {@code O}, minus infinity for the rest), so no
     * entity continues across it.
     */
    public static List<String> decodeWordTags(List<double[]> wordLogProbs, List<String> labels, Method method) {
        double[] certainlyOutside = new double[labels.size()];
        for (int label = 0; label < certainlyOutside.length; label++) {
            certainlyOutside[label] = Schemes.OUTSIDE.equals(labels.get(label)) ? 0.0 : Double.NEGATIVE_INFINITY;
        }
        double[][] rows = new double[wordLogProbs.size()][];
        for (int word = 0; word < rows.length; word++) {
            rows[word] = wordLogProbs.get(word) == null ? certainlyOutside : wordLogProbs.get(word);
        }
        List<String> tags = new ArrayList<>(rows.length);
        for (int label : decodeWordLabels(rows, labels, method)) {
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
