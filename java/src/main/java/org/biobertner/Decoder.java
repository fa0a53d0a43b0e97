package org.biobertner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Logits to entities, without a model: a port of {@code biobert_ner/entities.py}
 * ({@code softmax}, {@code token_probabilities}, {@code word_predictions}, {@code decode_document},
 * {@code word_label_ids} and {@code entities_from_word_tags}).
 *
 * <p>A word is read from the label probabilities of its <em>first</em> sub-word (found from the
 * tokenizer's word ids, never guessed from {@code ##} or white space); each token is read from the
 * window where it has the most context; the text's tags are decoded together ({@link Decoding}:
 * Viterbi over the bundle's {@link DecodingTables}, or argmax, as the bundle says), repaired with the same tables (a no-op after Viterbi) and
 * read as spans; an entity's score is the mean of its words' probabilities. Softmax runs in float32
 * like numpy.
 */
public final class Decoder {

    /** One tag and one probability per word. */
    public record WordPredictions(List<String> tags, double[] scores) {}

    private Decoder() {}

    /** Probabilities over one row of logits, shifted by the maximum so large logits do not overflow. */
    public static float[] softmax(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float value : logits) {
            max = Math.max(max, value);
        }
        float[] exps = new float[logits.length];
        float sum = 0f;
        for (int i = 0; i < logits.length; i++) {
            exps[i] = (float) Math.exp(logits[i] - max);
            sum += exps[i];
        }
        for (int i = 0; i < exps.length; i++) {
            exps[i] /= sum;
        }
        return exps;
    }

    /**
     * One value per word: the value of the word's first token ({@code -1} for a word with no token).
     * Given token positions as the values, it tells where each word's first token is.
     */
    public static int[] wordLabelIds(int[] wordIds, int[] tokenLabelIds, int numWords) {
        int[] perWord = new int[numWords];
        Arrays.fill(perWord, -1);
        int previousWord = -1;
        for (int token = 0; token < wordIds.length; token++) {
            int wordId = wordIds[token];
            if (wordId >= 0 && wordId != previousWord) {
                perWord[wordId] = tokenLabelIds[token];
            }
            previousWord = wordId;
        }
        return perWord;
    }

    /** Label probabilities of each window token, the {@code [CLS]}/{@code [SEP]} rows left out. */
    public static List<float[]> tokenProbabilities(float[][] windowLogits) {
        List<float[]> probabilities = new ArrayList<>(Math.max(0, windowLogits.length - 2));
        for (int row = 1; row < windowLogits.length - 1; row++) {
            probabilities.add(softmax(windowLogits[row]));
        }
        return probabilities;
    }

    /**
     * One tag and its probability per word, decoded from the label probabilities of each word's
     * first sub-word, by {@code method} ({@link Decoding}) over {@code tables}. A word's
     * score is the probability of its tag. A word with no sub-word at all (a lone control
     * character, which the tokenizer drops) is {@code O} with probability 1: the model never saw it.
     */
    public static WordPredictions wordPredictions(
            DocumentEncoding encoding, List<float[][]> windowLogits, DecodingTables tables, Decoding.Method method) {
        List<String> labelNames = tables.labels();
        if (windowLogits.size() != encoding.windows().size()) {
            throw new IllegalArgumentException(
                    encoding.windows().size() + " windows but " + windowLogits.size() + " logit arrays");
        }
        List<List<float[]>> perWindow = new ArrayList<>();
        for (float[][] logits : windowLogits) {
            perWindow.add(tokenProbabilities(logits));
        }
        int numTokens = encoding.numTokens();
        List<float[]> perToken = numTokens > 0
                ? Windows.mergeWindowPredictions(encoding.windows(), perWindow, numTokens)
                : List.of();
        int[] positions = new int[numTokens];
        Arrays.setAll(positions, i -> i);
        int[] firstTokens = wordLabelIds(encoding.wordIds(), positions, encoding.words().size());
        List<double[]> wordLogProbs = new ArrayList<>(firstTokens.length);
        for (int token : firstTokens) {
            if (token < 0) {
                wordLogProbs.add(null);
                continue;
            }
            float[] probabilities = perToken.get(token);
            double[] logProbs = new double[probabilities.length];
            for (int label = 0; label < logProbs.length; label++) {
                logProbs[label] = Math.log(probabilities[label]); // float to double first, as numpy's astype(float64)
            }
            wordLogProbs.add(logProbs);
        }
        List<String> tags = Decoding.decodeWordTags(wordLogProbs, tables, method);
        double[] scores = new double[firstTokens.length];
        for (int word = 0; word < firstTokens.length; word++) {
            int token = firstTokens[word];
            scores[word] = token < 0 ? 1.0 : perToken.get(token)[labelNames.indexOf(tags.get(word))];
        }
        return new WordPredictions(tags, scores);
    }

    /**
     * Word tags to repaired tags ({@link DecodingTables#repair}) to spans to entities with offsets into
     * {@code text}. An entity's score is the mean of its words' scores.
     */
    public static List<Entity> entitiesFromWordTags(
            String text, List<Word> words, List<String> tags, double[] wordScores, DecodingTables tables) {
        if (words.size() != tags.size()) {
            throw new IllegalArgumentException(words.size() + " words but " + tags.size() + " tags");
        }
        List<Entity> entities = new ArrayList<>();
        for (Span span : Schemes.spansFromTags(tables.repair(tags))) {
            int start = words.get(span.start()).start();
            int end = words.get(span.end() - 1).end();
            double sum = 0.0;
            for (int word = span.start(); word < span.end(); word++) {
                sum += wordScores == null ? 1.0 : wordScores[word];
            }
            entities.add(Entity.fromUtf16Span(text, span.type(), start, end, sum / (span.end() - span.start())));
        }
        return entities;
    }

    /** Entities of one text from its windows' logits (hand-written logits work: no model needed). */
    public static List<Entity> decodeDocument(
            DocumentEncoding encoding, List<float[][]> windowLogits, DecodingTables tables, Decoding.Method method) {
        WordPredictions predictions = wordPredictions(encoding, windowLogits, tables, method);
        return entitiesFromWordTags(encoding.text(), encoding.words(), predictions.tags(), predictions.scores(), tables);
    }
}
