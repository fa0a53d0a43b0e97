"""Reading and writing NER corpora: two-column TSV, CoNLL, Hugging Face datasets.

The BioBERT NER data sets (NCBI-disease, BC5CDR, BC2GM, ...) are folders of two-column TSV
files: ``word<TAB>tag``, one word per line, a blank line between sentences. CoNLL files have
more columns (``word POS chunk tag``) separated by white space, the tag in the last column.

Readers here are strict on purpose: a corpus with a stray ``I-`` after ``O``, a tag typo or a
missing tab trains a model without any error and only shows up, much later, as a worse F1.
So every problem is reported as a :class:`CorpusFormatError` naming the file, the line and
what is wrong, and nothing is silently dropped or "fixed" unless you ask (``repair=True``).

Everything downstream (alignment, training, evaluation) works on a ``datasets.DatasetDict``
shaped like the NER data sets of the Hugging Face hub: columns ``id``, ``tokens`` and
``ner_tags`` (a ``ClassLabel`` per word). :func:`load_data` is the one entry point that the
CLI and the notebooks use to get one.
"""

from __future__ import annotations

import gzip
import importlib.resources
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from . import schemes
from .files import atomic_write_text
from .paths import relative

if TYPE_CHECKING:  # datasets is slow to import; only the functions that need it import it
    import datasets


@dataclass
class Sentence:
    """One sentence: its words and one tag per word (IOB2 unless said otherwise)."""

    tokens: list[str]
    tags: list[str]
    # Where the sentence came from, for error messages: "path:line" of its first word.
    source: str | None = field(default=None, compare=False)


def format_tsv(sentences: Iterable[Sentence]) -> str:
    """The two-column TSV text of the BioBERT NER data sets: ``word<TAB>tag``, blank line between sentences."""
    blocks = ["".join(f"{token}\t{tag}\n" for token, tag in zip(s.tokens, s.tags)) for s in sentences]
    return "\n".join(blocks) + ("\n" if blocks else "")


