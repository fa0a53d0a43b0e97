"""Hub models read safely and as they were trained: a fixed revision, safetensors only, case kept.

Hub models are read at a fixed revision: BioBERT's ``main`` branch holds only pickled weights,
so it is pinned to the commit that adds ``model.safetensors`` (``PINNED_REVISIONS``), and a hub
model without safetensors at its revision is an error, never a request to the hub's conversion
service (:func:`require_safetensors`). A cased model must see cased text: ``check_casing``
warns about a tokenizer that lower-cases for a cased model (by its name or its vocabulary).

These checks live apart from :mod:`biobert_ner.modelling`, which calls them while it loads.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator, Sequence

BIOBERT = "dmis-lab/biobert-base-cased-v1.2"  # BioBERT v1.2, cased, PubMed-pretrained

# BioBERT's `main` holds only pytorch_model.bin (a pickle). The same weights as model.safetensors
# live in a pull-request commit; without the pin, use_safetensors=True on `main` makes transformers
# call the hub's conversion service and guess which pull request to read.
PINNED_REVISIONS = {BIOBERT: "28c8d50abc6680732eca889059ff503505a74cd5"}
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")

# Cased models whose hub id does not say "cased" (the rule in is_cased_model covers the others).
KNOWN_CASED_MODELS = frozenset({BIOBERT, "dmis-lab/biobert-v1.1"})
# Share of a vocabulary's ordinary tokens with a capital letter above which it was built from cased
# text: a cased BERT vocabulary has thousands of such tokens, MiniLM's uncased one has 2 in 30,522.
CASED_VOCABULARY_SHARE = 0.01


class ModelNotAvailableError(RuntimeError):
    """The requested model cannot be loaded here; the message says what to do instead."""


def hub_revision(repo_id: str, revision: str | None = None) -> str:
    """The revision read for a hub id: the one asked for, else the pinned one, else ``main``."""
    return revision or PINNED_REVISIONS.get(repo_id, "main")


# ---------------------------------------------------------------- hub revisions: safetensors or nothing


def _hub_file_names(repo_id: str, revision: str) -> set[str] | None:
    """The files of a hub repository at ``revision``; ``None`` when the hub cannot be asked.

    That is offline (``HF_HUB_OFFLINE``, refused at once), without a network, or for an unknown
    repository or revision: the local cache is asked next, and transformers' error says the rest.
    """
    from huggingface_hub import HfApi

    try:
        return set(HfApi().list_repo_files(repo_id, revision=revision))
    except Exception:  # noqa: BLE001 - hub errors are OSErrors, but connection errors are httpx's own
        return None


def _cached_safetensors(repo_id: str, revision: str) -> bool | None:
    """What the local cache knows: safetensors there (True), known absent (False), or nothing (None).

    Absent: the hub once answered "no such file" (huggingface_hub records it under ``.no_exist``),
    or the snapshot holds pickled weights but no safetensors.
    """
    from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

    def cached(names: Sequence[str]) -> list:  # a path, _CACHED_NO_EXIST or None per name
        return [try_to_load_from_cache(repo_id, name, revision=revision) for name in names]

    safetensors = cached(SAFETENSORS_FILES)
    if any(isinstance(found, str) for found in safetensors):
        return True
    if all(found is _CACHED_NO_EXIST for found in safetensors):
        return False
    return False if any(isinstance(found, str) for found in cached(PICKLE_WEIGHTS_FILES)) else None


def require_safetensors(repo_id: str, revision: str) -> None:
    """Fail before any download when a hub model has no safetensors at the revision to be read.

    Otherwise transformers would, on ``main``, ask the hub's conversion service to convert the
    pickled weights and then guess which pull request holds the result: slow and fragile.
    The cache is asked first: safetensors already there need no hub call (nor its retries).
    """
    cached = _cached_safetensors(repo_id, revision)
    if cached:
        return
    names = _hub_file_names(repo_id, revision)
    has_safetensors = bool(names & set(SAFETENSORS_FILES)) if names is not None else cached
    if has_safetensors is not False:
        return
    where = "the hub lists" if names is not None else "the local Hugging Face cache holds"
    pin = f"revision={PINNED_REVISIONS.get(repo_id, '<commit or refs/pr/N>')!r}"
    raise ModelNotAvailableError(
        f"{repo_id} has no safetensors weights at revision {revision!r} ({where} no {SAFETENSORS_FILES[0]}); "
        f"pickled weights are never loaded nor sent for conversion. Pin a revision that has them ({pin}) "
        "or convert them locally into a folder (model.save_pretrained(folder)) and pass the folder."
    )


@contextlib.contextmanager
def safetensors_conversion_disabled() -> Iterator[None]:
    """Belt and braces for :func:`require_safetensors` when neither the hub nor the cache could tell.

    transformers 5 converts (``auto_conversion`` in modeling_utils) only on ``main``, online, and
    while this variable is not true; it reads the variable at each ``from_pretrained`` call.
    """
    previous = os.environ.get("DISABLE_SAFETENSORS_CONVERSION")
    os.environ["DISABLE_SAFETENSORS_CONVERSION"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DISABLE_SAFETENSORS_CONVERSION", None)
        else:
            os.environ["DISABLE_SAFETENSORS_CONVERSION"] = previous


def hub_model_cached(repo_id: str, revision: str | None = None) -> bool:
    """Whether a hub model loads offline: config and safetensors cached at the revision that is read."""
    from huggingface_hub import try_to_load_from_cache

    revision = hub_revision(repo_id, revision)

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(repo_id, name, revision=revision), str)

    return cached("config.json") and any(cached(name) for name in SAFETENSORS_FILES)


# ---------------------------------------------------------------- casing: a cased model sees cased text


def is_cased_model(name: str) -> bool:
    """A known cased model, or a hub id that says "cased" and not "uncased"."""
    lowered = name.lower()
    return name in KNOWN_CASED_MODELS or ("cased" in lowered and "uncased" not in lowered)


def vocabulary_is_cased(tokenizer) -> bool:
    """Whether the vocabulary comes from cased text: many of its ordinary tokens hold a capital letter."""
    ordinary = [token for token in tokenizer.get_vocab() if not (token.startswith("[") and token.endswith("]"))]
    capitalised = sum(any(char.isupper() for char in token) for token in ordinary)
    return capitalised > CASED_VOCABULARY_SHARE * len(ordinary)


def lowercases(tokenizer) -> bool:
    """Whether the tokenizer lower-cases its input: the WordPiece pieces of "BRCA1" spell "brca1"."""
    return "".join(piece.removeprefix("##") for piece in tokenizer.tokenize("BRCA1")) == "brca1"


def check_casing(tokenizer, name: str) -> None:
    """Warn when a cased model (by its name or its vocabulary) gets a tokenizer that lower-cases.

    The model would then read text unlike its pretraining text ("brca1" for "BRCA1"): no error,
    just a lower F1. An uncased model with a lower-casing tokenizer is the normal case.
    """
    if not lowercases(tokenizer):
        return
    says_cased = {"its name": is_cased_model(name), "its vocabulary": vocabulary_is_cased(tokenizer)}
    reasons = [reason for reason, cased in says_cased.items() if cased]
    if reasons:
        verb = "say" if len(reasons) > 1 else "says"
        warnings.warn(
            f"{name} is a cased model ({' and '.join(reasons)} {verb} so) but its tokenizer lower-cases text "
            "('BRCA1' -> 'brca1'), unlike the text it was pretrained on: load the tokenizer with do_lower_case=False",
            stacklevel=2,
        )
