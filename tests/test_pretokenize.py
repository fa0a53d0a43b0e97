"""The pre-tokenizer: a table of biomedical texts, and the offset properties for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobert_ner.pretokenize import Word, is_word_char, pretokenize, split_words, is_separator

# (text, expected words), following the four rules in the module docstring.
CASES = [
    ("", []),
    ("   \t\n ", []),
    ("naloxone", ["naloxone"]),
    ("5-fluorouracil", ["5", "-", "fluorouracil"]),  # hyphen
    ("IL-2R alpha", ["IL", "-", "2R", "alpha"]),
    ("10 mg/kg", ["10", "mg", "/", "kg"]),  # slash
    ("lung cancer (NSCLC)", ["lung", "cancer", "(", "NSCLC", ")"]),  # parentheses
    ("[3H]thymidine", ["[", "3H", "]", "thymidine"]),
    ("fever, rash; death.", ["fever", ",", "rash", ";", "death", "."]),  # comma, semicolon, full stop
    ("TNF-α and β2-microglobulin", ["TNF", "-", "α", "and", "β2", "-", "microglobulin"]),  # Greek letters
    ("2.5 mg", ["2", ".", "5", "mg"]),  # decimals
    ("50% of 1,000", ["50", "%", "of", "1", ",", "000"]),
    ("Na+/K+-ATPase", ["Na", "+", "/", "K", "+", "-", "ATPase"]),
    ("Sjögren's syndrome", ["Sjögren", "'", "s", "syndrome"]),  # precomposed accent
    ("cafe\u0301-au-lait", ["cafe\u0301", "-", "au", "-", "lait"]),  # combining accent (Mn) stays in the word
    ("5′-UTR", ["5", "′", "-", "UTR"]),  # prime
    ("fever 🤒!", ["fever", "🤒", "!"]),  # emoji outside the BMP: one character, one word
    ("𝛼-helix", ["𝛼", "-", "helix"]),  # mathematical alpha: a letter outside the BMP
    ("x² ½", ["x²", "½"]),  # superscripts and fractions are numbers (N*)
    ("a\tb\nc\r\nd", ["a", "b", "c", "d"]),  # tabs and newlines
    ("10\u00a0mg", ["10", "mg"]),  # no-break space is white space
    ("dose\u2009=\u20095", ["dose", "=", "5"]),  # thin spaces
    ("3–5 days", ["3", "–", "5", "days"]),  # en dash
    ("“quoted”", ["“", "quoted", "”"]),
    ("p53--mediated", ["p53", "-", "-", "mediated"]),  # each punctuation mark stands alone
]


@pytest.mark.parametrize(("text", "words"), CASES)
def test_split_words(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_offsets_point_into_the_text() -> None:
    assert pretokenize("TNF-α (10 mg)") == [
        Word("TNF", 0, 3),
        Word("-", 3, 4),
        Word("α", 4, 5),
        Word("(", 6, 7),
        Word("10", 7, 9),
        Word("mg", 10, 12),
        Word(")", 12, 13),
    ]


def test_non_bmp_offsets_count_code_points() -> None:
    """Python offsets count code points; the Java port must convert from UTF-16 units."""
    assert pretokenize("🤒 fever") == [Word("🤒", 0, 1), Word("fever", 2, 7)]


# Any text, with plenty of the characters the rules care about.
TEXTS = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list(" \t\n\r\u00a0\u2009-/(),;.%αβ\u0301🤒𝛼²")),
    ),
    max_size=60,
)


@settings(deadline=None)  # shared CI machines: time per example varies
@given(TEXTS)
def test_words_cover_the_text_except_white_space(text: str) -> None:
    words = pretokenize(text)
    position = 0
    for word in words:
        assert word.text and text[word.start : word.end] == word.text
        assert position <= word.start < word.end, "words are in order and do not overlap"
        assert all(is_separator(char) for char in text[position : word.start]), "only separators between words"
        assert not any(is_separator(char) for char in word.text)
        position = word.end
    assert all(is_separator(char) for char in text[position:])
    assert "".join(w.text for w in words) == "".join(char for char in text if not is_separator(char))


@settings(deadline=None)  # shared CI machines: time per example varies
@given(TEXTS)
def test_words_are_maximal_runs_or_single_characters(text: str) -> None:
    words = pretokenize(text)
    for word in words:
        assert all(map(is_word_char, word.text)) or len(word.text) == 1
    for before, after in zip(words, words[1:]):
        touching = before.end == after.start
        assert not (touching and is_word_char(before.text[-1]) and is_word_char(after.text[0])), "runs are maximal"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hyper\u00adtension", ["hyper", "tension"]),  # soft hyphen
        ("\ufeffCisplatin", ["Cisplatin"]),  # byte-order mark
        ("BRCA1\u200bmutation", ["BRCA1", "mutation"]),  # zero-width space
        ("a \u200d b", ["a", "b"]),  # a lone zero-width joiner is not a word
    ],
)
def test_invisible_format_characters_separate_words(text: str, expected: list[str]) -> None:
    assert [w.text for w in pretokenize(text)] == expected