def write_tsv(path: str | os.PathLike[str], sentences: Iterable[Sentence]) -> Path:
    """Write sentences as two-column TSV, atomically."""
    return atomic_write_text(path, format_tsv(sentences))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read as it is, with the place and the reason.

    ``line`` is 1-based; it is ``None`` for problems of a whole file or folder (missing, empty),
    and then ``str()`` is ``"{path}: {problem}"`` instead of ``"{path}:{line}: {problem}"``.
    The ``path:line:`` form is the one editors and terminals turn into a clickable link.
    """

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


class CorpusNotFoundError(CorpusFormatError, FileNotFoundError):
    """A corpus file or folder that does not exist (also caught by ``except FileNotFoundError``)."""


class DatasetUnavailableError(RuntimeError):
    """A data set that could not be loaded from the Hugging Face hub (no network, unknown id, ...)."""


# --------------------------------------------------------------------------------------------
# Reading TSV and CoNLL files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnLayout:
    """How a file format splits a line into columns; the token is always the first column."""

    name: str
    separator: str | None  # None: any run of white space (str.split())
    min_columns: int
    max_columns: int | None  # None: no upper limit
    looks_like: str  # shown in errors


LAYOUTS: dict[str, ColumnLayout] = {
    "tsv": ColumnLayout("TSV", "\t", 2, 2, "token<TAB>tag"),
    "conll": ColumnLayout("CoNLL", None, 2, None, "token [more columns] tag, separated by spaces or tabs"),
}

DOCUMENT_START = "-DOCSTART-"  # CoNLL-2003 document marker: skipped, ends the sentence before it
KNOWN_PREFIXES = frozenset().union(*(scheme.prefixes for scheme in schemes.SCHEMES.values()))
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines(): it also breaks at \x0b, \x85, \u2028, ...
_TAG_NUMBER = re.compile(r"^tag (\d+) ")  # schemes.tag_problems starts each problem with "tag <n>" (1-based)


@dataclass(frozen=True)
class _Row:
    """One non-blank line of a corpus file, already split into token and tag."""

    line: int
    token: str
    tag: str


def read_tsv(
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    scheme: str | None = "IOB2",
    repair: bool = False,
) -> list[Sentence]:
    """Read a two-column TSV file (``token<TAB>tag``, blank line between sentences).

    ``labels``: if given, every tag must be one of them. ``scheme``: the tagging scheme whose
    prefixes and sequence rules every sentence must follow (``None``: only check that tags are
    well formed). ``repair=True`` (IOB2 only) turns an ``I-X`` that starts an entity into
    ``B-X`` instead of failing, as :func:`biobert_ner.schemes.repair_iob2` does.
    """
    return _read_corpus_file(path, LAYOUTS["tsv"], tag_column=1, labels=labels, scheme=scheme, repair=repair)


def read_conll(
    path: str | os.PathLike[str],
    *,
    tag_column: int = -1,
    labels: Sequence[str] | None = None,
    scheme: str | None = "IOB2",
    repair: bool = False,
) -> list[Sentence]:
    """Read a CoNLL file: white-space separated columns, token first, tag in ``tag_column``.

    Every line must have the same number of columns (a shorter line is almost always a broken
    one). The other keywords are those of :func:`read_tsv`.
    """
    if tag_column == 0:
        raise ValueError("tag_column=0 is the token column; the tag is usually the last column (-1)")
    return _read_corpus_file(
        path, LAYOUTS["conll"], tag_column=tag_column, labels=labels, scheme=scheme, repair=repair
    )


def _read_corpus_file(
    path: str | os.PathLike[str],
    layout: ColumnLayout,
    *,
    tag_column: int,
    labels: Sequence[str] | None,
    scheme: str | None,
    repair: bool,
) -> list[Sentence]:
    """The reader behind :func:`read_tsv` and :func:`read_conll`: decode, split, check, group."""
    if repair and (scheme is None or schemes.get_scheme(scheme).name != "IOB2"):
        raise ValueError(f"repair=True fixes IOB2 sequences only; got scheme={scheme!r}")
    scheme_table = schemes.get_scheme(scheme) if scheme is not None else None
    allowed = tuple(labels) if labels is not None else None
    sentences: list[Sentence] = []
    block: list[_Row] = []
    rows = _rows(path, _read_lines(path), layout, tag_column)
    for row in itertools.chain(rows, [None]):  # lazily: problems are found in file order
        if row is not None:
            _check_tag(path, row, scheme_table, allowed)
            block.append(row)
        elif block:
            sentences.append(_sentence(path, block, scheme_table, repair))
            block = []
    if not sentences:
        raise CorpusFormatError(path, None, "no sentences: the file is empty or has only blank and -DOCSTART- lines")
    return sentences


def _read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 file (BOM dropped, any of CRLF / CR / LF line ends), with clear errors."""
    file = Path(path)
    if not file.exists():
        raise CorpusNotFoundError(path, None, "no such file")
    if file.is_dir():
        raise CorpusFormatError(path, None, "this is a folder, not a file (read_corpus_folder reads a folder)")
    data = file.read_bytes()
    if file.suffix == ".gz":  # a vendored corpus is stored compressed; line numbers are those of the text inside
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise CorpusFormatError(path, None, f"not a readable gzip file ({error})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusFormatError(path, 1, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save as UTF-8")
    bom = len(b"\xef\xbb\xbf") if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = bom + error.start  # in the file, as a hex editor shows it
        line = data.count(b"\n", 0, offset) + 1
        problem = f"not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} ({error.reason})"
        raise CorpusFormatError(path, line, f"{problem}; save the file as UTF-8") from None
    return _LINE_BREAK.split(text)


def _rows(
    path: str | os.PathLike[str], lines: list[str], layout: ColumnLayout, tag_column: int
) -> Iterator[_Row | None]:
    """The token/tag rows of a file, and ``None`` where a sentence ends (blank or ``-DOCSTART-`` line)."""
    first_width: tuple[int, int] | None = None  # (columns, line) of the first row, for CoNLL
    for number, text in enumerate(lines, start=1):
        columns = _split_columns(text, layout)
        if not columns or columns[0] == DOCUMENT_START:
            yield None
            continue
        _check_columns(path, number, text, columns, layout)
        if layout.max_columns is None:  # free column count: it must at least stay the same
            first_width = first_width or (len(columns), number)
            if len(columns) != first_width[0]:
                raise CorpusFormatError(
                    path, number, f"{len(columns)} columns, but line {first_width[1]} has {first_width[0]}: "
                    f"every line of a {layout.name} file needs the same columns"
                )
            if not -len(columns) <= tag_column < len(columns):
                raise CorpusFormatError(
                    path, number, f"no column {tag_column} for the tag: the line has {len(columns)} columns"
                )
        yield _Row(number, columns[0], columns[tag_column])


