"""Real biomedical NER corpora by name: ``ncbi-disease`` ships with the package, the others are fetched.

The BioBERT paper's NER benchmarks (NCBI-disease, BC5CDR, BC2GM, LINNAEUS, ...) are folders of
two-column IOB2 TSV files. ``corpus_data/corpora.tsv`` pins each file to one commit of its
source repository, with its size and sha256, so the data a run trains on is exactly the data
every other run of the course trains on, and a changed or damaged file is refused, not used.

* ``ncbi-disease`` (CC BY 4.0, redistributable with attribution) is vendored, gzip-compressed,
  in ``corpus_data/ncbi-disease/`` with its ``SOURCE.md`` and licence: it works offline.
* The others are downloaded (:mod:`biobert_ner.fetching`: ``biobert-ner data fetch NAME``, or
  on first use) into a cache outside the repository (:func:`cache_dir`) and verified, size and
  sha256, before every use: a few MB to hash, cheap next to training.

This module reads the pins, finds a corpus's files and verifies them; fetching is its own module.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PINS_FILE = "corpora.tsv"  # in biobert_ner/corpus_data/
VENDORED = ("ncbi-disease",)  # corpora whose files ship inside the package
CACHE_ENV = "BIOBERT_NER_DATA"  # where fetched corpora go; default ~/.cache/biobert-ner/data
SPLITS = ("train", "devel", "test")  # file names (<split>.tsv) in every pinned corpus
RAW_URL = "https://raw.githubusercontent.com"  # prefix of the raw-file URLs of the pinned commits

# The paper to cite for each corpus (the files themselves: CROSS_CITATION, the IOB conversion).
BC5CDR = ("Li J., Sun Y., Johnson R.J., Sciaky D., Wei C.-H., Leaman R., Davis A.P., Mattingly C.J., Wiegers T.C., "
          "Lu Z. \"BioCreative V CDR task corpus: a resource for chemical disease relation extraction.\" "
          "Database 2016: baw068. doi:10.1093/database/baw068")
CITATIONS = {
    "ncbi-disease": "Doğan R.I., Leaman R., Lu Z. \"NCBI disease corpus: a resource for disease name recognition and "
                    "concept normalization.\" Journal of Biomedical Informatics 47 (2014) 1-10. doi:10.1016/j.jbi.2013.12.006",
    "bc5cdr": BC5CDR,
    "bc5cdr-chem": BC5CDR,
    "bc5cdr-disease": BC5CDR,
    "bc2gm": "Smith L., Tanabe L.K., Ando R.J. et al. \"Overview of BioCreative II gene mention recognition.\" "
             "Genome Biology 9 (Suppl 2): S2 (2008). doi:10.1186/gb-2008-9-s2-s2",
    "linnaeus": "Gerner M., Nenadic G., Bergman C.M. \"LINNAEUS: a species name identification system for biomedical "
                "literature.\" BMC Bioinformatics 11:85 (2010). doi:10.1186/1471-2105-11-85",
}
CROSS_CITATION = ("Crichton G., Pyysalo S., Chiu B., Korhonen A. \"A neural network multi-task learning approach to "
                  "biomedical named entity recognition.\" BMC Bioinformatics 18:368 (2017)")


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

    def url(self, split: str, base_url: str = RAW_URL) -> str:
        """The raw URL of one split at the pinned commit (``base_url``: another host with the same layout)."""
        return f"{base_url.rstrip('/')}/{self.repository}/{self.commit}/data/{self.folder}/{split}.tsv"

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


def find_pin(name: str, pins: Mapping[str, CorpusPin] | None = None) -> CorpusPin:
    """The pin of ``name`` in ``pins`` (default: the package's list); ``KeyError`` names the known ones."""
    pins = read_pins() if pins is None else pins
    if name not in pins:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(pins)}")
    return pins[name]


def local_folder(pin: CorpusPin) -> Path:
    return vendored_dir(pin.name) if pin.vendored else cache_dir() / pin.name


