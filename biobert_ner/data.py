"""NER corpora as Hugging Face datasets: from the bundled corpus, a corpus name, a folder or the hub.

Everything downstream (alignment, training, evaluation) works on a ``datasets.DatasetDict``
shaped like the NER data sets of the Hugging Face hub: columns ``id``, ``tokens`` and
``ner_tags`` (a ``ClassLabel`` per word). :func:`load_data` is the one entry point that the
CLI and the notebooks use to get one.

The files themselves (two-column TSV, CoNLL) are read, strictly, by :mod:`biobert_ner.readers`;
its names are re-exported here (``data.read_tsv``, ``data.Sentence``, ``data.CorpusFormatError``).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from . import schemes
from .readers import (  # noqa: F401 (the corpus readers, re-exported: notebooks and tests call data.read_tsv, ...)
    DOCUMENT_START,
    KNOWN_PREFIXES,
    LAYOUTS,
    SPLIT_FILES,
    ColumnLayout,
    CorpusFormatError,
    CorpusNotFoundError,
    Sentence,
    format_tsv,
    read_conll,
    read_corpus_folder,
    read_tsv,
    write_tsv,
)
from .paths import relative

if TYPE_CHECKING:  # datasets is slow to import; only the functions that need it import it
    import datasets


class DatasetUnavailableError(RuntimeError):
    """A data set that could not be loaded from the Hugging Face hub (no network, unknown id, ...)."""


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
    from . import corpora, fetching

    if text == "bundled":
        dataset, origin = load_bundled_corpus(), "the bundled course corpus (biobert_ner/corpus_data/tsv, shipped with the package)"
    elif corpora.is_corpus_name(text):
        folder = fetching.ensure_corpus(text)
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