def _split_columns(text: str, layout: ColumnLayout) -> list[str]:
    """The columns of one line, each without surrounding white space; ``[]`` for a blank line."""
    text = text.rstrip()
    if not text.strip():
        return []
    if layout.separator is None:
        return text.split()
    return [column.strip() for column in text.split(layout.separator)]


def _check_columns(
    path: str | os.PathLike[str], number: int, text: str, columns: list[str], layout: ColumnLayout
) -> None:
    """Raise unless the line has as many columns as the format wants and a non-empty token."""
    too_few = len(columns) < layout.min_columns
    too_many = layout.max_columns is not None and len(columns) > layout.max_columns
    if too_few or too_many:
        exact = layout.min_columns == layout.max_columns
        wanted = str(layout.min_columns) if exact else f"at least {layout.min_columns}"
        hint = ""
        if layout.separator == "\t" and too_few and " " in text.strip():
            hint = "; the columns look space-separated: read the file with read_conll"
        elif too_few and layout.separator is not None and layout.separator in text:
            hint = "; the tag is missing"
        elif too_many:
            hint = "; for CoNLL files with more columns use read_conll"
        raise CorpusFormatError(
            path, number, f"expected {wanted} columns ({layout.looks_like}), found {len(columns)}{hint}"
        )
    if not columns[0]:
        raise CorpusFormatError(path, number, "empty token: the first column of the line is blank")


def _check_tag(
    path: str | os.PathLike[str], row: _Row, scheme: schemes.Scheme | None, allowed: tuple[str, ...] | None
) -> None:
    """Raise unless the tag is well formed, uses a prefix of the scheme and is an allowed label."""
    try:
        prefix, _ = schemes.split_tag(row.tag)
    except schemes.TagError as error:
        raise CorpusFormatError(path, row.line, str(error)) from None
    if prefix != schemes.OUTSIDE and prefix not in KNOWN_PREFIXES:
        raise CorpusFormatError(
            path, row.line, f"unknown tag prefix {prefix!r} in {row.tag!r}: tags are 'O' or start with "
            f"{', '.join(f'{p}-' for p in sorted(KNOWN_PREFIXES))}"
        )
    if scheme is not None and prefix != schemes.OUTSIDE and prefix not in scheme.prefixes:
        raise CorpusFormatError(
            path, row.line, f"tag prefix {prefix!r} in {row.tag!r} is not used in {scheme.name} "
            f"(it uses {', '.join(f'{p}-' for p in sorted(scheme.prefixes))}); is the file in another scheme? "
            "pass scheme= to say which"
        )
    if allowed is not None and row.tag not in allowed:
        raise CorpusFormatError(
            path, row.line, f"tag {row.tag!r} is not one of the allowed labels: {', '.join(allowed)}"
        )


def _sentence(path: str | os.PathLike[str], block: list[_Row], scheme: schemes.Scheme | None, repair: bool) -> Sentence:
    """Make a :class:`Sentence` of a block of rows, repairing or checking its tag sequence."""
    tags = [row.tag for row in block]
    if repair:
        tags = schemes.repair_iob2(tags)
    if scheme is not None:
        problems = schemes.tag_problems(tags, scheme.name)
        if problems:
            match = _TAG_NUMBER.match(problems[0])  # the error names the line, so drop the word number
            line = block[int(match.group(1)) - 1].line if match else block[0].line
            problem = problems[0][match.end() :] if match else problems[0]
            hint = "; pass repair=True to turn such tags into B-" if scheme.name == "IOB2" else ""
            raise CorpusFormatError(path, line, f"invalid {scheme.name} sequence: {problem}{hint}")
    return Sentence([row.token for row in block], tags, source=f"{path}:{block[0].line}")


# --------------------------------------------------------------------------------------------
# Corpus folders
# --------------------------------------------------------------------------------------------

# The file names each split may have, as the BioBERT data sets and other collections name them;
# each may also be gzip-compressed (``train.tsv.gz``), as the corpus vendored in the package is.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.tsv",),
    "validation": ("devel.tsv", "dev.tsv", "valid.tsv", "validation.tsv"),
    "test": ("test.tsv",),
}


