"""The bundled teaching corpus: inline markup sources -> IOB2 sentences -> BioBERT-style TSV files.

The course has to run offline and may not redistribute real corpora, so it ships a small
corpus written for it (see ``corpus_data/DATASHEET.md``). Its sources are meant to be read and
edited by people, one sentence per line, entities marked inline::

    [cisplatin]{Chemical} induced [nephrotoxicity]{Disease} in rats .

A model never sees this markup: :func:`build_tsv_files` turns it into the two-column TSV files
of the BioBERT NER data sets (``train.tsv``, ``devel.tsv``, ``test.tsv``), using the project's one
pre-tokenizer for the words, so the bundled corpus is read exactly like a downloaded one.

Markup rules, checked strictly because a silent annotation slip is worse than a loud error:

* ``[text]{Type}`` marks an entity; ``Type`` is one of :data:`ENTITY_TYPES`;
* entities do not nest and are not empty;
* an entity starts and ends on word boundaries of :func:`biobert_ner.pretokenize.pretokenize`
  (``[BRCA1]{Gene}-mutated`` is fine, ``[p53]{Gene}s`` is not);
* a backslash makes the next character literal (``\\[3H\\]thymidine``);
* lines starting with ``#`` and blank lines are ignored;
* a sentence may appear only once in the whole corpus (all splits together).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .corpus_statistics import corpus_statistics as count_corpus
from .data import Sentence, format_tsv, write_tsv
from .pretokenize import pretokenize
from .schemes import Span, spans_from_tags, tag_problems, tags_from_spans

ENTITY_TYPES = ("Chemical", "Disease", "Gene")

# Split name (Hugging Face convention) -> file name (BioBERT NER folder convention).
BUNDLED_SPLIT_FILES = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
# Split name -> markup source file in the data folder.
SOURCE_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}

DATASHEET_NAME = "DATASHEET.md"
STATS_BEGIN = "<!-- stats:begin -->"
STATS_END = "<!-- stats:end -->"

# The data lives in ``corpus_data/``, not ``corpus/``: a folder named like this module would
# shadow it as a namespace package.
_DATA_DIR = Path(__file__).resolve().parent / "corpus_data"


class CorpusMarkupError(ValueError):
    """A problem in a markup source, located by file and line so it can be fixed by hand."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ":".join(str(part) for part in (self.path, self.line) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)


def bundled_source_dir() -> Path:
    """The folder of the markup sources (``train.txt``, ``dev.txt``, ``test.txt``) and the datasheet."""
    return _DATA_DIR


def bundled_corpus_dir() -> Path:
    """The folder of the generated TSV files, laid out like a BioBERT NER data set."""
    return _DATA_DIR / "tsv"


# --- Parsing one line -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CharSpan:
    """An entity as a half-open character range of the plain (markup-free) text."""

    start: int
    end: int
    type: str


_TYPE_PATTERN = re.compile(r"\{([^{}\[\]]*)\}")


def _strip_markup(text: str, entity_types: Sequence[str]) -> tuple[str, list[_CharSpan]]:
    """Remove the markup from ``text``: the plain text and its entities as character spans.

    One left-to-right scan with a single "open entity" slot is enough because entities do not
    nest; every way the markup can be wrong is reported with its column (1-based, in ``text``).
    """
    plain: list[str] = []
    spans: list[_CharSpan] = []
    open_at: tuple[int, int] | None = None  # (column in text, offset in plain) of the open '['
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 == len(text):
                raise CorpusMarkupError(f"column {i + 1}: a backslash at the end of the line escapes nothing")
            plain.append(text[i + 1])
            i += 2
            continue
        if char == "[":
            if open_at is not None:
                raise CorpusMarkupError(
                    f"column {i + 1}: nested entity: '[' inside the entity opened at column {open_at[0] + 1}"
                )
            open_at = (i, len(plain))
        elif char == "]":
            if open_at is None:
                raise CorpusMarkupError(f"column {i + 1}: unbalanced brackets: ']' without an opening '['")
            match = _TYPE_PATTERN.match(text, i + 1)
            if match is None:
                raise CorpusMarkupError(f"column {i + 1}: entity type missing: expected ']{{Type}}' after the entity")
            entity_type = match.group(1)
            if entity_type not in entity_types:
                raise CorpusMarkupError(
                    f"column {match.start(1) + 1}: unknown entity type {entity_type!r}; "
                    f"expected one of {', '.join(entity_types)}"
                )
            spans.append(_CharSpan(open_at[1], len(plain), entity_type))
            open_at = None
            i = match.end()
            continue
        elif char in "{}":
            raise CorpusMarkupError(f"column {i + 1}: stray {char!r} outside an entity type (escape it as '\\{char}')")
        else:
            plain.append(char)
        i += 1
    if open_at is not None:
        raise CorpusMarkupError(f"column {open_at[0] + 1}: unbalanced brackets: '[' is never closed")
    return "".join(plain), spans


