package org.biobertner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The project's one pre-tokenizer, a port of {@code biobert_ner/pretokenize.py}: raw text to words.
 *
 * <ol>
 *   <li>A <em>word character</em> is a Unicode letter, mark or number (general category L*, M*, N*).
 *   <li>A word is a maximal run of word characters.
 *   <li>Every other character that is not a separator is a word of its own ({@code -}, {@code (}, an emoji).
 *   <li>Separators end words and belong to none: white space as Python's {@code str.isspace} defines it
 *       (not Java's {@code Character.isWhitespace}, which rejects the no-break space and U+0085), and
 *       invisible format characters (category Cf: soft hyphen, zero-width space, byte-order mark), which
 *       BERT's normalizer deletes.
 * </ol>
 *
 * <p>The text is walked by code point, so a character outside the BMP (an emoji, {@code 𝛼}) is one
 * character, as in Python; word offsets are UTF-16 indices into the Java string.
 */
public final class PreTokenizer {

    /** The rule's name in {@code bundle.json}; a bundle naming another rule is refused. */
    public static final String NAME = "biobert-ner-words-v1";

    /** Java's {@link Character#getType} values of the categories L*, M* and N*. */
    private static final int[] WORD_CATEGORIES = {
        Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
        Character.MODIFIER_LETTER, Character.OTHER_LETTER,
        Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK,
        Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER,
    };

    /** Every code point for which Python's {@code str.isspace()} is true (sorted; the golden fixtures pin it). */
    static final int[] PYTHON_WHITE_SPACE = {
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
        0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
        0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    };

    private PreTokenizer() {}

    /** True for letters, combining marks and digits: the characters that glue into words. */
    public static boolean isWordChar(int codePoint) {
        int type = Character.getType(codePoint);
        for (int category : WORD_CATEGORIES) {
            if (type == category) {
                return true;
            }
        }
        return false;
    }

    /** Python's {@code str.isspace()} for one code point. */
    public static boolean isSpace(int codePoint) {
        return Arrays.binarySearch(PYTHON_WHITE_SPACE, codePoint) >= 0;
    }

    /** White space or a format character (category Cf): ends a word and is dropped. */
    public static boolean isSeparator(int codePoint) {
        return isSpace(codePoint) || Character.getType(codePoint) == Character.FORMAT;
    }

    /** Split raw text into words and stand-alone punctuation, with UTF-16 offsets into {@code text}. */
    public static List<Word> pretokenize(String text) {
        List<Word> words = new ArrayList<>();
        int runStart = -1; // start of the current run of word characters, -1 outside a run
        int i = 0;
        while (i < text.length()) {
            int codePoint = text.codePointAt(i);
            int next = i + Character.charCount(codePoint);
            if (isWordChar(codePoint)) {
                if (runStart < 0) {
                    runStart = i;
                }
            } else {
                if (runStart >= 0) {
                    words.add(new Word(text.substring(runStart, i), runStart, i));
                    runStart = -1;
                }
                if (!isSeparator(codePoint)) {
                    words.add(new Word(text.substring(i, next), i, next));
                }
            }
            i = next;
        }
        if (runStart >= 0) {
            words.add(new Word(text.substring(runStart), runStart, text.length()));
        }
        return words;
    }

    /** Only the word strings of {@link #pretokenize} (what a model's input looks like). */
    public static List<String> splitWords(String text) {
        List<String> strings = new ArrayList<>();
        for (Word word : pretokenize(text)) {
            strings.add(word.text());
        }
        return strings;
    }

    /** The code-point index (Python's offset) of UTF-16 index {@code utf16Index} in {@code text}. */
    public static int codePointIndex(String text, int utf16Index) {
        return text.codePointCount(0, utf16Index);
    }

    /** The UTF-16 index (Java's offset) of code-point index {@code codePointIndex} in {@code text}. */
    public static int utf16Index(String text, int codePointIndex) {
        return text.offsetByCodePoints(0, codePointIndex);
    }
}