def _split_file_names(split: str) -> list[str]:
    return [name + suffix for name in SPLIT_FILES[split] for suffix in ("", ".gz")]


def read_corpus_folder(folder: str | os.PathLike[str], **read_options: object) -> dict[str, list[Sentence]]:
    """Read a BioBERT-style folder of TSV files into ``{"train": ..., "validation": ..., "test": ...}``.

    A train file is required; validation and test files are read when present. The keywords
    are those of :func:`read_tsv` (``labels``, ``scheme``, ``repair``).
    """
    directory = Path(folder)
    if not directory.exists():
        raise CorpusNotFoundError(folder, None, "no such folder")
    if not directory.is_dir():
        raise CorpusFormatError(folder, None, "this is a file, not a folder of train/devel/test TSV files")
    splits: dict[str, list[Sentence]] = {}
    for split in SPLIT_FILES:
        found = [name for name in _split_file_names(split) if (directory / name).is_file()]
        if len(found) > 1:
            raise CorpusFormatError(folder, None, f"{' and '.join(found)} are both {split} files; keep one")
        if found:
            splits[split] = read_tsv(directory / found[0], **read_options)  # type: ignore[arg-type]
    if "train" not in splits:
        present = ", ".join(sorted(p.name for p in directory.iterdir())) or "nothing"
        raise CorpusFormatError(
            folder, None, f"no train file: expected train.tsv (and optionally {'/'.join(SPLIT_FILES['validation'])} "
            f"and test.tsv); the folder has {present}"
        )
    return splits


# --------------------------------------------------------------------------------------------
# Hugging Face datasets
# --------------------------------------------------------------------------------------------

PREFIX_ORDER = "BIES"  # order of a type's labels in a default label list: B-X, I-X (, E-X, S-X)
SPLIT_ALIASES = {"dev": "validation", "devel": "validation", "valid": "validation", "val": "validation"}
COLUMN_ALIASES = {"words": "tokens", "tags": "ner_tags", "labels": "ner_tags"}


def default_label_names(tags: Iterable[str]) -> list[str]:
    """``O`` first, then each entity type's labels: ``schemes.iob2_labels`` for IOB2 tags.

    ``B-`` and ``I-`` are always both listed (a corpus with only one-word entities still needs
    ``I-`` for a model to predict); ``E-``/``S-`` are added when the tags use them.
    """
    found = set(tags)
    prefixes = {schemes.split_tag(tag)[0] for tag in found} | {"B", "I"}
    return [schemes.OUTSIDE] + [
        f"{prefix}-{entity_type}"
        for entity_type in schemes.entity_types(found)
        for prefix in PREFIX_ORDER
        if prefix in prefixes
    ]


def ner_features(label_names: Sequence[str]) -> "datasets.Features":
    """The columns of a hub NER data set (ncbi_disease, bc5cdr, ...): ``id``, ``tokens``, ``ner_tags``."""
    from datasets import ClassLabel, Features, Sequence, Value

    return Features(
        {
            "id": Value("string"),
            "tokens": Sequence(Value("string")),
            "ner_tags": Sequence(ClassLabel(names=list(label_names))),
        }
    )


def to_dataset_dict(
    splits: dict[str, list[Sentence]], label_names: list[str] | None = None
) -> "datasets.DatasetDict":
    """Sentences per split -> a ``DatasetDict`` shaped like the NER data sets of the hub.

    One label list serves all splits (it is the model's output layer), so by default it is made
    from the tags of every split: ``O, B-Chemical, I-Chemical, B-Disease, I-Disease, ...``.
    """
    from datasets import Dataset, DatasetDict

    if label_names is None:
        label_names = default_label_names(tag for split in splits.values() for s in split for tag in s.tags)
    index = {label: i for i, label in enumerate(label_names)}
    features = ner_features(label_names)
    result = DatasetDict()
    for name, sentences in splits.items():
        columns: dict[str, list] = {"id": [], "tokens": [], "ner_tags": []}
        for number, sentence in enumerate(sentences):
            unknown = [tag for tag in sentence.tags if tag not in index]
            if unknown:
                where = sentence.source or f"{name} sentence {number}"
                raise ValueError(f"{where}: tag {unknown[0]!r} is not in label_names {label_names}")
            columns["id"].append(str(number))
            columns["tokens"].append(list(sentence.tokens))
            columns["ner_tags"].append([index[tag] for tag in sentence.tags])
        result[name] = Dataset.from_dict(columns, features=features)
    return result


