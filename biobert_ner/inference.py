"""Prediction on raw text: text -> words -> sub-word windows -> logits -> word tags -> entities.

Every step is a small function a notebook can call and show on its own, and the Java appendix
mirrors the same steps (``NerModel.java``), pinned by golden fixtures made from
:meth:`NerPipeline.encode` and :meth:`NerPipeline.logits`:

1. :func:`encode_documents`: pre-tokenize each text with the project's one pre-tokenizer
   (:func:`biobert_ner.pretokenize.pretokenize`, which keeps character offsets), tokenize the
   word list (``is_split_into_words=True``) *without* special tokens and *without* truncation,
   and cut the sub-words into overlapping windows (:func:`biobert_ner.alignment.plan_windows`)
   of at most ``window_length - 2`` tokens; each window becomes ``[CLS] + ids + [SEP]``.
2. :func:`forward_windows`: all windows of all texts go through the model together, longest
   first (:func:`length_sorted_batches`), each batch padded only to its own longest window. The
   forward pass itself is a *backend*, ``forward(input_ids, attention_mask) -> logits`` on numpy
   arrays: :class:`TorchBackend` (a PyTorch model in ``torch.inference_mode()``, optionally under
   bf16 autocast) or :class:`biobert_ner.bundle.OnnxBackend` (an exported bundle run by ONNX
   Runtime, :meth:`NerPipeline.from_bundle`). Everything before and after is shared.
3. :func:`decode_document`: softmax, the label probabilities per token, windows stitched
   together (:func:`biobert_ner.alignment.merge_window_predictions`), each word read from its
   first sub-word (:func:`biobert_ner.alignment.word_label_ids`, whatever the training strategy),
   the text's tags decoded as the most probable valid IOB2 sequence (:mod:`biobert_ner.decoding`),
   then spans and character offsets (:func:`biobert_ner.alignment.entities_from_word_tags`; an
   entity's score is the mean of its words' probabilities).

Sorting windows by length matters on a CPU: a batch of 32 windows padded to its longest member
costs what its longest member costs, 32 times; sorted, there is little padding left to pay for.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol, Sequence, overload

import numpy as np
import torch

from .alignment import Entity, Window, encode_words, entities_from_word_tags, merge_window_predictions, plan_windows, word_label_ids
from .decoding import DEFAULT_DECODING, Decoding, decode_word_tags, parse_decoding
from .precision import Precision, autocast_context, parse_precision
from .pretokenize import Word, pretokenize

SPECIAL_TOKENS_PER_WINDOW = 2  # [CLS] in front, [SEP] at the end


@dataclass(frozen=True)
class InferenceConfig:
    """Settings of a prediction run (printed when a pipeline is made); the one owner of their defaults.

    ``window_length`` is not training's ``max_length``: training cuts a *sentence* at
    ``max_length`` sub-words, inference never cuts a text but reads it through overlapping
    windows of ``window_length`` tokens (a bundle stores it as ``max_length`` in bundle.json).
    """

    batch_size: int = 32  # windows per forward pass, from all texts together
    window_length: int = 256  # tokens per window, [CLS] and [SEP] included
    stride: int = 64  # tokens shared by consecutive windows of a long document
    precision: Precision = Precision.FP32  # number format of the forward pass (bf16: autocast, faster with bf16 units; PyTorch only)
    decoding: Decoding = DEFAULT_DECODING  # "viterbi" (most probable valid IOB2 sequence) or "argmax"; a model folder's own by default

    def __post_init__(self) -> None:
        # Strings (flags, JSON) are parsed here, once; each raises naming the choices.
        object.__setattr__(self, "precision", parse_precision(self.precision, resolved=True))
        object.__setattr__(self, "decoding", parse_decoding(self.decoding))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        window_tokens = self.window_length - SPECIAL_TOKENS_PER_WINDOW
        if window_tokens < 1:
            raise ValueError(f"window_length must leave room for [CLS], [SEP] and a token: got {self.window_length}")
        if not 0 <= self.stride < window_tokens:
            raise ValueError(f"need 0 <= stride < window_length - 2 = {window_tokens}, got stride={self.stride}")

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision.value, "decoding": self.decoding.value}

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.to_dict().items())


# ---------------------------------------------------------------- 1. text -> windows of token ids


@dataclass(frozen=True)
class DocumentEncoding:
    """Everything the model input of one text is made of (also what the golden fixtures pin)."""

    text: str
    words: list[Word]  # pre-tokenized words with character offsets into ``text``
    token_ids: list[int]  # sub-word ids of the whole text, no special tokens
    word_ids: list[int]  # for each sub-word, the index of its word
    windows: list[Window] = field(default_factory=list)  # token ranges, see alignment.plan_windows
    window_input_ids: list[list[int]] = field(default_factory=list)  # [CLS] + window tokens + [SEP]

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    def to_dict(self) -> dict:
        """Plain JSON-ready data (words as ``[text, start, end]``, windows as ``[start, end]``)."""
        return {
            "text": self.text,
            "words": [[word.text, word.start, word.end] for word in self.words],
            "token_ids": list(self.token_ids),
            "word_ids": list(self.word_ids),
            "windows": [[window.start, window.end] for window in self.windows],
            "window_input_ids": [list(ids) for ids in self.window_input_ids],
        }


def special_token_ids(tokenizer) -> tuple[int, int, int]:
    """``([CLS], [SEP], [PAD])`` ids of a BERT-style tokenizer; an error for tokenizers without them."""
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    if None in ids:
        raise ValueError(f"{type(tokenizer).__name__} has no [CLS]/[SEP]/[PAD] token: a BERT-style tokenizer is needed")
    return ids  # type: ignore[return-value]


def window_input_ids(token_ids: Sequence[int], windows: Sequence[Window], cls_id: int, sep_id: int) -> list[list[int]]:
    """The model input of each window: ``[CLS] + token_ids[start:end] + [SEP]``."""
    return [[cls_id, *token_ids[window.start : window.end], sep_id] for window in windows]


def encode_documents(
    tokenizer, texts: Sequence[str], *, window_length: int = InferenceConfig.window_length, stride: int = InferenceConfig.stride
) -> list[DocumentEncoding]:
    """Pre-tokenize, tokenize (one batched call) and window every text.

    A text without words, or whose words all tokenize to nothing (only control characters,
    say), gets no windows: there is nothing to send to the model.
    """
    cls_id, sep_id, _ = special_token_ids(tokenizer)
    all_words = [pretokenize(text) for text in texts]
    to_tokenize = [i for i, words in enumerate(all_words) if words]  # the tokenizer rejects an empty word list
    encodings = {}
    if to_tokenize:
        # no [CLS]/[SEP] (each window gets its own), never cut (long texts are windowed)
        batch = encode_words(tokenizer, [[word.text for word in all_words[i]] for i in to_tokenize], max_length=None)
        for row, i in enumerate(to_tokenize):
            encodings[i] = (batch["input_ids"][row], batch.word_ids(row))
    documents = []
    for i, (text, words) in enumerate(zip(texts, all_words)):
        token_ids, word_ids = encodings.get(i, ([], []))
        windows = plan_windows(len(token_ids), window_length - SPECIAL_TOKENS_PER_WINDOW, stride) if token_ids else []
        documents.append(
            DocumentEncoding(text, words, list(token_ids), list(word_ids), windows, window_input_ids(token_ids, windows, cls_id, sep_id))
        )
    return documents


# ---------------------------------------------------------------- 2. windows -> logits


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of ``lengths`` in batches of ``batch_size``, longest first (little padding; a memory error shows up at once)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask`` (int64) padded on the right to the longest sequence of this batch."""
    width = max(len(sequence) for sequence in sequences)
    input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
        attention_mask[row, : len(sequence)] = 1
    return input_ids, attention_mask


