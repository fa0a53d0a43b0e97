package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Expected values computed with biobert_ner.windows.plan_windows / best_window_per_token. */
class WindowsTest {

    static Stream<Arguments> plans() {
        return Stream.of(
                Arguments.of(0, 4, 1, new int[][] {{0, 0}}, new int[] {}),
                Arguments.of(3, 4, 1, new int[][] {{0, 3}}, new int[] {0, 0, 0}),
                Arguments.of(4, 4, 1, new int[][] {{0, 4}}, new int[] {0, 0, 0, 0}),
                Arguments.of(5, 4, 1, new int[][] {{0, 4}, {1, 5}}, new int[] {0, 0, 0, 1, 1}),
                Arguments.of(10, 4, 1, new int[][] {{0, 4}, {3, 7}, {6, 10}}, new int[] {0, 0, 0, 0, 1, 1, 1, 2, 2, 2}),
                Arguments.of(10, 4, 0, new int[][] {{0, 4}, {4, 8}, {6, 10}}, new int[] {0, 0, 0, 0, 1, 1, 1, 2, 2, 2}),
                Arguments.of(11, 5, 2, new int[][] {{0, 5}, {3, 8}, {6, 11}}, new int[] {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2}),
                Arguments.of(7, 3, 2, new int[][] {{0, 3}, {1, 4}, {2, 5}, {3, 6}, {4, 7}}, new int[] {0, 0, 1, 2, 3, 4, 4}));
    }

    @ParameterizedTest
    @MethodSource("plans")
    void plansAndChoicesMatchPython(int numTokens, int maxTokens, int stride, int[][] expected, int[] choice) {
        List<Window> windows = Windows.planWindows(numTokens, maxTokens, stride);
        List<Window> expectedWindows = new ArrayList<>();
        for (int[] window : expected) {
            expectedWindows.add(new Window(window[0], window[1]));
        }
        assertEquals(expectedWindows, windows);
        assertArrayEquals(choice, Windows.bestWindowPerToken(windows, numTokens));
    }

    @Test
    void everyWindowButTheLastStepsByMaxMinusStride() {
        List<Window> windows = Windows.planWindows(1000, 254, 64);
        for (int i = 0; i + 2 < windows.size(); i++) {
            assertEquals(190, windows.get(i + 1).start() - windows.get(i).start());
        }
        assertEquals(1000, windows.get(windows.size() - 1).end());
        windows.forEach(window -> assertEquals(254, window.size()));
    }

    @Test
    void mergeReadsEachTokenFromItsBestWindow() {
        List<Window> windows = Windows.planWindows(5, 4, 1); // (0,4), (1,5)
        List<List<String>> predictions = List.of(List.of("a0", "a1", "a2", "a3"), List.of("b1", "b2", "b3", "b4"));
        assertEquals(List.of("a0", "a1", "a2", "b3", "b4"), Windows.mergeWindowPredictions(windows, predictions, 5));
    }

    @Test
    void badStrideIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> Windows.planWindows(10, 4, 4));
        assertThrows(IllegalArgumentException.class, () -> Windows.planWindows(10, 4, -1));
        assertThrows(IllegalArgumentException.class, () -> Windows.planWindows(10, 0, 0));
    }
}