def load_corpus_folder(
    folder: str | os.PathLike[str], *, label_names: list[str] | None = None, **read_options: object
) -> "datasets.DatasetDict":
    """:func:`read_corpus_folder` then :func:`to_dataset_dict`."""
    return to_dataset_dict(read_corpus_folder(folder, **read_options), label_names)


def label_names(dataset: "datasets.Dataset | datasets.DatasetDict") -> list[str]:
    """The label list of a data set or of its splits, from the ``ner_tags`` ``ClassLabel``."""
    from datasets import ClassLabel, DatasetDict

    split = next(iter(dataset.values())) if isinstance(dataset, DatasetDict) else dataset
    feature = split.features.get("ner_tags")
    inner = getattr(feature, "feature", None)
    if not isinstance(inner, ClassLabel):
        raise ValueError(f"ner_tags is {feature}, not a sequence of ClassLabel: the data set has no label names")
    return list(inner.names)


def sentences_from_dataset(split: "datasets.Dataset") -> list[Sentence]:
    """The sentences of one split, tags as strings (the inverse of :func:`to_dataset_dict`)."""
    names = label_names(split)
    ids = split["id"] if "id" in split.column_names else range(len(split))
    return [
        Sentence(list(tokens), [names[tag] for tag in tags], source=f"id {sentence_id}")
        for sentence_id, tokens, tags in zip(ids, split["tokens"], split["ner_tags"])
    ]