def _word_span(span: _CharSpan, plain: str, starts: dict[int, int], ends: dict[int, int]) -> Span:
    """Map a character span onto word indices; refuse one that cuts a word or has no words."""
    covered = plain[span.start : span.end]
    if not covered.strip():
        raise CorpusMarkupError(f"empty entity: [{covered}]{{{span.type}}} contains no word")
    if covered != covered.strip():
        raise CorpusMarkupError(f"entity [{covered}]{{{span.type}}} starts or ends with white space")
    if span.start not in starts or span.end not in ends:
        raise CorpusMarkupError(
            f"boundary inside a word: entity [{covered}]{{{span.type}}} does not start and end on word "
            "boundaries of the pre-tokenizer (a letter or digit touches it; put a space or split the word)"
        )
    return Span(starts[span.start], ends[span.end] + 1, span.type)


def parse_markup_line(text: str, entity_types: Sequence[str] = ENTITY_TYPES) -> tuple[list[str], list[str]]:
    """One line of markup -> (words, IOB2 tags).

    >>> words, tags = parse_markup_line("[cisplatin]{Chemical}-induced [kidney injury]{Disease} .")
    >>> list(zip(words, tags))  # doctest: +NORMALIZE_WHITESPACE
    [('cisplatin', 'B-Chemical'), ('-', 'O'), ('induced', 'O'), ('kidney', 'B-Disease'),
     ('injury', 'I-Disease'), ('.', 'O')]

    Raises :class:`CorpusMarkupError` (without a location: :func:`read_markup` adds it).
    """
    plain, char_spans = _strip_markup(text, entity_types)
    words = pretokenize(plain)
    starts = {word.start: index for index, word in enumerate(words)}
    ends = {word.end: index for index, word in enumerate(words)}
    spans = [_word_span(span, plain, starts, ends) for span in char_spans]
    tags = tags_from_spans(spans, len(words), "IOB2")
    problems = tag_problems(tags, "IOB2")
    if problems:  # cannot happen for non-overlapping spans; a guard against future edits
        raise CorpusMarkupError("; ".join(problems))
    return [word.text for word in words], tags


def _escape(token: str) -> str:
    """A word with the markup characters made literal."""
    return "".join("\\" + char if char in "[]{}\\" else char for char in token)


def format_markup_line(tokens: Sequence[str], tags: Sequence[str]) -> str:
    """The inverse of :func:`parse_markup_line`: words and IOB2 tags -> one line of markup.

    Words are joined by single spaces, which the pre-tokenizer splits back into the same words,
    so ``parse_markup_line(format_markup_line(w, t)) == (w, t)``. Handy to turn a TSV corpus
    into something a person can edit.
    """
    words = [_escape(token) for token in tokens]
    for span in spans_from_tags(tags):
        words[span.start] = "[" + words[span.start]
        words[span.end - 1] = words[span.end - 1] + "]{" + span.type + "}"
    return " ".join(words)


# --- Reading files and whole corpora ----------------------------------------------------------


def _is_content(line: str) -> bool:
    """Blank lines and ``#`` comment lines carry no sentence."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def read_markup(path: str | os.PathLike[str], entity_types: Sequence[str] = ENTITY_TYPES) -> list[Sentence]:
    """Every sentence of one markup file, each with its ``path:line`` as source.

    A sentence repeated inside the file is an error: it would count twice in the statistics
    and, worse, could land in two splits after a later reshuffle.
    """
    sentences: list[Sentence] = []
    first_seen: dict[str, int] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not _is_content(line):
            continue
        try:
            tokens, tags = parse_markup_line(line, entity_types)
        except CorpusMarkupError as error:
            raise CorpusMarkupError(error.message, path, number) from None
        key = normalized_text(tokens)
        if key in first_seen:
            raise CorpusMarkupError(f"duplicate sentence: same words as line {first_seen[key]}", path, number)
        first_seen[key] = number
        sentences.append(Sentence(tokens, tags, source=f"{path}:{number}"))
    return sentences


def normalized_text(tokens: Sequence[str]) -> str:
    """The key two sentences are compared by: their words joined by single spaces.

    Joining pre-tokenized words normalises white space and also spacing around punctuation,
    so ``(NSCLC)`` and ``( NSCLC )`` count as the same sentence.
    """
    return " ".join(tokens)


def check_disjoint(splits: Mapping[str, Sequence[Sentence]]) -> None:
    """Raise :class:`CorpusMarkupError` when a sentence appears in two splits.

    A test sentence also seen in training makes test scores look better than they are.
    """
    seen: dict[str, Sentence] = {}
    for sentences in splits.values():
        for sentence in sentences:
            key = normalized_text(sentence.tokens)
            if key in seen:
                path, _, line = (sentence.source or "?:").rpartition(":")
                raise CorpusMarkupError(
                    f"duplicate sentence across splits: already at {seen[key].source}",
                    path or None,
                    int(line) if line.isdigit() else None,
                )
            seen[key] = sentence


def read_markup_corpus(source_dir: str | os.PathLike[str] | None = None) -> dict[str, list[Sentence]]:
    """All three splits of a markup corpus (default: the bundled one), checked to be disjoint."""
    folder = Path(source_dir) if source_dir is not None else bundled_source_dir()
    splits = {split: read_markup(folder / name) for split, name in SOURCE_FILES.items()}
    check_disjoint(splits)
    return splits


# --- Generating the TSV files -----------------------------------------------------------------


def generated_tsv_texts(source_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """TSV file name -> the exact text the generator writes for it (what the drift check compares)."""
    splits = read_markup_corpus(source_dir)
    return {BUNDLED_SPLIT_FILES[split]: format_tsv(sentences) for split, sentences in splits.items()}


def build_tsv_files(
    source_dir: str | os.PathLike[str] | None = None, output_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write ``train.tsv``, ``devel.tsv`` and ``test.tsv`` from the markup sources.

    Returns split name -> written path. Everything is parsed before anything is written, so a
    markup error leaves the old files untouched.
    """
    splits = read_markup_corpus(source_dir)
    folder = Path(output_dir) if output_dir is not None else bundled_corpus_dir()
    return {split: write_tsv(folder / BUNDLED_SPLIT_FILES[split], sentences) for split, sentences in splits.items()}


