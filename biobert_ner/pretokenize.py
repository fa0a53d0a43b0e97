"""The one pre-tokenizer of the project: raw text -> words with character offsets.

Biomedical corpora (NCBI-disease, BC5CDR, BC2GM, ...) are word-tokenized so that punctuation
stands alone: ``5-fluorouracil`` is ``5 - fluorouracil`` and ``(NSCLC)`` is ``( NSCLC )``.
A model fine-tuned on such words sees the same split at prediction time only if raw text is
split by the same rules, so corpus building, inference and the Java appendix all use this
function (Java mirrors it in ``PreTokenizer.java``; shared golden fixtures pin both).

The rules, small enough to re-implement anywhere:

1. A *word character* is a Unicode letter, mark or number (general category L*, M* or N*).
2. A word is a maximal run of word characters.
3. Every other character that is not white space is a word of its own: ``-``, ``/``, ``(``,
   ``,``, ``;``, ``%``, ``.`` (so ``2.5`` is ``2 . 5``), an emoji. Greek letters are letters,
   so ``TNF-α`` is ``TNF - α``.
4. White space (Python's ``str.isspace``) and invisible format characters (general category
   Cf: soft hyphen, zero-width space and joiner, byte-order mark) separate words and are never
   part of one. BERT's normaliser deletes format characters, so a word made of one would have
   no sub-word token at all.

Offsets are half-open ``[start, end)`` indices into the Python string (code points), so
``text[word.start:word.end] == word.text`` always holds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Also pinned by the Java port; change both together.
WORD_CATEGORIES = ("L", "M", "N")


@dataclass(frozen=True)
class Word:
    """One pre-tokenized word and where it came from in the original text."""

    text: str
    start: int
    end: int


def is_word_char(char: str) -> bool:
    """True for letters, combining marks and digits: the characters that glue into words."""
    return unicodedata.category(char)[0] in WORD_CATEGORIES


def is_separator(char: str) -> bool:
    """True for white space and invisible format characters: they end a word and are dropped."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def pretokenize(text: str) -> list[Word]:
    """Split raw text into words and stand-alone punctuation, with character offsets.

    >>> [w.text for w in pretokenize("TNF-alpha (10 mg/kg) induced NSCLC.")]
    ['TNF', '-', 'alpha', '(', '10', 'mg', '/', 'kg', ')', 'induced', 'NSCLC', '.']
    """
    words: list[Word] = []
    run_start: int | None = None  # start of the current run of word characters
    for i, char in enumerate(text):
        if is_word_char(char):
            if run_start is None:
                run_start = i
            continue
        if run_start is not None:
            words.append(Word(text[run_start:i], run_start, i))
            run_start = None
        if not is_separator(char):
            words.append(Word(char, i, i + 1))
    if run_start is not None:
        words.append(Word(text[run_start:], run_start, len(text)))
    return words


def split_words(text: str) -> list[str]:
    """Only the word strings of :func:`pretokenize` (what a model's input looks like)."""
    return [word.text for word in pretokenize(text)]
