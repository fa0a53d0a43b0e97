package org.biobertner;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The bundle's {@code tokenizer.json}, run by the Rust Hugging Face tokenizers library (through
 * DJL), the same code {@code transformers}' fast tokenizers run in Python: same normalizer (lower
 * casing, accents, control characters dropped, CJK characters split), same WordPiece.
 *
 * <p>Like {@code encode_documents} in Python it tokenizes an already pre-tokenized word list
 * ({@code is_split_into_words=True}) without special tokens and without truncation, and returns the
 * word index of every sub-word: a word's first sub-word is found from these word ids, never from
 * {@code ##} or white space.
 */
public final class SubwordTokenizer implements AutoCloseable {

    /** Sub-word ids of a word list and, for each sub-word, the index of its word. */
    public record Encoded(int[] tokenIds, int[] wordIds) {}

    private final HuggingFaceTokenizer tokenizer;

    private SubwordTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Load a {@code tokenizer.json}; truncation, padding and special tokens are all switched off. */
    public static SubwordTokenizer load(Path tokenizerJson) {
        try {
            return new SubwordTokenizer(HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(false) // each window gets its own [CLS] ... [SEP]
                    .optTruncation(false) // long texts are windowed, never cut
                    .optPadding(false)
                    .build());
        } catch (IOException | RuntimeException error) {
            throw new BundleException(tokenizerJson, "cannot be loaded by the tokenizers library: " + error.getMessage(), error);
        }
    }

    /** Tokenize pre-tokenized words (Python: {@code tokenizer(words, is_split_into_words=True, add_special_tokens=False)}). */
    public Encoded encodeWords(List<String> words) {
        if (words.isEmpty()) {
            return new Encoded(new int[0], new int[0]);
        }
        Encoding encoding = tokenizer.encode(words, false, false);
        long[] ids = encoding.getIds();
        long[] wordIds = encoding.getWordIds();
        int[] tokenIds = new int[ids.length];
        int[] tokenWords = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            tokenIds[i] = Math.toIntExact(ids[i]);
            tokenWords[i] = Math.toIntExact(wordIds[i]);
        }
        return new Encoded(tokenIds, tokenWords);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