def load_hub_dataset(
    dataset_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> "datasets.DatasetDict":
    """Load an NER data set with ``datasets.load_dataset`` (a hub id or a local folder of data files).

    The result has the standard shape: splits ``train``/``validation``/``test`` (``dev`` and
    friends renamed), columns ``tokens`` and ``ner_tags`` (``ClassLabel``). When the hub cannot
    be reached, a :class:`DatasetUnavailableError` says so; there is no silent fallback to
    other data, because a model trained on other data than you asked for is worse than an error.
    """
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    try:
        cache = None if cache_dir is None else str(cache_dir)
        loaded = datasets.load_dataset(str(dataset_id), revision=revision, cache_dir=cache)
    except (ConnectionError, DatasetNotFoundError) as error:  # hub unreachable, offline mode, or unknown id
        raise DatasetUnavailableError(
            f"could not load the data set {str(dataset_id)!r} from the Hugging Face hub ({error}). "
            "Without network access, pass a local folder of train/devel/test TSV files "
            "(load_data('path/to/folder')) or use the corpus that comes with the course (load_data('bundled'))."
        ) from error
    except RuntimeError as error:
        if "scripts are no longer supported" not in str(error):
            raise
        # Older hub data sets (ncbi_disease, bc2gm_corpus, ...) came as loading scripts, which
        # datasets >= 4 no longer runs; the hub keeps a parquet copy of most of them on this branch.
        raise DatasetUnavailableError(
            f"{str(dataset_id)!r} is a script-based data set, which this version of datasets cannot run ({error}). "
            "Try its parquet conversion: load_hub_dataset(dataset_id, revision='refs/convert/parquet')."
        ) from error
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    return standardize_dataset_dict(loaded, str(dataset_id))


def standardize_dataset_dict(dataset: "datasets.DatasetDict", name: str = "data set") -> "datasets.DatasetDict":
    """Rename split and column variants to the standard names and make sure ``ner_tags`` has label names.

    ``dev``/``devel``/``valid``/``val`` become ``validation``; ``words`` becomes ``tokens``;
    ``tags``/``labels`` become ``ner_tags``. Tags stored as strings get a ``ClassLabel`` (label
    order of :func:`default_label_names`); numbers without label names are an error, since no
    one can tell which number is which entity type.
    """
    import datasets

    renamed = datasets.DatasetDict()
    for split, data in dataset.items():
        standard = SPLIT_ALIASES.get(split, split)
        if standard in renamed:
            raise ValueError(f"{name}: two splits would both be {standard!r}: {list(dataset)}")
        columns = data.column_names
        renamed[standard] = data.rename_columns(
            {old: new for old, new in COLUMN_ALIASES.items() if old in columns and new not in columns}
        )
    for split, data in renamed.items():
        missing = {"tokens", "ner_tags"} - set(data.column_names)
        if missing:
            raise ValueError(
                f"{name}: split {split!r} has no {' or '.join(sorted(missing))} column (it has {data.column_names})"
            )
    inner = getattr(next(iter(renamed.values())).features["ner_tags"], "feature", None)
    if isinstance(inner, datasets.Value) and inner.dtype == "string":  # tags as strings: give them a label list
        names = default_label_names(tag for data in renamed.values() for tags in data["ner_tags"] for tag in tags)
        return renamed.cast_column("ner_tags", datasets.Sequence(datasets.ClassLabel(names=names)))
    label_names(renamed)  # raises with a clear message when ner_tags are numbers without names
    return renamed


def bundled_corpus_folder() -> Path:
    """Where the TSV files of the corpus that ships with the package are."""
    return Path(str(importlib.resources.files("biobert_ner") / "corpus_data" / "tsv"))


def load_bundled_corpus() -> "datasets.DatasetDict":
    """The small corpus that comes with the course (works offline): ``train``, ``validation``, ``test``."""
    folder = bundled_corpus_folder()
    if not (folder / "train.tsv").is_file():  # a source checkout where nobody has built it yet
        raise CorpusNotFoundError(folder, None, "the bundled corpus is not built: run python scripts/build_corpus.py")
    return load_corpus_folder(folder)


CHOICES = "pass 'bundled', a corpus name (biobert-ner data list), a folder of train/devel/test TSV files, or a hub data set id"


def load_data(spec: str | os.PathLike[str]) -> "datasets.DatasetDict":
    """The one way the CLI and notebooks get data: ``"bundled"``, a local folder, or a hub id.

    * ``"bundled"``: the small teaching corpus that ships with the package;
    * a real corpus by name (``"ncbi-disease"``, ``"bc5cdr"``, ...; see :mod:`biobert_ner.corpora`):
      NCBI-disease ships with the package, the others are fetched and verified on first use;
    * a folder with ``.tsv`` files: a BioBERT-style corpus folder (:func:`load_corpus_folder`);
    * another local folder: data files ``datasets.load_dataset`` can read (parquet, json, ...);
    * anything else: a data set id on the Hugging Face hub (:func:`load_hub_dataset`).

    Prints one line saying what was loaded, so a run's log always shows its data.
    """
    text = str(spec)
    path = Path(text).expanduser()
    from . import corpora

    if text == "bundled":
        dataset, origin = load_bundled_corpus(), "the bundled course corpus (biobert_ner/corpus_data/tsv, shipped with the package)"
    elif corpora.is_corpus_name(text):
        folder = corpora.ensure_corpus(text)
        where = f"biobert_ner/corpus_data/{text}, shipped with the package" if corpora.read_pins()[text].vendored else relative(folder)
        dataset, origin = load_corpus_folder(folder), f"the {text} corpus ({where})"
    elif path.is_dir() and (any(path.glob("*.tsv")) or any(path.glob("*.tsv.gz"))):
        dataset, origin = load_corpus_folder(path), f"the TSV corpus folder {path}"
    elif path.is_dir():
        dataset, origin = load_hub_dataset(str(path)), f"the data files in {path}"
    elif path.exists():
        raise CorpusFormatError(text, None, f"a file, not a folder: {CHOICES}")
    elif text.startswith((".", "/", "~")) or text.endswith(".tsv"):  # meant as a path, surely not a hub id
        raise CorpusNotFoundError(text, None, f"no such folder: {CHOICES}")
    else:
        dataset, origin = load_hub_dataset(text), f"the hub data set {text!r}"
    print(f"data: {origin}: {describe_dataset(dataset)}")
    return dataset


def describe_dataset(dataset: "datasets.DatasetDict") -> str:
    """One line: sentences per split and the labels.

    For example ``train 120, validation 30 sentences; labels O, B-Disease, I-Disease``.
    """
    sizes = ", ".join(f"{split} {len(data):,}" for split, data in dataset.items())
    return f"{sizes} sentences; labels {', '.join(label_names(dataset))}"
