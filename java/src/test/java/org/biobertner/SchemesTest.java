package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Expected values computed with biobert_ner.schemes.spans_from_tags (repair is DecodingTables', see DecodingTest). */
class SchemesTest {

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(List.of("I-Gene", "I-Gene", "O"), List.of(new Span(0, 2, "Gene"))),
                Arguments.of(List.of("B-Chemical", "I-Disease", "I-Disease"),
                        List.of(new Span(0, 1, "Chemical"), new Span(1, 3, "Disease"))),
                Arguments.of(List.of("O", "I-X", "B-X", "I-X", "E-X", "I-X"),
                        List.of(new Span(1, 2, "X"), new Span(2, 5, "X"), new Span(5, 6, "X"))),
                Arguments.of(List.of("S-X", "I-X"), List.of(new Span(0, 1, "X"), new Span(1, 2, "X"))),
                Arguments.of(List.of("B-X", "O", "I-X"), List.of(new Span(0, 1, "X"), new Span(2, 3, "X"))),
                Arguments.of(List.of(), List.of()),
                Arguments.of(List.of("O", "O"), List.of()));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void spansMatchPython(List<String> tags, List<Span> spans) {
        assertEquals(spans, Schemes.spansFromTags(tags));
    }

    @Test
    void splitTag() {
        assertEquals(new Schemes.Tag("B", "Disease"), Schemes.splitTag("B-Disease"));
        assertEquals(new Schemes.Tag("I", "Gene-Protein"), Schemes.splitTag("I-Gene-Protein"));
        assertEquals(new Schemes.Tag("O", null), Schemes.splitTag("O"));
        for (String bad : List.of("", "B", "B-", "Bx-Disease", "-Disease", "Disease")) {
            assertThrows(IllegalArgumentException.class, () -> Schemes.splitTag(bad), bad);
        }
    }
}