class Backend(Protocol):
    """What runs the model: padded windows in, logits out. Everything else is the pipeline's."""

    label_names: list[str]  # in label-id order
    precision: Precision | str

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """float32 logits ``[batch, sequence, labels]`` of int64 ``[batch, sequence]`` inputs."""
        ...


class TorchBackend:
    """A PyTorch token-classification model as a backend (eager, in ``torch.inference_mode()``)."""

    def __init__(self, model: torch.nn.Module, precision: Precision) -> None:
        self.model = model.eval()
        self.precision = parse_precision(precision, resolved=True)
        id2label = model.config.id2label
        self.label_names = [id2label[i] for i in range(len(id2label))]
        self.max_positions = getattr(model.config, "max_position_embeddings", None)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        device = self.device
        with torch.inference_mode(), autocast_context(device, self.precision):
            logits = self.model(
                input_ids=torch.from_numpy(input_ids).to(device), attention_mask=torch.from_numpy(attention_mask).to(device)
            ).logits
        return logits.float().cpu().numpy()

    def __str__(self) -> str:
        return f"torch {self.model.config.model_type} on {self.device}"


def forward_windows(backend: Backend, windows: Sequence[Sequence[int]], *, pad_id: int, batch_size: int = 32) -> list[np.ndarray]:
    """Logits of each window, ``float32`` arrays of shape ``(len(window), num_labels)`` in input order."""
    results: list[np.ndarray | None] = [None] * len(windows)
    for batch in length_sorted_batches([len(window) for window in windows], batch_size):
        logits = backend.forward(*pad_batch([windows[i] for i in batch], pad_id))
        for row, i in enumerate(batch):
            results[i] = logits[row, : len(windows[i])]
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------- 3. logits -> entities


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (shifted by the maximum, so large logits do not overflow)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def token_probabilities(window_logits: np.ndarray) -> np.ndarray:
    """Label probabilities of each window token, shape (tokens, labels), ``[CLS]``/``[SEP]`` rows left out."""
    return softmax(np.asarray(window_logits, dtype=np.float32))[1:-1]


