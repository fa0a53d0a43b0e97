"""Fetching the pinned corpora that do not ship with the package, into the cache, verified.

:mod:`biobert_ner.corpora` says which files a corpus has and what their bytes must be; this
module downloads the missing ones (``biobert-ner data fetch NAME``, or :func:`ensure_corpus`
on first use). A download is streamed to a temporary file, checked, and only then renamed into
place, so a dropped connection or a changed source never leaves a file that looks fetched but
is not. Every failure is a :class:`~biobert_ner.corpora.CorpusUnavailableError` saying what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Mapping

from .corpora import (
    CACHE_ENV,
    CITATIONS,
    CROSS_CITATION,
    RAW_URL,
    CorpusPin,
    CorpusUnavailableError,
    PinnedFile,
    file_name,
    find_pin,
    local_folder,
    mismatch,
    named_problems,
    pin_problems,
    vendored_dir,
)
from .files import atomic_binary_file, atomic_write_text

MIRROR_ENV = "BIOBERT_NER_CORPUS_URL"  # a mirror of RAW_URL (same layout below it), e.g. behind a firewall
TIMEOUT_S = 30  # seconds without a byte before a download counts as dropped
CHUNK_BYTES = 1 << 16


def mirror_url() -> str:
    """Where downloads come from: ``$BIOBERT_NER_CORPUS_URL`` if set, else GitHub's raw files."""
    return os.environ.get(MIRROR_ENV) or RAW_URL


def _fetch_command(name: str, force: bool = False) -> str:
    return f"`biobert-ner data fetch {name}{' --force' if force else ''}`"


def _refuse_damaged(pin: CorpusPin, problems: Mapping[str, str]) -> None:
    """Stop at a cached file that is there but wrong: it may be someone's edit, so only ``--force`` replaces it."""
    damaged = named_problems(pin, {split: problem for split, problem in problems.items() if problem != "missing"})
    if damaged:
        raise CorpusUnavailableError(
            f"the {pin.name} corpus in {local_folder(pin)} fails verification ({'; '.join(damaged)}): "
            f"re-fetch it with {_fetch_command(pin.name, force=True)}"
        )


def ensure_corpus(name: str, *, pins: Mapping[str, CorpusPin] | None = None) -> Path:
    """The folder of a named corpus, ready to read: vendored, cached and verified, or fetched now.

    Verified on every call (a few MB to hash) so a damaged cache fails here, with the fix in
    the message, instead of training quietly on other data. A first use needs the network.
    """
    pin = find_pin(name, pins)
    if pin.vendored:
        return vendored_dir(name)
    problems = pin_problems(pin)
    _refuse_damaged(pin, problems)
    if problems:  # only missing files: a first use (or a fetch that was interrupted between files)
        megabytes = sum(f.size for f in pin.files if f.split in problems) / 1e6
        print(f"fetching the {name} corpus ({', '.join(problems)}: {megabytes:.1f} MB) from {pin.repository} "
              f"at commit {pin.commit[:12]} ({urllib.parse.urlsplit(mirror_url()).netloc}) into {local_folder(pin)}")
        return fetch_corpus(name, pins=pins)
    return local_folder(pin)


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
    ``base_url`` replaces :data:`~biobert_ner.corpora.RAW_URL` (default: :func:`mirror_url`). A vendored corpus is
    only verified. Any failure raises :class:`CorpusUnavailableError` saying what to do.
    """
    pin = find_pin(name, pins)
    if pin.vendored:  # nothing to download: only checked
        if damaged := named_problems(pin, pin_problems(pin)):
            raise CorpusUnavailableError(f"the package's copy of {name} is damaged ({'; '.join(damaged)}): reinstall biobert-ner")
        return vendored_dir(name)
    problems = {} if force else pin_problems(pin)
    _refuse_damaged(pin, problems)
    folder = local_folder(pin)
    for pinned in pin.files:
        if force or pinned.split in problems:
            _download(pin, pinned, folder / file_name(pin, pinned.split), base_url or mirror_url(), progress)
    source = folder / "SOURCE.md"
    if not source.is_file() or source.read_text(encoding="utf-8") != source_text(pin):
        atomic_write_text(source, source_text(pin))
    return folder


def _download(pin: CorpusPin, pinned: PinnedFile, target: Path, base_url: str, progress: bool) -> None:
    """One file into ``target``: streamed to a temporary file, size and sha256 checked, then renamed."""
    label = f"{pin.name} {pinned.split}.tsv"  # how messages and the progress bar name a file
    with _open(pin.url(pinned.split, base_url), pin, label) as response, atomic_binary_file(target) as file:
        size, digest = _copy(response, file, pin, pinned, label, progress)
        problem = mismatch(size, digest, pinned)
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
            f"on a machine with internet access and copy {local_folder(pin)} here, or set {CACHE_ENV} to a folder that holds it"
        ) from error


def _copy(
    response: http.client.HTTPResponse, file: BinaryIO, pin: CorpusPin, pinned: PinnedFile, label: str, progress: bool
) -> tuple[int, str]:
    """Stream the body into ``file`` with a progress bar; returns (bytes, sha256). An early end raises.

    ``read(n)`` returns ``b""`` when the server closes before Content-Length bytes (no
    IncompleteRead), so the count is checked here; reading stops past the pinned size, so a
    wrong response without a length cannot fill the disk.
    """
    from tqdm.auto import tqdm  # at call time: the course silences tqdm.auto in notebooks

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
