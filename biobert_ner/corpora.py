"""Real biomedical NER corpora by name: ``ncbi-disease`` ships with the package, the others are fetched.

The BioBERT paper's NER benchmarks (NCBI-disease, BC5CDR, BC2GM, LINNAEUS, ...) are folders of
two-column IOB2 TSV files. ``corpus_data/corpora.tsv`` pins each file to one commit of its
source repository, with its size and sha256, so the data a run trains on is exactly the data
every other run of the course trains on, and a changed or damaged file is refused, not used.

* ``ncbi-disease`` (CC BY 4.0, redistributable with attribution) is vendored, gzip-compressed,
  in ``corpus_data/ncbi-disease/`` with its ``SOURCE.md`` and licence: it works offline.
* The others are downloaded on first use into a cache outside the repository
  (:func:`cache_dir`) and verified before every use.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

PINS_FILE = "corpora.tsv"  # in biobert_ner/corpus_data/
VENDORED = ("ncbi-disease",)  # corpora whose files ship inside the package
CACHE_ENV = "BIOBERT_NER_DATA"  # where fetched corpora go; default ~/.cache/biobert-ner/data
SPLITS = ("train", "devel", "test")  # file names (<split>.tsv) in every pinned corpus


@dataclass(frozen=True)
class PinnedFile:
    """One file of a corpus, as the pin list fixes it."""

    split: str  # "train", "devel" or "test"
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class CorpusPin:
    """One named corpus: where its files come from and what they must be."""

    name: str
    folder: str  # folder in the source repository
    entity_types: tuple[str, ...]
    files: tuple[PinnedFile, ...]
    repository: str
    commit: str

    def url(self, split: str) -> str:
        """The raw URL of one split at the pinned commit."""
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/data/{self.folder}/{split}.tsv"

    @property
    def vendored(self) -> bool:
        return self.name in VENDORED


def package_data_dir() -> Path:
    return Path(str(importlib.resources.files("biobert_ner") / "corpus_data"))


def _source_from_header(lines: list[str]) -> tuple[str, str]:
    """``(repository, commit)`` from the pin list's ``# Source: repository R at commit C,`` line."""
    for line in lines:
        if line.startswith("# Source:"):
            words = line.replace(",", " ").split()
            return words[words.index("repository") + 1], words[words.index("commit") + 1]
    raise ValueError(f"{package_data_dir() / PINS_FILE}: no '# Source: repository ... at commit ...' line")


def read_pins(path: str | os.PathLike[str] | None = None) -> dict[str, CorpusPin]:
    """The pinned corpora of ``corpora.tsv`` (default: the one in the package), by name, in file order."""
    path = Path(path) if path is not None else package_data_dir() / PINS_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    repository, commit = _source_from_header(lines)
    rows: dict[str, dict] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 6:
            raise ValueError(f"{path}:{number}: expected 6 tab-separated columns (name folder types split bytes sha256), got {len(columns)}")
        name, folder, types, split, size, digest = columns
        if split not in SPLITS or not size.isdigit() or len(digest) != 64:
            raise ValueError(f"{path}:{number}: bad split, size or sha256 in {line!r}")
        row = rows.setdefault(name, {"folder": folder, "types": tuple(types.split(",")), "files": []})
        row["files"].append(PinnedFile(split, int(size), digest))
    return {
        name: CorpusPin(name, row["folder"], row["types"], tuple(row["files"]), repository, commit)
        for name, row in rows.items()
    }


def vendored_dir(name: str) -> Path:
    """The package folder of a vendored corpus (``<split>.tsv.gz``, ``SOURCE.md``, licence)."""
    return package_data_dir() / name


def cache_dir() -> Path:
    """Where fetched corpora are kept: ``$BIOBERT_NER_DATA``, else ``~/.cache/biobert-ner/data``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "biobert-ner" / "data").expanduser()


def is_corpus_name(text: str) -> bool:
    return text in read_pins()


def corpus_folder(name: str) -> Path:
    """The folder of ``name``'s TSV files: the package's for a vendored corpus, else the cache's.

    Raises ``KeyError`` for a name that is not pinned.
    """
    pins = read_pins()
    if name not in pins:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(pins)}")
    return vendored_dir(name) if pins[name].vendored else cache_dir() / name


class CorpusUnavailableError(RuntimeError):
    """A named corpus that is neither in the package nor (verified) in the cache; the message says what to do."""


def ensure_corpus(name: str) -> Path:
    """The folder of a named corpus, ready to read: vendored, or already fetched into the cache."""
    folder = corpus_folder(name)
    if all((folder / f"{split}.tsv").is_file() or (folder / f"{split}.tsv.gz").is_file() for split in SPLITS):
        return folder
    raise CorpusUnavailableError(f"corpus {name!r} is not in {folder}: fetch it first with `biobert-ner data fetch {name}`")