def token_predictions(window_logits: np.ndarray) -> list[tuple[int, float]]:
    """``(label id, probability)`` of each window token's best label, ``[CLS]``/``[SEP]`` left out."""
    probabilities = token_probabilities(window_logits)
    best = probabilities.argmax(axis=-1)
    return [(int(label), float(probabilities[i, label])) for i, label in enumerate(best)]


def word_predictions(
    encoding: DocumentEncoding,
    window_logits: Sequence[np.ndarray],
    label_names: Sequence[str],
    decoding: Decoding,
) -> tuple[list[str], list[float]]:
    """One tag and its probability per word, decoded from the label probabilities of each word's first sub-word.

    The tags of the text are decoded together (:mod:`biobert_ner.decoding`): ``"viterbi"``, the most
    probable valid IOB2 sequence, or ``"argmax"``, which takes each word's best label on its own
    (which may break IOB2; :func:`decode_document` repairs it). A word's score is the probability
    of its tag. A word with no sub-word at all (a lone control character, which the tokenizer
    drops) is ``O`` with probability 1: the model never saw it.
    """
    if len(window_logits) != len(encoding.windows):
        raise ValueError(f"{len(encoding.windows)} windows but {len(window_logits)} logit arrays")
    per_window = [token_probabilities(logits) for logits in window_logits]
    per_token = merge_window_predictions(encoding.windows, per_window, encoding.num_tokens) if encoding.num_tokens else []
    # word_label_ids reads "the value at each word's first token"; given token positions as the
    # values, it says where each word's first token is.
    first_tokens = word_label_ids(encoding.word_ids, range(encoding.num_tokens), len(encoding.words))
    word_probabilities = [None if t is None else per_token[t] for t in first_tokens]
    with np.errstate(divide="ignore"):  # a probability of exactly 0 is a log-probability of minus infinity
        word_log_probs = [None if p is None else np.log(p.astype(np.float64)) for p in word_probabilities]
    tags = decode_word_tags(word_log_probs, label_names, decoding)
    label_ids = {label: i for i, label in enumerate(label_names)}
    scores = [1.0 if p is None else float(p[label_ids[tag]]) for p, tag in zip(word_probabilities, tags)]
    return tags, scores


