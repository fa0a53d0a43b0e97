package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The table of tests/test_pretokenize.py, word for word: the two pre-tokenizers split alike. */
class PreTokenizerTest {

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("", List.of()),
                Arguments.of("   \t\n ", List.of()),
                Arguments.of("naloxone", List.of("naloxone")),
                Arguments.of("5-fluorouracil", List.of("5", "-", "fluorouracil")),
                Arguments.of("IL-2R alpha", List.of("IL", "-", "2R", "alpha")),
                Arguments.of("10 mg/kg", List.of("10", "mg", "/", "kg")),
                Arguments.of("lung cancer (NSCLC)", List.of("lung", "cancer", "(", "NSCLC", ")")),
                Arguments.of("[3H]thymidine", List.of("[", "3H", "]", "thymidine")),
                Arguments.of("fever, rash; death.", List.of("fever", ",", "rash", ";", "death", ".")),
                Arguments.of("TNF-α and β2-microglobulin", List.of("TNF", "-", "α", "and", "β2", "-", "microglobulin")),
                Arguments.of("2.5 mg", List.of("2", ".", "5", "mg")),
                Arguments.of("50% of 1,000", List.of("50", "%", "of", "1", ",", "000")),
                Arguments.of("Na+/K+-ATPase", List.of("Na", "+", "/", "K", "+", "-", "ATPase")),
                Arguments.of("Sjögren's syndrome", List.of("Sjögren", "'", "s", "syndrome")),
                Arguments.of("cafe\u0301-au-lait", List.of("cafe\u0301", "-", "au", "-", "lait")),
                Arguments.of("5′-UTR", List.of("5", "′", "-", "UTR")),
                Arguments.of("fever 🤒!", List.of("fever", "🤒", "!")),
                Arguments.of("𝛼-helix", List.of("𝛼", "-", "helix")),
                Arguments.of("x² ½", List.of("x²", "½")),
                Arguments.of("a\tb\nc\r\nd", List.of("a", "b", "c", "d")),
                Arguments.of("10\u00a0mg", List.of("10", "mg")),
                Arguments.of("dose\u2009=\u20095", List.of("dose", "=", "5")),
                Arguments.of("3–5 days", List.of("3", "–", "5", "days")),
                Arguments.of("“quoted”", List.of("“", "quoted", "”")),
                Arguments.of("p53--mediated", List.of("p53", "-", "-", "mediated")),
                // Java-specific traps: Python's white space, not Character.isWhitespace / isSpaceChar
                Arguments.of("a\u0085b\u001cc", List.of("a", "b", "c")),
                // format characters (Cf) separate words: zero-width space, soft hyphen, byte-order mark
                Arguments.of("a\u200bb", List.of("a", "b")),
                Arguments.of("naso\u00adpharyngeal \ufeffcancer", List.of("naso", "pharyngeal", "cancer")),
                // control characters (Cc) that are not white space are words of their own
                Arguments.of("a\u0000b", List.of("a", "\u0000", "b")),
                Arguments.of("a\u202fb\u3000c", List.of("a", "b", "c")));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void splitsLikePython(String text, List<String> expected) {
        assertEquals(expected, PreTokenizer.splitWords(text));
    }

    @Test
    void offsetsPointIntoTheText() {
        assertEquals(List.of(new Word("TNF", 0, 3), new Word("-", 3, 4), new Word("α", 4, 5), new Word("(", 6, 7),
                new Word("10", 7, 9), new Word("mg", 10, 12), new Word(")", 12, 13)), PreTokenizer.pretokenize("TNF-α (10 mg)"));
    }

    @Test
    void nonBmpOffsetsAreUtf16IndicesConvertibleToCodePoints() {
        String text = "🤒 fever";
        // Python: [Word('🤒', 0, 1), Word('fever', 2, 7)] in code points
        List<Word> words = PreTokenizer.pretokenize(text);
        assertEquals(List.of(new Word("🤒", 0, 2), new Word("fever", 3, 8)), words);
        assertEquals(1, PreTokenizer.codePointIndex(text, words.get(0).end()));
        assertEquals(2, PreTokenizer.codePointIndex(text, words.get(1).start()));
        assertEquals(7, PreTokenizer.codePointIndex(text, words.get(1).end()));
        assertEquals(3, PreTokenizer.utf16Index(text, 2));
    }

    @Test
    void everyWordIsTheSourceSpan() {
        String text = "𝛼-synuclein 🧬 (PD)\u00a0cafe\u0301 x²";
        for (Word word : PreTokenizer.pretokenize(text)) {
            assertEquals(word.text(), text.substring(word.start(), word.end()));
        }
    }

    @Test
    void whiteSpaceIsPythonsNotJavas() {
        assertTrue(PreTokenizer.isSpace(0x00A0)); // no-break space: Java's isWhitespace says no
        assertFalse(Character.isWhitespace(0x00A0));
        assertTrue(PreTokenizer.isSpace(0x0085));
        assertFalse(PreTokenizer.isSpace(0x200B));
        assertTrue(PreTokenizer.isSeparator(0x200B)); // zero-width space: a format character
        assertFalse(PreTokenizer.isSeparator(0x0000));
        assertFalse(PreTokenizer.isSpace('x'));
    }

    @Test
    void wordCharactersAreLettersMarksAndNumbers() {
        assertTrue(PreTokenizer.isWordChar('a'));
        assertTrue(PreTokenizer.isWordChar('α'));
        assertTrue(PreTokenizer.isWordChar(0x0301)); // combining acute accent (Mn)
        assertTrue(PreTokenizer.isWordChar('½')); // No
        assertTrue(PreTokenizer.isWordChar(0x1D6FC)); // 𝛼, outside the BMP
        assertFalse(PreTokenizer.isWordChar('-'));
        assertFalse(PreTokenizer.isWordChar(0x1F912)); // 🤒 (So)
        assertFalse(PreTokenizer.isWordChar('_')); // connector punctuation (Pc), unlike regex \w
    }
}
