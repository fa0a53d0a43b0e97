"""Reading a bundle (what :mod:`biobert_ner.export` writes): checks, the ONNX Runtime backend, golden fixtures.

The Python twin of the Java appendix's ``Bundle`` and ``NerModel``, check for check:

* :meth:`Bundle.load` reads ``bundle.json`` and ``labels.json`` and refuses what this code cannot
  decode correctly (another format, an older or newer format version, a tagging scheme other than
  IOB2, decoding tables other than the scheme's, a pre-tokenizer other than ours, missing files,
  windows that make no sense) with a :class:`BundleError` that names the file and the problem,
  before any model is loaded;
* :class:`OnnxBackend` is the forward pass of a bundle: an ONNX Runtime session, checked against the
  bundle (inputs, output, number of labels), that turns padded ``input_ids`` and ``attention_mask``
  into logits. ``NerPipeline.from_bundle`` puts it behind the same encoding, batching and decoding
  as the PyTorch model: only the forward pass differs;
* ``golden.json``, the fixtures the Java tests and :func:`biobert_ner.export.check_bundle` replay,
  is read and written by :mod:`biobert_ner.golden`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .decoding import Decoding, parse_decoding
from .pretokenize import WORD_CATEGORIES
from .schemes import DecodingTables, TagError, decoding_tables

BUNDLE_FORMAT = "biobert-ner-bundle"
# 2: "window_length" (was "max_length"), the decoding setting and the scheme's decoding tables as data.
BUNDLE_FORMAT_VERSION = 2  # bump when a reader of the previous version could misread a new bundle
LABEL_SCHEME = "IOB2"  # what every model of this library predicts
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "bundle.json", "golden.json")
REQUIRED_FILES = ("bundle.json", "labels.json", "tokenizer.json", "model.onnx")  # golden.json is for tests only
ONNX_INPUTS = ("input_ids", "attention_mask")  # what the export writes (token_type_ids default to 0)
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a reader knows how to fill
ONNX_OUTPUT = "logits"

# The rule of biobert_ner.pretokenize, by name: a reader that does not implement this exact rule
# must refuse the bundle rather than split words differently from training.
PRETOKENIZER = {
    "name": "biobert-ner-words-v1",
    "word_characters": list(WORD_CATEGORIES),
    "separators": "Python str.isspace, and general category Cf (format characters)",
    "description": (
        "a word is a maximal run of characters of Unicode general category L*, M* or N*; every other "
        "character that is not a separator is a word of its own; separators (white space as Python's "
        "str.isspace, and format characters, category Cf) end words and belong to none"
    ),
    "offsets": "code points, half-open [start, end)",
}


class BundleError(ValueError):
    """A bundle that cannot be used: the message names the file (or folder) and what is wrong with it."""

    def __init__(self, file: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = Path(file)
        self.problem = problem


# ---------------------------------------------------------------- JSON fields with errors that name the file


def read_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BundleError(file, f"cannot be read: {error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BundleError(file, f"not valid JSON: {error}") from error


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def read_object(file: Path) -> dict:
    value = read_json(file)
    if not isinstance(value, dict):
        raise BundleError(file, f"expected a JSON object, found {_describe(value)}")
    return value


def _field(file: Path, data: Mapping, key: str) -> Any:
    if data.get(key) is None:
        raise BundleError(file, f"missing key '{key}'")
    return data[key]


def int_field(file: Path, data: Mapping, key: str) -> int:
    """An integer (``3.0`` too, as Java's reader accepts it; ``true`` is not a number)."""
    value = _field(file, data, key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    raise BundleError(file, f"'{key}' must be an integer, found {_describe(value)}")


def str_field(file: Path, data: Mapping, key: str) -> str:
    value = _field(file, data, key)
    if isinstance(value, str):
        return value
    raise BundleError(file, f"'{key}' must be a string, found {_describe(value)}")


def object_field(file: Path, data: Mapping, key: str) -> dict:
    value = _field(file, data, key)
    if isinstance(value, dict):
        return value
    raise BundleError(file, f"'{key}' must be an object, found {_describe(value)}")


def str_list_field(file: Path, data: Mapping, key: str) -> list[str]:
    value = _field(file, data, key)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise BundleError(file, f"'{key}' must be a list of strings, found {_describe(value)}")


def read_labels(file: Path, scheme: str = LABEL_SCHEME) -> list[str]:
    """``labels.json``: a non-empty list of distinct tags of ``scheme`` (IOB2: ``O``, ``B-X``, ``I-X``)."""
    value = read_json(file)
    if not isinstance(value, list) or not value:
        raise BundleError(file, f"expected a non-empty JSON list of label names, found {_describe(value)}")
    labels: list[str] = []
    for label in value:
        if not isinstance(label, str):
            raise BundleError(file, f"label {_describe(label)} is not a string")
        try:
            decoding_tables([label], scheme)  # the scheme's table says which prefixes exist
        except TagError as error:
            raise BundleError(file, f"label '{label}' is not an {scheme} tag ({error})") from None
        if label in labels:
            raise BundleError(file, f"label '{label}' appears twice")
        labels.append(label)
    return labels


# ---------------------------------------------------------------- the bundle


@dataclass(frozen=True)
class Bundle:
    """A bundle folder, read and checked (:meth:`load`); the model is not loaded yet."""

    folder: Path
    info: dict  # the whole bundle.json
    labels: list[str]  # label names in label-id order
    window_length: int  # tokens per window, [CLS] and [SEP] included
    stride: int  # tokens shared by consecutive windows of a long document
    decoding: Decoding  # how word tags are read, as the model was scored
    tables: DecodingTables  # the scheme's allowed starts, transitions and ends for these labels
    cls_id: int
    sep_id: int
    pad_id: int
    inputs: list[str]  # the model's input names, as exported
    output: str  # the model's output name

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> "Bundle":
        """Read and check the bundle in ``folder``: the checks of Java's ``Bundle.load``, in the same order."""
        folder = Path(folder)
        if not folder.is_dir():
            raise BundleError(folder, "not a folder (a bundle is a folder written by `biobert-ner export`)")
        for name in REQUIRED_FILES:
            if not (folder / name).is_file():
                raise BundleError(folder / name, f"missing: a bundle has {', '.join(REQUIRED_FILES[:-1])} and "
                                                 f"{REQUIRED_FILES[-1]} (export it again with `biobert-ner export`)")
        bundle_json = folder / "bundle.json"
        info = read_object(bundle_json)
        check_format(bundle_json, info)
        labels = read_labels(folder / "labels.json")
        if "num_labels" in info and int_field(bundle_json, info, "num_labels") != len(labels):
            raise BundleError(folder / "labels.json", f"{len(labels)} labels, but bundle.json says num_labels={info['num_labels']}")
        specials = object_field(bundle_json, info, "special_tokens")
        cls_id, sep_id, pad_id = (int_field(bundle_json, object_field(bundle_json, specials, name), "id") for name in ("cls", "sep", "pad"))
        bundle = cls(
            folder, info, labels, int_field(bundle_json, info, "window_length"), int_field(bundle_json, info, "stride"),
            read_decoding(bundle_json, info), read_tables(bundle_json, info, labels),
            cls_id, sep_id, pad_id, str_list_field(bundle_json, info, "inputs"), str_field(bundle_json, info, "output"),
        )
        bundle.check_settings()
        return bundle

    def check_settings(self) -> None:
        """Windows, inputs, ``tokenizer.json`` and ``model.onnx``: the rest of Java's checks."""
        bundle_json = self.folder / "bundle.json"
        if self.window_length < 3 or not 0 <= self.stride < self.window_length - 2:
            raise BundleError(bundle_json, "need window_length >= 3 and 0 <= stride < window_length - 2, "
                                           f"got window_length={self.window_length}, stride={self.stride}")
        if "input_ids" not in self.inputs or not set(self.inputs) <= set(KNOWN_INPUTS):
            raise BundleError(bundle_json, f"inputs {self.inputs} must include input_ids and be among {list(KNOWN_INPUTS)}")
        if "model" not in read_object(self.tokenizer_path):
            raise BundleError(self.tokenizer_path, "no 'model' entry: not a Hugging Face tokenizer.json")
        if self.model_path.stat().st_size == 0:
            raise BundleError(self.model_path, "empty file")

    @property
    def model_path(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def tokenizer_path(self) -> Path:
        return self.folder / "tokenizer.json"

    @property
    def model_name(self) -> str:
        return str(self.info.get("model_name") or self.folder.name)

    @property
    def lowercase(self) -> bool:
        return bool(self.info.get("lowercase", False))

    def tokenizer(self):
        """``tokenizer.json`` as a transformers fast tokenizer, special tokens named as ``bundle.json`` says."""
        from transformers import PreTrainedTokenizerFast

        specials = self.info["special_tokens"]
        return PreTrainedTokenizerFast(
            tokenizer_file=str(self.tokenizer_path),
            **{f"{name}_token": specials[name]["token"] for name in ("cls", "sep", "pad", "unk") if name in specials},
        )

    def __str__(self) -> str:
        return f"Bundle({self.folder}, model={self.model_name}, labels={self.labels}, window_length={self.window_length}, stride={self.stride}, decoding={self.decoding.value})"


def check_format(bundle_json: Path, info: Mapping) -> None:
    """Format, format version, tagging scheme and pre-tokenizer: what this code must implement to read the bundle right."""
    format_name = str_field(bundle_json, info, "format")
    if format_name != BUNDLE_FORMAT:
        raise BundleError(bundle_json, f"format is '{format_name}', expected '{BUNDLE_FORMAT}'")
    version = int_field(bundle_json, info, "format_version")
    if version < BUNDLE_FORMAT_VERSION:
        raise BundleError(bundle_json, f"format_version {version} is no longer read: it stores neither the decoding nor "
                                       "its tables; export the model again (`biobert-ner export --model-dir MODEL -o BUNDLE`)")
    if version > BUNDLE_FORMAT_VERSION:
        raise BundleError(bundle_json, f"format_version {version} is not supported (this code reads "
                                       f"{BUNDLE_FORMAT_VERSION}); use a biobert-ner that matches the exporter")
    scheme = str_field(bundle_json, info, "label_scheme")
    if scheme != LABEL_SCHEME:
        raise BundleError(bundle_json, f"label_scheme is '{scheme}'; this code decodes IOB2 only")
    pretokenizer = str_field(bundle_json, object_field(bundle_json, info, "pretokenizer"), "name")
    if pretokenizer != PRETOKENIZER["name"]:
        raise BundleError(bundle_json, f"pretokenizer '{pretokenizer}' is not the one implemented here "
                                       f"({PRETOKENIZER['name']}): words would be split differently from training")


def read_decoding(bundle_json: Path, info: Mapping) -> Decoding:
    """``decoding``: how the model was scored ("viterbi" or "argmax")."""
    try:
        return parse_decoding(str_field(bundle_json, info, "decoding"))
    except ValueError as error:
        raise BundleError(bundle_json, str(error)) from None


def read_tables(bundle_json: Path, info: Mapping, labels: Sequence[str]) -> DecodingTables:
    """``decoding_tables``, which must be exactly the label scheme's tables for these labels (a reader searches them)."""
    stored = object_field(bundle_json, info, "decoding_tables")
    expected = decoding_tables(labels, str_field(bundle_json, info, "label_scheme"))
    for key, value in expected.to_dict().items():
        if stored.get(key) != value:
            raise BundleError(bundle_json, f"decoding_tables.{key} is not the {info['label_scheme']} table of labels.json's "
                                           f"labels (expected {_describe(value)})")
    return expected


# ---------------------------------------------------------------- the forward pass: ONNX Runtime


def onnx_session(path: str | os.PathLike[str], *, threads: int | None = None):
    """An ONNX Runtime CPU session (``threads``: intra-op threads, None for ONNX Runtime's default, one per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxBackend:
    """Padded windows -> logits with ONNX Runtime (the PyTorch twin is ``inference.TorchBackend``).

    Feeds ``input_ids``, and ``attention_mask`` and all-zero ``token_type_ids`` where the model
    has them, as Java's ``NerModel`` does. Results are float32 like the model's.
    """

    precision = "fp32"

    def __init__(self, session, label_names: Sequence[str], *, output: str = ONNX_OUTPUT, source: str | os.PathLike[str] = "model.onnx",
                 labels_source: str | os.PathLike[str] | None = None) -> None:
        self.session = session
        self.label_names = list(label_names)
        self.output = output
        self.source = Path(source)  # model.onnx, named in errors
        self.input_names = [node.name for node in session.get_inputs()]
        self._check(Path(labels_source) if labels_source else self.source)

    @classmethod
    def load(cls, bundle: Bundle, *, threads: int | None = None) -> "OnnxBackend":
        """The session of ``bundle``'s ``model.onnx``; one ONNX Runtime cannot load is a :class:`BundleError`."""
        try:
            session = onnx_session(bundle.model_path, threads=threads)
        except Exception as error:  # noqa: BLE001: ONNX Runtime raises its own, unexported exception types
            raise BundleError(bundle.model_path, f"ONNX Runtime cannot load it: {str(error).strip()}") from error
        return cls(session, bundle.labels, output=bundle.output, source=bundle.model_path, labels_source=bundle.folder / "labels.json")

    def _check(self, labels_source: Path) -> None:
        """Java's ``NerModel.checkModel``: known inputs, the output, a [batch, sequence, labels] tensor of as many labels."""
        if "input_ids" not in self.input_names or not set(self.input_names) <= set(KNOWN_INPUTS):
            raise BundleError(self.source, f"inputs {self.input_names} must include input_ids and be among {list(KNOWN_INPUTS)}")
        outputs = {node.name: node for node in self.session.get_outputs()}
        if self.output not in outputs:
            raise BundleError(self.source, f"no output named '{self.output}' (outputs: {list(outputs)})")
        shape = outputs[self.output].shape
        if len(shape) != 3:
            raise BundleError(self.source, f"output '{self.output}' is not a [batch, sequence, labels] tensor")
        if isinstance(shape[2], int) and shape[2] != len(self.label_names):
            raise BundleError(labels_source, f"{len(self.label_names)} labels, but model.onnx predicts {shape[2]}")

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits, float32 ``[batch, sequence, labels]``, of int64 ``[batch, sequence]`` inputs."""
        feeds = {"input_ids": input_ids.astype(np.int64, copy=False)}
        if "attention_mask" in self.input_names:
            feeds["attention_mask"] = attention_mask.astype(np.int64, copy=False)
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        (logits,) = self.session.run([self.output], feeds)
        return np.asarray(logits, dtype=np.float32)

    def __str__(self) -> str:
        return f"onnxruntime {self.source}"