def file_name(pin: CorpusPin, split: str) -> str:
    """Vendored files are gzip-compressed in the package; fetched ones are kept as downloaded."""
    return f"{split}.tsv.gz" if pin.vendored else f"{split}.tsv"


class CorpusUnavailableError(RuntimeError):
    """A named corpus that is neither in the package nor (verified) in the cache; the message says what to do."""


# ---------------------------------------------------------------- verifying


def mismatch(size: int, digest: str, pinned: PinnedFile) -> str | None:
    """How bytes of ``size`` and ``digest`` differ from the pinned ones, or None when they do not."""
    if size != pinned.size:
        return f"{size:,} bytes, pinned {pinned.size:,}"
    if digest != pinned.sha256:
        return f"sha256 mismatch (got {digest[:12]}..., pinned {pinned.sha256[:12]}...)"
    return None


def file_problem(path: Path, pinned: PinnedFile) -> str | None:
    """What is wrong with one file of a corpus (``"missing"``, its size, its sha256), or None.

    A ``.gz`` file is checked by its decompressed bytes: the pins are those of the source files.
    """
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            return f"not a readable gzip file ({error})"
    return mismatch(len(data), hashlib.sha256(data).hexdigest(), pinned)


def pin_problems(pin: CorpusPin) -> dict[str, str]:
    """Split -> problem, for each file of ``pin`` that is missing or not the pinned bytes."""
    folder = local_folder(pin)
    found = {f.split: file_problem(folder / file_name(pin, f.split), f) for f in pin.files}
    return {split: problem for split, problem in found.items() if problem}


def named_problems(pin: CorpusPin, problems: Mapping[str, str]) -> list[str]:
    """Split -> problem as messages say it: ``"train.tsv: missing"``."""
    return [f"{file_name(pin, split)}: {problem}" for split, problem in problems.items()]


def verify_corpus(name: str, *, pins: Mapping[str, CorpusPin] | None = None) -> list[str]:
    """The problems of a corpus's files (``"train.tsv: missing"``, ...); empty when every file is the pinned bytes."""
    pin = find_pin(name, pins)
    return named_problems(pin, pin_problems(pin))


# ---------------------------------------------------------------- listing


def _status(pin: CorpusPin, problems: Mapping[str, str]) -> str:
    """``vendored``, ``cached``, ``missing`` (nothing fetched), ``partial`` (some files) or ``damaged``."""
    if not problems:
        return "vendored" if pin.vendored else "cached"
    if any(problem != "missing" for problem in problems.values()):
        return "damaged"
    return "missing" if len(problems) == len(pin.files) else "partial"


def corpus_status(*, pins: Mapping[str, CorpusPin] | None = None) -> list[dict]:
    """One row per pinned corpus, for listing: name, entity types, status, folder, pinned bytes, problems."""
    rows = []
    for pin in (read_pins() if pins is None else pins).values():
        problems = pin_problems(pin)
        rows.append({
            "name": pin.name,
            "entity_types": list(pin.entity_types),
            "status": _status(pin, problems),
            "folder": str(local_folder(pin)),
            "bytes": sum(f.size for f in pin.files),
            "problems": named_problems(pin, problems),
        })
    return rows


# Published test F1 (entity level, strict) on these corpora, to set a run beside. Each row:
# (system, test F1 in percent, where it was published).
PUBLISHED_F1: dict[str, list[tuple[str, float, str]]] = {
    "ncbi-disease": [
        ("BioBERT v1.1 (+PubMed)", 89.71, "Lee et al. 2020, Bioinformatics 36(4), Table 6"),
        ("BioBERT (dmis-lab/biobert-pytorch)", 88.30, "dmis-lab/biobert-pytorch README, NER results"),
        ("BERT-base (cased, general domain)", 85.27, "dmis-lab/biobert-pytorch README, NER results"),
    ],
}
