package org.biobertner;

import java.util.ArrayList;
import java.util.List;

/**
 * Long documents as overlapping token windows: a port of the window functions of
 * {@code biobert_ner/alignment.py} ({@code plan_windows}, {@code best_window_per_token},
 * {@code merge_window_predictions}).
 */
public final class Windows {

    private Windows() {}

    /**
     * Overlapping windows of at most {@code maxTokens} sub-words covering {@code numTokens}.
     *
     * <p>Consecutive windows overlap by {@code stride} tokens; the last window is shifted left to end
     * exactly at the document's end, so it is full-sized too.
     */
    public static List<Window> planWindows(int numTokens, int maxTokens, int stride) {
        if (maxTokens <= 0 || stride < 0 || stride >= maxTokens) {
            throw new IllegalArgumentException(
                    "need 0 <= stride < max_tokens, got stride=" + stride + ", max_tokens=" + maxTokens);
        }
        List<Window> windows = new ArrayList<>();
        if (numTokens <= maxTokens) {
            windows.add(new Window(0, numTokens));
            return windows;
        }
        int step = maxTokens - stride;
        int start = 0;
        while (start + maxTokens < numTokens) {
            windows.add(new Window(start, start + maxTokens));
            start += step;
        }
        windows.add(new Window(numTokens - maxTokens, numTokens));
        return windows;
    }

    /**
     * For each token, the index of the window where it has the most context on its worse side.
     * Ties go to the earlier window.
     */
    public static int[] bestWindowPerToken(List<Window> windows, int numTokens) {
        int[] choice = new int[numTokens];
        int[] bestMargin = new int[numTokens];
        java.util.Arrays.fill(bestMargin, -1);
        for (int index = 0; index < windows.size(); index++) {
            Window window = windows.get(index);
            for (int position = window.start(); position < window.end(); position++) {
                int margin = Math.min(position - window.start(), window.end() - 1 - position);
                if (margin > bestMargin[position]) {
                    bestMargin[position] = margin;
                    choice[position] = index;
                }
            }
        }
        return choice;
    }

    /** Stitch per-window token predictions (without special tokens) into one per document token. */
    public static <T> List<T> mergeWindowPredictions(
            List<Window> windows, List<? extends List<T>> windowPredictions, int numTokens) {
        int[] choice = bestWindowPerToken(windows, numTokens);
        List<T> merged = new ArrayList<>(numTokens);
        for (int position = 0; position < numTokens; position++) {
            int w = choice[position];
            merged.add(windowPredictions.get(w).get(position - windows.get(w).start()));
        }
        return merged;
    }
}
