package org.biobertner;

import java.util.List;

/**
 * Everything the model input of one text is made of: Python's {@code windows.DocumentEncoding}.
 *
 * @param text the input text
 * @param words pre-tokenized words with UTF-16 offsets into {@code text}
 * @param tokenIds sub-word ids of the whole text, no special tokens
 * @param wordIds for each sub-word, the index of its word
 * @param windows token ranges, see {@link Windows#planWindows}
 * @param windowInputIds the model input of each window: {@code [CLS] + window tokens + [SEP]}
 */
public record DocumentEncoding(
        String text, List<Word> words, int[] tokenIds, int[] wordIds, List<Window> windows, List<int[]> windowInputIds) {

    public int numTokens() {
        return tokenIds.length;
    }
}