def decode_document(
    encoding: DocumentEncoding,
    window_logits: Sequence[np.ndarray],
    label_names: Sequence[str],
    decoding: Decoding,
) -> list[Entity]:
    """Entities of one text from its windows' logits (no model needed: hand-written logits work)."""
    tags, scores = word_predictions(encoding, window_logits, label_names, decoding)
    return entities_from_word_tags(encoding.text, encoding.words, tags, scores)


# ---------------------------------------------------------------- the pipeline object


class NerPipeline:
    """A fine-tuned token-classification model and its tokenizer, applied to raw text.

    The model runs in a *backend*: a PyTorch model (:meth:`from_pretrained`, or a model given to the
    constructor) or an exported bundle in ONNX Runtime (:meth:`from_bundle`). Encoding, batching and
    decoding are the same code for both.

    >>> ner = NerPipeline.from_pretrained("runs/ncbi/model")            # doctest: +SKIP
    >>> ner("Cisplatin induced nephrotoxicity in rats.")                 # doctest: +SKIP
    [Entity(type='Chemical', text='Cisplatin', start=0, end=9, score=0.98), ...]
    >>> NerPipeline.from_bundle("runs/ncbi/bundle", threads=2)          # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module | Backend, tokenizer, config: InferenceConfig | None = None) -> None:
        self.config = config or InferenceConfig()
        self.backend: Backend = TorchBackend(model, self.config.precision) if isinstance(model, torch.nn.Module) else model
        if parse_precision(self.backend.precision) is not self.config.precision:
            raise ValueError(f"precision={self.config.precision.value}, but the backend ({self.backend}) runs in "
                             f"{parse_precision(self.backend.precision).value}")
        self.tokenizer = tokenizer
        self.cls_id, self.sep_id, self.pad_id = special_token_ids(tokenizer)
        self.label_names = list(self.backend.label_names)
        limit = getattr(self.backend, "max_positions", None)
        if limit is not None and self.config.window_length > limit:
            raise ValueError(f"window_length={self.config.window_length} is more than the model's {limit} positions")

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        config: InferenceConfig | None = None,
        *,
        device: str | torch.device | None = None,
        verbose: bool = True,
        **settings,
    ) -> "NerPipeline":
        """Load a fine-tuned model folder (safetensors, no remote code; labels from its config).

        ``settings`` (``window_length=128``, ``decoding="argmax"``, ...) change fields of ``config``.
        Without a ``config``, the decoding is the one the model was scored with
        (``ner_settings.json``); a decoding or precision that differs from the saved one is printed
        as an override. The precision stays fp32 unless asked: the reference that an exported
        bundle (always fp32) matches.
        """
        from .model_card import load_ner_settings, resolve_setting

        from .modelling import load_model_and_tokenizer

        saved = load_ner_settings(folder)
        given = config is not None
        config = replace(config or InferenceConfig(decoding=saved.decoding), **settings)
        for name in ("decoding", "precision"):  # printed only where the caller chose one that differs
            if given or name in settings:
                resolve_setting(name, getattr(config, name), getattr(saved, name))

        model, tokenizer = load_model_and_tokenizer(str(folder), device=device, verbose=verbose)
        pipeline = cls(model, tokenizer, config)
        if verbose:
            print(f"inference: {config}")
        return pipeline

    @classmethod
    def from_bundle(
        cls, folder: str | os.PathLike[str], *, batch_size: int = InferenceConfig.batch_size, threads: int | None = None,
        decoding: Decoding | str | None = None, verbose: bool = True,
    ) -> "NerPipeline":
        """Run an exported bundle (``biobert-ner export``) with ONNX Runtime on the CPU.

        The bundle is checked first (:meth:`biobert_ner.bundle.Bundle.load`: a bad one is a
        :class:`~biobert_ner.bundle.BundleError` naming the file); windows are the bundle's
        ``window_length`` and ``stride``, the ones its golden fixtures were made with, and the decoding is the
        bundle's (``decoding`` overrides it, and says so). ``threads``: ONNX Runtime intra-op threads (None: one per core).
        """
        from .bundle import Bundle, OnnxBackend

        from .model_card import resolve_setting

        bundle = Bundle.load(folder)
        decoding = resolve_setting("decoding", None if decoding is None else parse_decoding(decoding), bundle.decoding,
                                   origin="saved in the bundle")
        config = InferenceConfig(batch_size=batch_size, window_length=bundle.window_length, stride=bundle.stride, decoding=decoding)
        pipeline = cls(OnnxBackend.load(bundle, threads=threads), bundle.tokenizer(), config)
        if verbose:
            print(f"bundle: {bundle}\ninference: {config} (onnxruntime, threads={threads or 'default'})")
        return pipeline

    def with_config(self, **settings) -> "NerPipeline":
        """The same model and tokenizer with some settings changed (``ner.with_config(batch_size=8)``)."""
        model = self.backend.model if isinstance(self.backend, TorchBackend) else self.backend  # a new precision, a new TorchBackend
        return type(self)(model, self.tokenizer, replace(self.config, **settings))

    @property
    def model(self) -> torch.nn.Module:
        """The PyTorch model (only with the PyTorch backend)."""
        if not isinstance(self.backend, TorchBackend):
            raise AttributeError(f"this pipeline runs {self.backend}, not a PyTorch model")
        return self.backend.model

    @property
    def device(self) -> torch.device:
        return getattr(self.backend, "device", torch.device("cpu"))

    def encode_batch(self, texts: Sequence[str]) -> list[DocumentEncoding]:
        return encode_documents(self.tokenizer, texts, window_length=self.config.window_length, stride=self.config.stride)

    def encode(self, text: str) -> DocumentEncoding:
        """Words, sub-word ids, windows and window inputs of one text."""
        return self.encode_batch([text])[0]

    def logits_batch(self, encodings: Sequence[DocumentEncoding]) -> list[list[np.ndarray]]:
        """Window logits of every document, all windows batched together."""
        flat = [ids for encoding in encodings for ids in encoding.window_input_ids]
        outputs = forward_windows(self.backend, flat, pad_id=self.pad_id, batch_size=self.config.batch_size)
        result, offset = [], 0
        for encoding in encodings:
            result.append(outputs[offset : offset + len(encoding.windows)])
            offset += len(encoding.windows)
        return result

    def logits(self, text: str) -> list[np.ndarray]:
        """Logits of each window of one text, ``[CLS]`` and ``[SEP]`` rows included."""
        return self.logits_batch([self.encode(text)])[0]

    def predict(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text (the list form of ``__call__``)."""
        encodings = self.encode_batch(list(texts))
        all_logits = self.logits_batch(encodings)
        decoding = self.config.decoding
        return [decode_document(encoding, logits, self.label_names, decoding) for encoding, logits in zip(encodings, all_logits)]

    @overload
    def __call__(self, texts: str) -> list[Entity]: ...

    @overload
    def __call__(self, texts: Sequence[str]) -> list[list[Entity]]: ...

    def __call__(self, texts):
        if isinstance(texts, str):
            return self.predict([texts])[0]
        return self.predict(list(texts))

    def __repr__(self) -> str:
        return f"NerPipeline({self.backend}, labels={self.label_names}, {self.config})"
