"""Real biomedical NER corpora by name: ``ncbi-disease`` ships with the package, the others are fetched.

The BioBERT paper's NER benchmarks (NCBI-disease, BC5CDR, BC2GM, LINNAEUS, ...) are folders of
two-column IOB2 TSV files. ``corpus_data/corpora.tsv`` pins each file to one commit of its
source repository, with its size and sha256, so the data a run trains on is exactly the data
every other run of the course trains on, and a changed or damaged file is refused, not used.

* ``ncbi-disease`` (CC BY 4.0, redistributable with attribution) is vendored, gzip-compressed,
  in ``corpus_data/ncbi-disease/`` with its ``SOURCE.md`` and licence: it works offline.
* The others are downloaded (:func:`fetch_corpus`, ``biobert-ner data fetch NAME``, or on
  first use by :func:`ensure_corpus`) into a cache outside the repository (:func:`cache_dir`)
  and verified, size and sha256, before every use: a few MB to hash, cheap next to training.

A download is streamed to a temporary file, checked, and only then renamed into place, so a
dropped connection or a changed source never leaves a file that looks fetched but is not.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.resources
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping

from .files import atomic_binary_file, atomic_write_text

PINS_FILE = "corpora.tsv"  # in biobert_ner/corpus_data/
VENDORED = ("ncbi-disease",)  # corpora whose files ship inside the package
CACHE_ENV = "BIOBERT_NER_DATA"  # where fetched corpora go; default ~/.cache/biobert-ner/data
SPLITS = ("train", "devel", "test")  # file names (<split>.tsv) in every pinned corpus
RAW_URL = "https://raw.githubusercontent.com"  # prefix of the raw-file URLs of the pinned commits
MIRROR_ENV = "BIOBERT_NER_CORPUS_URL"  # a mirror of RAW_URL (same layout below it), e.g. behind a firewall
TIMEOUT_S = 30  # seconds without a byte before a download counts as dropped
CHUNK_BYTES = 1 << 16

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


def mirror_url() -> str:
    """Where downloads come from: ``$BIOBERT_NER_CORPUS_URL`` if set, else GitHub's raw files."""
    return os.environ.get(MIRROR_ENV) or RAW_URL


def is_corpus_name(text: str) -> bool:
    return text in read_pins()


def _pin(name: str, pins: Mapping[str, CorpusPin] | None) -> CorpusPin:
    """The pin of ``name`` in ``pins`` (default: the package's list); ``KeyError`` names the known ones."""
    pins = read_pins() if pins is None else pins
    if name not in pins:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(pins)}")
    return pins[name]


def _folder(pin: CorpusPin) -> Path:
    return vendored_dir(pin.name) if pin.vendored else cache_dir() / pin.name


def _file_name(pin: CorpusPin, split: str) -> str:
    """Vendored files are gzip-compressed in the package; fetched ones are kept as downloaded."""
    return f"{split}.tsv.gz" if pin.vendored else f"{split}.tsv"


def corpus_folder(name: str) -> Path:
    """The folder of ``name``'s TSV files: the package's for a vendored corpus, else the cache's.

    Raises ``KeyError`` for a name that is not pinned.
    """
    return _folder(_pin(name, None))


class CorpusUnavailableError(RuntimeError):
    """A named corpus that is neither in the package nor (verified) in the cache; the message says what to do."""


# ---------------------------------------------------------------- verifying


def _mismatch(size: int, digest: str, pinned: PinnedFile) -> str | None:
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
    return _mismatch(len(data), hashlib.sha256(data).hexdigest(), pinned)


def _problems(pin: CorpusPin) -> dict[str, str]:
    """Split -> problem, for each file of ``pin`` that is missing or not the pinned bytes."""
    folder = _folder(pin)
    found = {f.split: file_problem(folder / _file_name(pin, f.split), f) for f in pin.files}
    return {split: problem for split, problem in found.items() if problem}


def verify_corpus(name: str, *, pins: Mapping[str, CorpusPin] | None = None) -> list[str]:
    """The problems of a corpus's files (``"train.tsv: missing"``, ...); empty when every file is the pinned bytes."""
    pin = _pin(name, pins)
    return [f"{_file_name(pin, split)}: {problem}" for split, problem in _problems(pin).items()]


