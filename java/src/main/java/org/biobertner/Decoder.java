package org.biobertner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Logits to entities, without a model: a port of step 3 of {@code biobert_ner/inference.py}
 * ({@code softmax}, {@code token_predictions}, {@code word_predictions}, {@code decode_document})
 * and of {@code alignment.word_label_ids} and {@code alignment.entities_from_word_tags}.
 *
 * <p>A word's label is the label predicted for its <em>first</em> sub-word (found from the
 * tokenizer's word ids, never guessed from {@code ##} or white space); each token is read from the
 * window where it has the most context; tags are repaired to IOB2 and read as spans; an entity's
 * score is the mean of its words' probabilities. Softmax and argmax run in float32 like numpy.
 */
public final class Decoder {

    /** The best label of one token and its probability. */
    public record TokenPrediction(int label, float probability) {}

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

    /** {@code (label, probability)} of each window token, the {@code [CLS]}/{@code [SEP]} rows left out. */
    public static List<TokenPrediction> tokenPredictions(float[][] windowLogits) {
        List<TokenPrediction> predictions = new ArrayList<>(Math.max(0, windowLogits.length - 2));
        for (int row = 1; row < windowLogits.length - 1; row++) {
            float[] probabilities = softmax(windowLogits[row]);
            int best = 0; // argmax, the first of equal maxima wins (as numpy's argmax)
            for (int label = 1; label < probabilities.length; label++) {
                if (probabilities[label] > probabilities[best]) {
                    best = label;
                }
            }
            predictions.add(new TokenPrediction(best, probabilities[best]));
        }
        return predictions;
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

    /**
     * One tag and its probability per word, read from the word's first sub-word. A word with no
     * sub-word at all (a lone control character, which the tokenizer drops) is {@code O} with
     * probability 1: the model never saw it.
     */
    public static WordPredictions wordPredictions(
            DocumentEncoding encoding, List<float[][]> windowLogits, List<String> labelNames) {
        if (windowLogits.size() != encoding.windows().size()) {
            throw new IllegalArgumentException(
                    encoding.windows().size() + " windows but " + windowLogits.size() + " logit arrays");
        }
        List<List<TokenPrediction>> perWindow = new ArrayList<>();
        for (float[][] logits : windowLogits) {
            perWindow.add(tokenPredictions(logits));
        }
        int numTokens = encoding.numTokens();
        List<TokenPrediction> perToken = numTokens > 0
                ? Windows.mergeWindowPredictions(encoding.windows(), perWindow, numTokens)
                : List.of();
        int[] positions = new int[numTokens];
        Arrays.setAll(positions, i -> i);
        int[] firstTokens = wordLabelIds(encoding.wordIds(), positions, encoding.words().size());
        List<String> tags = new ArrayList<>(firstTokens.length);
        double[] scores = new double[firstTokens.length];
        for (int word = 0; word < firstTokens.length; word++) {
            int token = firstTokens[word];
            tags.add(token < 0 ? Schemes.OUTSIDE : labelNames.get(perToken.get(token).label()));
            scores[word] = token < 0 ? 1.0 : perToken.get(token).probability();
        }
        return new WordPredictions(tags, scores);
    }

    /**
     * Word tags to repaired IOB2 to spans to entities with offsets into {@code text}. An entity's
     * score is the mean of its words' scores.
     */
    public static List<Entity> entitiesFromWordTags(String text, List<Word> words, List<String> tags, double[] wordScores) {
        if (words.size() != tags.size()) {
            throw new IllegalArgumentException(words.size() + " words but " + tags.size() + " tags");
        }
        List<Entity> entities = new ArrayList<>();
        for (Span span : Schemes.spansFromTags(Schemes.repairIob2(tags))) {
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
            DocumentEncoding encoding, List<float[][]> windowLogits, List<String> labelNames) {
        WordPredictions predictions = wordPredictions(encoding, windowLogits, labelNames);
        return entitiesFromWordTags(encoding.text(), encoding.words(), predictions.tags(), predictions.scores());
    }
}
