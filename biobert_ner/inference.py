"""Prediction on raw text: the pipeline and the backends that run its forward pass.

text -> windows of sub-word ids (:mod:`biobert_ner.windows`) -> logits (here) -> entities
(:mod:`biobert_ner.entities`). The Java appendix mirrors the same steps (``NerModel.java`` with
``Windows``, ``DocumentEncoding`` and ``Decoder``), pinned by golden fixtures made from
:meth:`NerPipeline.encode` and :meth:`NerPipeline.logits`.

The forward pass is a *backend*, ``forward(input_ids, attention_mask) -> logits`` on numpy
arrays: :class:`TorchBackend` (a PyTorch model in ``torch.inference_mode()``, optionally under
bf16 autocast) or :class:`biobert_ner.bundle.OnnxBackend` (an exported bundle run by ONNX
Runtime, :meth:`NerPipeline.from_bundle`). Everything before and after is shared. All windows of
all texts go through the model together, longest first (:func:`length_sorted_batches`), each
batch padded only to its own longest window: on a CPU a batch of 32 windows padded to its longest
member costs what its longest member costs, 32 times; sorted, there is little padding left to pay for.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from typing import Protocol, Sequence, overload

import numpy as np
import torch

from .decoding import DEFAULT_DECODING, Decoding, parse_decoding
from .entities import Entity, decode_document
from .precision import Precision, autocast_context, parse_precision
from .windows import SPECIAL_TOKENS_PER_WINDOW, DocumentEncoding, encode_documents, special_token_ids


@dataclass(frozen=True)
class InferenceConfig:
    """Settings of a prediction run (printed when a pipeline is made); the one owner of their defaults.

    ``window_length`` is not training's ``max_length``: training cuts a *sentence* at
    ``max_length`` sub-words, inference never cuts a text but reads it through overlapping
    windows of ``window_length`` tokens (a bundle stores it under the same name in bundle.json).
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


# ---------------------------------------------------------------- windows -> logits


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


# ---------------------------------------------------------------- the pipeline object


def runnable_precision(saved: Precision, device_type: str) -> Precision:
    """The precision a model was scored in, where ``device_type`` can run it.

    fp16 autocast needs a CUDA GPU: a model scored in fp16 and loaded on a CPU runs in fp32, and
    says so (never silently).
    """
    if saved is Precision.FP16 and device_type != "cuda":
        print("precision: fp32 (the model was scored in fp16, which needs a CUDA GPU; this device is "
              f"{device_type})", file=sys.stderr)
        return Precision.FP32
    return saved


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
        Without a ``config``, the decoding and the precision are the ones the model was scored with
        (``ner_settings.json``), so what is served is what was evaluated; a decoding or precision
        that differs from the saved one is printed as an override. (An exported bundle always runs
        in fp32; ``precision="fp32"`` is the reference it matches.)
        """
        from .model_card import load_ner_settings, resolve_setting

        from .modelling import load_model_and_tokenizer

        saved = load_ner_settings(folder)
        given = config is not None
        model, tokenizer = load_model_and_tokenizer(str(folder), device=device, verbose=verbose)
        device_type = next(model.parameters()).device.type
        config = replace(config or InferenceConfig(decoding=saved.decoding, precision=runnable_precision(saved.precision, device_type)),
                         **settings)
        for name in ("decoding", "precision"):  # printed only where the caller chose one that differs
            if given or name in settings:
                resolve_setting(name, getattr(config, name), getattr(saved, name))
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