def _fetch_command(name: str, force: bool = False) -> str:
    return f"`biobert-ner data fetch {name}{' --force' if force else ''}`"


def _refuse_damaged(pin: CorpusPin, problems: Mapping[str, str]) -> None:
    """Stop at a cached file that is there but wrong: it may be someone's edit, so only ``--force`` replaces it."""
    damaged = [f"{_file_name(pin, split)}: {problem}" for split, problem in problems.items() if problem != "missing"]
    if damaged:
        raise CorpusUnavailableError(
            f"the {pin.name} corpus in {_folder(pin)} fails verification ({'; '.join(damaged)}): "
            f"re-fetch it with {_fetch_command(pin.name, force=True)}"
        )


def ensure_corpus(name: str, *, pins: Mapping[str, CorpusPin] | None = None) -> Path:
    """The folder of a named corpus, ready to read: vendored, cached and verified, or fetched now.

    Verified on every call (a few MB to hash) so a damaged cache fails here, with the fix in
    the message, instead of training quietly on other data. A first use needs the network.
    """
    pin = _pin(name, pins)
    if pin.vendored:
        return vendored_dir(name)
    problems = _problems(pin)
    _refuse_damaged(pin, problems)
    if problems:  # only missing files: a first use (or a fetch that was interrupted between files)
        megabytes = sum(f.size for f in pin.files if f.split in problems) / 1e6
        print(f"fetching the {name} corpus ({', '.join(problems)}: {megabytes:.1f} MB) from {pin.repository} "
              f"at commit {pin.commit[:12]} ({urllib.parse.urlsplit(mirror_url()).netloc}) into {_folder(pin)}")
        return fetch_corpus(name, pins=pins)
    return _folder(pin)


# ---------------------------------------------------------------- fetching


def fetch_corpus(
    name: str,
    *,
    base_url: str | None = None,
    progress: bool = True,
    force: bool = False,
    pins: Mapping[str, CorpusPin] | None = None,
) -> Path:
    """Download the files of a pinned corpus that are not cached yet, verify them, return the folder.

    Files already cached and verified are not downloaded again (``force=True`` downloads all).
    ``base_url`` replaces :data:`RAW_URL` (default: :func:`mirror_url`). A vendored corpus is
    only verified. Any failure raises :class:`CorpusUnavailableError` saying what to do.
    """
    pin = _pin(name, pins)
    if pin.vendored:
        return _verified_vendored(pin)
    problems = {} if force else _problems(pin)
    _refuse_damaged(pin, problems)
    folder = _folder(pin)
    for pinned in pin.files:
        if force or pinned.split in problems:
            _download(pin, pinned, folder / _file_name(pin, pinned.split), base_url or mirror_url(), progress)
    source = folder / "SOURCE.md"
    if not source.is_file() or source.read_text(encoding="utf-8") != source_text(pin):
        atomic_write_text(source, source_text(pin))
    return folder


def _verified_vendored(pin: CorpusPin) -> Path:
    """The package folder of a vendored corpus, once its files are checked (nothing to download)."""
    problems = [f"{_file_name(pin, split)}: {problem}" for split, problem in _problems(pin).items()]
    if problems:
        raise CorpusUnavailableError(f"the package's copy of {pin.name} is damaged ({'; '.join(problems)}): reinstall biobert-ner")
    return vendored_dir(pin.name)


def _label(pin: CorpusPin, pinned: PinnedFile) -> str:
    """How messages and the progress bar name a file: ``bc2gm train.tsv``."""
    return f"{pin.name} {pinned.split}.tsv"


def _download(pin: CorpusPin, pinned: PinnedFile, target: Path, base_url: str, progress: bool) -> None:
    """One file into ``target``: streamed to a temporary file, size and sha256 checked, then renamed."""
    label = _label(pin, pinned)
    with _open(pin.url(pinned.split, base_url), pin, label) as response, atomic_binary_file(target) as file:
        size, digest = _copy(response, file, pin, pinned, progress)
        problem = _mismatch(size, digest, pinned)
        if problem:  # raised inside the block: the temporary file goes, target stays as it was
            raise CorpusUnavailableError(f"{label}: {problem}: the download was damaged or the source changed; "
                                         f"run {_fetch_command(pin.name)} again")