def drifted_tsv_files(
    source_dir: str | os.PathLike[str] | None = None, tsv_dir: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The TSV files that are missing or differ from what the sources generate (empty: in sync)."""
    folder = Path(tsv_dir) if tsv_dir is not None else bundled_corpus_dir()
    drifted = []
    for name, expected in generated_tsv_texts(source_dir).items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != expected:
            drifted.append(path)
    return drifted


# --- Statistics for the datasheet -------------------------------------------------------------


@dataclass(frozen=True)
class SplitStatistics:
    """The numbers the datasheet reports for one split."""

    split: str
    sentences: int
    tokens: int
    sentences_without_entities: int
    entities: dict[str, int]  # entity type -> number of entities (spans, not B- tags)


def split_statistics(
    split: str, sentences: Iterable[Sentence], entity_types: Sequence[str] = ENTITY_TYPES
) -> SplitStatistics:
    """The datasheet's numbers for one split (counted by :func:`biobert_ner.corpus_statistics.corpus_statistics`)."""
    counts = count_corpus(list(sentences))
    entities = {entity_type: counts.entities_per_type.get(entity_type, 0) for entity_type in entity_types}
    entities |= counts.entities_per_type
    return SplitStatistics(split, counts.sentences, counts.tokens, counts.sentences_without_entities, entities)


def corpus_statistics(splits: Mapping[str, Iterable[Sentence]]) -> list[SplitStatistics]:
    """Statistics of every split, in the order given, plus a ``total`` row."""
    rows = [split_statistics(split, sentences) for split, sentences in splits.items()]
    types = list(dict.fromkeys(t for row in rows for t in row.entities))
    total = SplitStatistics(
        "total",
        sum(row.sentences for row in rows),
        sum(row.tokens for row in rows),
        sum(row.sentences_without_entities for row in rows),
        {t: sum(row.entities.get(t, 0) for row in rows) for t in types},
    )
    return rows + [total]


def format_statistics_table(rows: Sequence[SplitStatistics]) -> str:
    """The statistics as a Markdown table (the block between the datasheet's stats markers)."""
    types = list(dict.fromkeys(t for row in rows for t in row.entities))
    header = ["split", "file", "sentences", "tokens", "no entity", *types, "entities"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    for row in rows:
        file = BUNDLED_SPLIT_FILES.get(row.split, "")
        cells = [row.split, f"`{file}`" if file else "", row.sentences, row.tokens, row.sentences_without_entities]
        cells += [row.entities.get(t, 0) for t in types] + [sum(row.entities.values())]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def replace_stats_block(document: str, table: str) -> str:
    """``document`` with the text between the stats markers replaced by ``table``."""
    begin, end = document.find(STATS_BEGIN), document.find(STATS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the datasheet needs a {STATS_BEGIN} ... {STATS_END} block")
    return document[: begin + len(STATS_BEGIN)] + "\n" + table + document[end:]


def datasheet_text(datasheet: str | os.PathLike[str], source_dir: str | os.PathLike[str] | None = None) -> str:
    """The datasheet as it should be: its current text with freshly computed statistics."""
    table = format_statistics_table(corpus_statistics(read_markup_corpus(source_dir)))
    return replace_stats_block(Path(datasheet).read_text(encoding="utf-8"), table)