def _open(url: str, pin: CorpusPin, label: str) -> http.client.HTTPResponse:
    """``urlopen`` with the errors a user meets turned into one line each: an HTTP status, or no network."""
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:  # a URLError too: must come first
        error.close()
        raise CorpusUnavailableError(f"{label}: HTTP {error.code} {error.reason} from {url}: the pinned file is not "
                                     f"at that address (check {MIRROR_ENV} if you set it); nothing was written") from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CorpusUnavailableError(
            f"{label}: could not reach {urllib.parse.urlsplit(url).netloc} ({reason}): run {_fetch_command(pin.name)} "
            f"on a machine with internet access and copy {_folder(pin)} here, or set {CACHE_ENV} to a folder that holds it"
        ) from error


def _copy(response: http.client.HTTPResponse, file: BinaryIO, pin: CorpusPin, pinned: PinnedFile, progress: bool) -> tuple[int, str]:
    """Stream the body into ``file`` with a progress bar; returns (bytes, sha256). An early end raises.

    ``read(n)`` returns ``b""`` when the server closes before Content-Length bytes (no
    IncompleteRead), so the count is checked here; reading stops past the pinned size, so a
    wrong response without a length cannot fill the disk.
    """
    from tqdm.auto import tqdm  # at call time: the course silences tqdm.auto in notebooks

    label = _label(pin, pinned)
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    if expected is not None and expected != pinned.size:
        raise CorpusUnavailableError(f"{label}: the server offers {expected:,} bytes, pinned {pinned.size:,}: "
                                     f"the source changed or the address is wrong; nothing was written")
    digest, received = hashlib.sha256(), 0
    with tqdm(total=pinned.size, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress, leave=False) as bar:
        try:
            while received <= pinned.size and (chunk := response.read(CHUNK_BYTES)):
                file.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as error:  # IncompleteRead, ConnectionResetError, timeout
            raise _dropped(pin, label, received, pinned.size, error) from error
    if expected is not None and received < expected:
        raise _dropped(pin, label, received, expected, "the server closed the connection")
    return received, digest.hexdigest()


def _dropped(pin: CorpusPin, label: str, received: int, total: int, reason: object) -> CorpusUnavailableError:
    return CorpusUnavailableError(f"{label}: the connection dropped after {received:,} of {total:,} bytes ({reason}); "
                                  f"nothing was kept: run {_fetch_command(pin.name)} again")


def source_text(pin: CorpusPin) -> str:
    """``SOURCE.md`` of a fetched corpus: where the files come from, their licence, what to cite."""
    rows = "\n".join(f"| {f.split}.tsv | {f.size} | {f.sha256} |" for f in pin.files)
    return (
        f"# {pin.name}: {', '.join(pin.entity_types)} NER corpus, IOB2 TSV\n\n"
        f"Fetched by `biobert-ner data fetch {pin.name}` from repository `{pin.repository}`, commit `{pin.commit}`,\n"
        f"folder `data/{pin.folder}/`; unchanged bytes, each verified against the size and sha256 below.\n\n"
        f"- Corpus: {CITATIONS.get(pin.name, 'see the source repository')}\n"
        f"- These files: the IOB version of {CROSS_CITATION}. That repository licenses its materials under\n"
        "  Creative Commons Attribution 4.0 (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/): keep this\n"
        "  attribution with the files wherever they go, and cite the corpus's paper in work that uses it.\n\n"
        f"| file | bytes | sha256 |\n|---|---|---|\n{rows}\n"
    )


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
        problems = _problems(pin)
        rows.append({
            "name": pin.name,
            "entity_types": list(pin.entity_types),
            "status": _status(pin, problems),
            "folder": str(_folder(pin)),
            "bytes": sum(f.size for f in pin.files),
            "problems": [f"{_file_name(pin, split)}: {problem}" for split, problem in problems.items()],
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
