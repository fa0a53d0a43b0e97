"""Export a fine-tuned model as a self-contained *bundle* that another runtime (the Java appendix) can run.

A bundle is a folder of five files, written atomically (all or nothing):

* ``model.onnx``: the model, ``input_ids`` + ``attention_mask`` (int64, shape ``[batch, sequence]``,
  both axes dynamic) -> ``logits`` (float32, ``[batch, sequence, labels]``), exported with
  ``torch.onnx.export(..., dynamo=True)``, then rewritten to use ONNX Runtime's fused attention
  and layer-norm kernels (:func:`fuse_for_onnxruntime`; ``fuse=False`` keeps standard operators only);
* ``tokenizer.json``: the fast tokenizer's own file (vocabulary, normalizer, WordPiece settings);
* ``labels.json``: the label names, in label-id order;
* ``bundle.json``: everything else a reader must know: format version, window size and stride,
  tagging scheme, special tokens, lower-casing, the pre-tokenizer rule, the settings of the export;
* ``golden.json``: fixtures made by the Python pipeline (:mod:`biobert_ner.inference`) on texts
  chosen to catch porting mistakes (non-BMP characters before entities, several windows, odd
  white space, control characters); for each: words with code-point offsets, sub-word ids,
  windows, the PyTorch logits of every window and the entities, with offsets in code points
  *and* in UTF-16 units. The Java tests replay them: same ids, logits within ``1e-4``, same
  entities.

Before anything is kept, the export runs ONNX Runtime on the fixtures and compares with PyTorch
(:class:`ExportReport`): logits within ``tolerance`` and identical entities, or no bundle.

>>> report = export_bundle("runs/ncbi/model", "runs/ncbi/bundle")   # doctest: +SKIP
>>> report.parity_table()                                          # doctest: +SKIP
[{'fixture': 'plain', 'words': 12, 'tokens': 15, 'windows': 1, 'max_abs_diff': 9.5e-07, ...}, ...]
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import time
import unicodedata
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from .alignment import Entity
from .inference import (
    DocumentEncoding,
    decode_document,
    encode_documents,
    length_sorted_batches,
    special_token_ids,
)
from .pretokenize import WORD_CATEGORIES, is_separator, is_word_char, pretokenize

BUNDLE_FORMAT = "biobert-ner-bundle"
BUNDLE_FORMAT_VERSION = 1  # bump when a reader of version 1 could misread a new bundle
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "bundle.json", "golden.json")
ONNX_INPUTS = ("input_ids", "attention_mask")  # what NerPipeline feeds (token_type_ids default to 0)
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


@dataclass(frozen=True)
class GoldenText:
    """A fixture text and the porting mistake it is there to catch."""

    name: str
    text: str
    why: str


def _long_document() -> str:
    sentences = [
        "Cisplatin-induced nephrotoxicity was observed in 12 of 40 patients (30%) with NSCLC.",
        "Mutations in BRCA1 and BRCA2 increase the risk of breast and ovarian cancer.",
        "TNF-α and IL-1β levels rose after 5 mg/kg lipopolysaccharide.",
        "Naloxone reversed the hypotension 🙂 caused by clonidine in Sjögren's syndrome.",
    ]
    return " ".join(sentences[i % len(sentences)] for i in range(24))


GOLDEN_TEXTS: tuple[GoldenText, ...] = (
    GoldenText("plain", "Cisplatin induced nephrotoxicity in patients with lung cancer.", "the common case"),
    GoldenText("punctuation", "TNF-alpha (10 mg/kg) and 5-fluorouracil; IL-2R, [3H]thymidine.", "stand-alone punctuation"),
    GoldenText("accents-greek", "Sjögren's syndrome, café-au-lait spots, TNF-α and β2-microglobulin.", "accents and Greek letters"),
    GoldenText(
        "combining-marks", "cafe\u0301 au lait, nai\u0308ve T cells and the 5′-UTR of BRCA1.", "combining marks stay in the word"
    ),
    GoldenText(
        "non-bmp",
        "🤒🤒 fever, 𝛼-synuclein 🧬 aggregates in Parkinson's disease 🧠 and 𝛽-amyloid in Alzheimer disease.",
        "characters outside the BMP before entities: UTF-16 offsets differ from code-point offsets",
    ),
    GoldenText(
        "white-space",
        "aspirin\tand\u00a0ibuprofen\u2009=\u20095\u202fmg\r\nper day\u3000for arthritis\u2028\u0085\x1c pain",
        "tabs, no-break and thin spaces, Python-only white space (U+0085, U+001C)",
    ),
    GoldenText(
        "control-characters",
        "heparin\u200binduced\x00 thrombo\u00adcytopenia\ufeff in\x7f a 中文 patient",
        "format characters separate words (zero-width space, soft hyphen, BOM); control characters (NUL, DEL) "
        "are words the tokenizer drops: no sub-word; CJK characters split",
    ),
    GoldenText(
        "nothing-to-find",
        "The results were reproducible across three independent experiments.",
        "no entity for a trained model (a random test model may still find some)",
    ),
    GoldenText("single-character", "x", "one word, one token"),
    GoldenText("white-space-only", " \t\n\u00a0 ", "no words at all"),
    GoldenText("empty", "", "the empty string"),
    GoldenText("long-document", _long_document(), "a document longer than one window: several windows, stitched"),
)


@dataclass(frozen=True)
class ExportConfig:
    """Settings of an export (printed at the start and saved in ``bundle.json``)."""

    max_length: int = 256  # tokens per window, [CLS] and [SEP] included; the Java side reads it from bundle.json
    stride: int = 64  # tokens shared by consecutive windows of a long document
    opset: int | None = None  # ONNX opset; None: the exporter's default
    fuse: bool = True  # rewrite attention, Add+LayerNorm and bias+GELU into ONNX Runtime's fused kernels
    tolerance: float = 1e-4  # largest |ONNX Runtime - PyTorch| logit difference accepted on the fixtures
    batch_size: int = 8  # windows per forward pass during the parity check (exercises padding too)

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in asdict(self).items())


# ---------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class FixtureParity:
    """How ONNX Runtime compares with PyTorch on one fixture text."""

    name: str
    characters: int  # code points
    words: int
    tokens: int
    windows: int
    max_abs_diff: float  # over all logits of all windows (0.0 for a text with no windows)
    entities: int  # found by PyTorch
    identical_entities: bool  # same type, text and offsets, scores within the tolerance


@dataclass
class ExportReport:
    """What an export wrote and how closely the ONNX model follows PyTorch."""

    bundle_dir: Path
    config: ExportConfig
    fixtures: list[FixtureParity] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # file name -> size in bytes
    opset: int | None = None
    fused_kernels: dict[str, int] = field(default_factory=dict)  # ONNX Runtime kernel -> how many nodes use it
    seconds: float = 0.0

    @property
    def max_abs_diff(self) -> float:
        return max((fixture.max_abs_diff for fixture in self.fixtures), default=0.0)

    @property
    def identical_entities(self) -> bool:
        return all(fixture.identical_entities for fixture in self.fixtures)

    @property
    def ok(self) -> bool:
        return self.max_abs_diff < self.config.tolerance and self.identical_entities

    def parity_table(self) -> list[dict]:
        """One row per fixture text (a notebook shows it with ``pandas.DataFrame(report.parity_table())``)."""
        return [asdict(fixture) for fixture in self.fixtures]

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"export {verdict}: {self.bundle_dir}",
            f"  ONNX Runtime vs PyTorch on {len(self.fixtures)} fixture texts: max |logit diff| = {self.max_abs_diff:.2e} "
            f"(tolerance {self.config.tolerance:.0e}), entities identical: {self.identical_entities}",
        ]
        for fixture in self.fixtures:
            if not fixture.identical_entities or fixture.max_abs_diff >= self.config.tolerance:
                lines.append(f"  ! {fixture.name}: max diff {fixture.max_abs_diff:.2e}, entities identical: {fixture.identical_entities}")
        if self.files:
            sizes = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in self.files.items())
            lines.append(f"  files: {sizes}")
        kernels = ", ".join(f"{count} {name}" for name, count in self.fused_kernels.items()) or "none"
        lines.append(f"  opset {self.opset}, fused ONNX Runtime kernels: {kernels}, {self.seconds:.1f} s")
        return "\n".join(lines)


class ExportParityError(RuntimeError):
    """ONNX Runtime disagrees with PyTorch on the fixtures; no bundle was written."""

    def __init__(self, report: ExportReport) -> None:
        super().__init__(str(report))
        self.report = report


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code-unit index (what Java's ``String`` uses) of code-point ``index`` in ``text``."""
    return len(text[:index].encode("utf-16-le")) // 2


def entity_fixture(text: str, entity: Entity) -> dict:
    """An entity as golden data: offsets in code points (like Python) and in UTF-16 units (like Java)."""
    return {
        "type": entity.type,
        "text": entity.text,
        "start": entity.start,
        "end": entity.end,
        "utf16_start": utf16_offset(text, entity.start),
        "utf16_end": utf16_offset(text, entity.end),
        "score": entity.score,
    }


def float32_list(array: np.ndarray) -> list:
    """Nested lists of floats whose decimal form reads back as exactly the same float32 values.

    Each value is written with the fewest digits that identify its float32 (``Float.parseFloat``
    in Java gets the identical number back), so Java decodes exactly the logits Python decoded.
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 1:
        return [float(np.format_float_positional(value, unique=True)) for value in array]
    return [float32_list(row) for row in array]


def golden_fixture(golden: GoldenText, encoding: DocumentEncoding, window_logits: Sequence[np.ndarray], entities: Sequence[Entity]) -> dict:
    """One fixture of ``golden.json``: the encoding, the logits and the entities of one text."""
    return {
        "name": golden.name,
        "why": golden.why,
        **encoding.to_dict(),
        "logits": [float32_list(logits) for logits in window_logits],
        "entities": [entity_fixture(encoding.text, entity) for entity in entities],
    }


def _ranges(flags: Iterable[bool]) -> list[list[int]]:
    """``[[first, last], ...]`` (inclusive) of the positions where ``flags`` is true."""
    ranges: list[list[int]] = []
    for position, flag in enumerate(flags):
        if not flag:
            continue
        if ranges and ranges[-1][1] == position - 1:
            ranges[-1][1] = position
        else:
            ranges.append([position, position])
    return ranges


def pretokenizer_table() -> dict:
    """The pre-tokenizer's character classes over all of Unicode, as Python sees them.

    Java's ``Character`` knows a different Unicode version than Python's ``unicodedata``; the Java
    test compares its classes with these on every code point both versions have assigned.
    """
    characters = [chr(code) for code in range(0x110000)]
    return {
        **PRETOKENIZER,
        "unicode_version": unicodedata.unidata_version,
        "white_space_code_points": [ord(char) for char in characters if char.isspace()],
        "word_character_ranges": _ranges(is_word_char(char) for char in characters),
        "separator_ranges": _ranges(is_separator(char) for char in characters),
        "unassigned_ranges": _ranges(unicodedata.category(char) == "Cn" for char in characters),
    }


# ---------------------------------------------------------------- ONNX


class LogitsOnly(torch.nn.Module):
    """A token-classification model whose forward returns the logits tensor only (the exported graph)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model, path: str | os.PathLike[str], *, opset: int | None = None, fuse: bool = True) -> tuple[int, dict[str, int]]:
    """Write ``model`` as ONNX (dynamo exporter, dynamic batch and sequence axes).

    Returns the opset used and the fused ONNX Runtime kernels in the graph (see :func:`fuse_for_onnxruntime`).
    """
    import onnx

    wrapper = LogitsOnly(model).eval()
    device = next(model.parameters()).device
    example = torch.randint(5, 50, (2, 8), device=device)  # sizes > 1: size-1 axes get specialised
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=int(getattr(model.config, "max_position_embeddings", 512)))
    shapes = {name: {0: batch, 1: sequence} for name in ONNX_INPUTS}
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed": irrelevant here
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"# The axis name")  # one Dim shared by both inputs, as meant
            torch.onnx.export(
                wrapper,
                (example, torch.ones_like(example)),
                str(path),
                input_names=list(ONNX_INPUTS),
                output_names=[ONNX_OUTPUT],
                dynamo=True,
                dynamic_shapes=shapes,
                opset_version=opset,
                external_data=False,  # one file (fine below ONNX's 2 GB limit; BioBERT-base is ~430 MB)
                verbose=False,
            )
    finally:
        registration.setLevel(level)
    graph = onnx.load(str(path))
    kernels: dict[str, int] = {}
    if fuse:
        graph, kernels = fuse_for_onnxruntime(graph)
    # The dynamo exporter annotates every node with its Python stack trace: useful when debugging
    # the exporter, but more than half of a small model's file. Dropped; the graph is unchanged.
    for node in graph.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(graph, str(path))
    return next(entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")), kernels


def fuse_for_onnxruntime(graph):
    """``graph`` (an ``onnx.ModelProto``) rewritten to use ONNX Runtime's fused transformer kernels,
    and those kernels, counted (``{"Attention": 6, ...}``).

    The dynamo exporter writes each attention layer as some twenty small operators (reshape,
    transpose, matmul, mask, softmax, ...), a pattern ONNX Runtime's own graph optimizer does not
    recognise. onnxscript's ``ort_fusions`` rewrites it into one ``com.microsoft`` ``Attention``
    node per layer, a residual Add + LayerNorm into ``SkipLayerNormalization`` and bias + GELU into
    ``BiasGelu``: the same arithmetic in fewer kernels and fewer passes over memory (measured on
    MiniLM: 1.2-1.3x faster on a CPU, logits within 1e-6). The export's parity check then runs on
    the rewritten graph, so a bad rewrite cannot reach a bundle.
    """
    from onnxscript import ir
    from onnxscript.rewriter.ort_fusions import optimize_for_ort

    model, _ = optimize_for_ort(ir.from_proto(graph))
    kernels = collections.Counter(node.op_type for node in model.graph if node.domain == "com.microsoft")  # no subgraphs in BERT
    return ir.to_proto(model), dict(sorted(kernels.items()))


def onnx_session(path: str | os.PathLike[str], *, threads: int | None = None):
    """An ONNX Runtime CPU session (``threads``: intra-op threads, None for ORT's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_forward_windows(session, windows: Sequence[Sequence[int]], *, pad_id: int, batch_size: int = 32) -> list[np.ndarray]:
    """:func:`biobert_ner.inference.forward_windows` with ONNX Runtime: same batching, same padding."""
    results: list[np.ndarray | None] = [None] * len(windows)
    for batch in length_sorted_batches([len(window) for window in windows], batch_size):
        width = max(len(windows[i]) for i in batch)
        input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            input_ids[row, : len(windows[i])] = windows[i]
            attention_mask[row, : len(windows[i])] = 1
        (logits,) = session.run([ONNX_OUTPUT], {"input_ids": input_ids, "attention_mask": attention_mask})
        for row, i in enumerate(batch):
            results[i] = logits[row, : len(windows[i])].astype(np.float32)
    return results  # type: ignore[return-value]


def _split_per_document(flat: Sequence[np.ndarray], encodings: Sequence[DocumentEncoding]) -> list[list[np.ndarray]]:
    result, offset = [], 0
    for encoding in encodings:
        result.append(list(flat[offset : offset + len(encoding.windows)]))
        offset += len(encoding.windows)
    return result


def same_entities(expected: Sequence[Entity], actual: Sequence[Entity], tolerance: float) -> bool:
    """Same type, text and offsets, in the same order, with scores within ``tolerance``."""
    return len(expected) == len(actual) and all(
        (a.type, a.text, a.start, a.end) == (b.type, b.text, b.start, b.end) and abs(a.score - b.score) < tolerance
        for a, b in zip(expected, actual)
    )


# ---------------------------------------------------------------- reading a bundle from Python


def load_bundle_tokenizer(bundle_dir: str | os.PathLike[str]):
    """The bundle's ``tokenizer.json`` as a transformers fast tokenizer (special tokens from ``bundle.json``)."""
    from transformers import PreTrainedTokenizerFast

    bundle_dir = Path(bundle_dir)
    info = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    specials = info["special_tokens"]
    return PreTrainedTokenizerFast(
        tokenizer_file=str(bundle_dir / "tokenizer.json"),
        cls_token=specials["cls"]["token"],
        sep_token=specials["sep"]["token"],
        pad_token=specials["pad"]["token"],
        unk_token=specials["unk"]["token"],
    )


class OnnxPipeline:
    """A bundle run from Python with ONNX Runtime: the method names and results of ``NerPipeline``.

    Encoding and decoding are the functions of :mod:`biobert_ner.inference`; only the forward pass
    differs. The Java ``NerModel`` is the same pipeline again.
    """

    def __init__(self, bundle_dir: str | os.PathLike[str], *, threads: int | None = None, batch_size: int = 32) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.info = json.loads((self.bundle_dir / "bundle.json").read_text(encoding="utf-8"))
        self.label_names = json.loads((self.bundle_dir / "labels.json").read_text(encoding="utf-8"))
        self.tokenizer = load_bundle_tokenizer(self.bundle_dir)
        self.session = onnx_session(self.bundle_dir / "model.onnx", threads=threads)
        self.batch_size = batch_size
        self.max_length, self.stride = int(self.info["max_length"]), int(self.info["stride"])
        self.pad_id = special_token_ids(self.tokenizer)[2]

    def encode_batch(self, texts: Sequence[str]) -> list[DocumentEncoding]:
        return encode_documents(self.tokenizer, texts, max_length=self.max_length, stride=self.stride)

    def encode(self, text: str) -> DocumentEncoding:
        return self.encode_batch([text])[0]

    def logits_batch(self, encodings: Sequence[DocumentEncoding]) -> list[list[np.ndarray]]:
        flat = [ids for encoding in encodings for ids in encoding.window_input_ids]
        return _split_per_document(onnx_forward_windows(self.session, flat, pad_id=self.pad_id, batch_size=self.batch_size), encodings)

    def logits(self, text: str) -> list[np.ndarray]:
        return self.logits_batch([self.encode(text)])[0]

    def predict(self, texts: Sequence[str]) -> list[list[Entity]]:
        encodings = self.encode_batch(list(texts))
        return [decode_document(e, logits, self.label_names) for e, logits in zip(encodings, self.logits_batch(encodings))]

    def __call__(self, texts):
        if isinstance(texts, str):
            return self.predict([texts])[0]
        return self.predict(list(texts))


def read_golden(bundle_dir: str | os.PathLike[str]) -> dict:
    """The bundle's ``golden.json``."""
    return json.loads((Path(bundle_dir) / "golden.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the export


def _normalizer_settings(tokenizer_json: Mapping) -> dict:
    """Lower-casing and accent stripping, read from the tokenizer's (BERT) normalizer."""
    normalizer = tokenizer_json.get("normalizer") or {}
    found = [normalizer] + list(normalizer.get("normalizers", []))  # a Sequence normalizer nests them
    lowercase = any(n.get("type") == "Lowercase" or n.get("lowercase") is True for n in found)
    strip_accents = next((n.get("strip_accents") for n in found if "strip_accents" in n), None)
    if any(n.get("type") == "StripAccents" for n in found):
        strip_accents = True
    if strip_accents is None and any(n.get("type") == "BertNormalizer" for n in found):
        strip_accents = lowercase  # BertNormalizer's rule: strip_accents=None follows lowercase
    return {"lowercase": lowercase, "strip_accents": bool(strip_accents), "normalizer": normalizer.get("type")}


def _golden_texts(fixture_texts: Sequence[str] | Mapping[str, str] | Sequence[GoldenText] | None) -> list[GoldenText]:
    if fixture_texts is None:
        return list(GOLDEN_TEXTS)
    if isinstance(fixture_texts, Mapping):
        return [GoldenText(name, text, "given") for name, text in fixture_texts.items()]
    return [t if isinstance(t, GoldenText) else GoldenText(f"text-{i + 1}", t, "given") for i, t in enumerate(fixture_texts)]


def _json_lines(data, depth: int = 2, indent: str = "") -> str:
    """JSON for a big file that people still open: objects indented down to ``depth`` levels (a
    list of objects does not count as a level), everything deeper on one line.

    ``golden.json`` holds tens of thousands of numbers: one per line would be unreadable.
    """
    inner = indent + "  "
    if isinstance(data, dict) and data and depth > 0:
        items = [f"{inner}{json.dumps(key)}: {_json_lines(value, depth - 1, inner)}" for key, value in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(data, list) and data and depth > 0 and all(isinstance(item, dict) for item in data):
        return "[\n" + ",\n".join(inner + _json_lines(item, depth, inner) for item in data) + "\n" + indent + "]"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def export_bundle(
    model_dir: str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    *,
    max_length: int = 256,
    stride: int = 64,
    opset: int | None = None,
    fuse: bool = True,
    fixture_texts: Sequence[str] | Mapping[str, str] | Sequence[GoldenText] | None = None,
    tolerance: float = 1e-4,
    model_name: str | None = None,
    verbose: bool = True,
) -> ExportReport:
    """Export the fine-tuned model in ``model_dir`` as a bundle in ``bundle_dir`` (see the module docstring).

    ``fixture_texts`` replaces the default :data:`GOLDEN_TEXTS`; ``model_name`` (for ``bundle.json``)
    defaults to the last two parts of ``model_dir`` (``ncbi/model``). Raises :class:`ExportParityError`
    (and writes nothing) when ONNX Runtime and PyTorch disagree on the fixtures.
    """
    from .files import atomic_directory
    from .inference import NerPipeline

    config = ExportConfig(max_length=max_length, stride=stride, opset=opset, fuse=fuse, tolerance=tolerance)
    started = time.perf_counter()
    if verbose:
        print(f"export: {config}")
    pipeline = NerPipeline.from_pretrained(model_dir, device="cpu", max_length=max_length, stride=stride, batch_size=config.batch_size, verbose=verbose)
    goldens = _golden_texts(fixture_texts)
    report = ExportReport(Path(bundle_dir), config)

    with atomic_directory(bundle_dir) as folder:
        report.opset, report.fused_kernels = export_onnx(pipeline.model, folder / "model.onnx", opset=opset, fuse=fuse)
        pipeline.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
        tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))

        # PyTorch: the reference encodings, logits and entities.
        encodings = pipeline.encode_batch([golden.text for golden in goldens])
        torch_logits = pipeline.logits_batch(encodings)
        torch_entities = [decode_document(e, logits, pipeline.label_names) for e, logits in zip(encodings, torch_logits)]

        # ONNX Runtime on the same windows, batched the same way.
        session = onnx_session(folder / "model.onnx")
        flat = [ids for encoding in encodings for ids in encoding.window_input_ids]
        onnx_logits = _split_per_document(onnx_forward_windows(session, flat, pad_id=pipeline.pad_id, batch_size=config.batch_size), encodings)
        for golden, encoding, expected, actual, entities in zip(goldens, encodings, torch_logits, onnx_logits, torch_entities):
            diff = max((float(np.abs(a - b).max()) for a, b in zip(expected, actual)), default=0.0)
            onnx_entities = decode_document(encoding, actual, pipeline.label_names)
            report.fixtures.append(
                FixtureParity(
                    golden.name, len(golden.text), len(encoding.words), encoding.num_tokens, len(encoding.windows),
                    diff, len(entities), same_entities(entities, onnx_entities, tolerance),
                )
            )
        if not report.ok:
            report.seconds = time.perf_counter() - started
            raise ExportParityError(report)

        special_ids = dict(zip(("cls", "sep", "pad"), special_token_ids(pipeline.tokenizer)))
        special_ids["unk"] = pipeline.tokenizer.unk_token_id
        bundle = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "model_name": model_name or "/".join(Path(model_dir).resolve().parts[-2:]),
            "model_type": pipeline.model.config.model_type,
            "parameters": sum(p.numel() for p in pipeline.model.parameters()),
            "inputs": list(ONNX_INPUTS),
            "output": ONNX_OUTPUT,
            "max_length": max_length,
            "stride": stride,
            "label_scheme": "IOB2",
            "num_labels": len(pipeline.label_names),
            "special_tokens": {
                name: {"token": pipeline.tokenizer.convert_ids_to_tokens(token_id), "id": token_id} for name, token_id in special_ids.items()
            },
            **_normalizer_settings(tokenizer_json),
            "pretokenizer": PRETOKENIZER,
            "decoding": {
                "word_label": "the label of the word's first sub-word; a word with no sub-word is O with score 1",
                "windows": "each token is read from the window where it has the most context on its worse side; ties: earlier window",
                "tags": "IOB2, repaired (an I-X that starts an entity becomes B-X)",
                "score": "mean over the entity's words of the softmax probability of the word's tag",
                "offsets": "half-open [start, end) in code points of the input text",
            },
            "export": {**asdict(config), "opset": report.opset, "fused_kernels": report.fused_kernels, "max_abs_diff": report.max_abs_diff},
        }
        golden = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "max_length": max_length,
            "stride": stride,
            "labels": pipeline.label_names,
            "tolerance": tolerance,
            "pretokenizer": pretokenizer_table(),
            "fixtures": [
                golden_fixture(g, e, logits, entities) for g, e, logits, entities in zip(goldens, encodings, torch_logits, torch_entities)
            ],
        }
        (folder / "labels.json").write_text(json.dumps(pipeline.label_names, indent=2) + "\n", encoding="utf-8")
        (folder / "bundle.json").write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "golden.json").write_text(_json_lines(golden, depth=2) + "\n", encoding="utf-8")
        report.files = {name: (folder / name).stat().st_size for name in BUNDLE_FILES}
    report.seconds = time.perf_counter() - started
    if verbose:
        print(report)
    return report


def check_bundle(bundle_dir: str | os.PathLike[str], *, threads: int | None = None) -> ExportReport:
    """Re-check a written bundle against its own golden fixtures, with Python only.

    Encoding (pre-tokenizer + the bundle's tokenizer + windows) must give the fixture's words, ids
    and windows exactly; decoding the fixture's logits must give its entities; ONNX Runtime must give
    logits within the fixture's tolerance. This is what pins a committed bundle to the Python code
    (the Java tests pin the same fixtures to the Java code).
    """
    bundle_dir = Path(bundle_dir)
    golden = read_golden(bundle_dir)
    pipeline = OnnxPipeline(bundle_dir, threads=threads)
    tolerance = float(golden["tolerance"])
    report = ExportReport(bundle_dir, ExportConfig(max_length=golden["max_length"], stride=golden["stride"], tolerance=tolerance))
    fixtures = golden["fixtures"]
    encodings = pipeline.encode_batch([fixture["text"] for fixture in fixtures])
    onnx_logits = pipeline.logits_batch(encodings)
    for fixture, encoding, actual in zip(fixtures, encodings, onnx_logits):
        expected_encoding = {key: fixture[key] for key in encoding.to_dict()}
        if encoding.to_dict() != expected_encoding:
            differing = [key for key, value in expected_encoding.items() if encoding.to_dict()[key] != value]
            raise ValueError(
                f"{bundle_dir / 'golden.json'}: fixture {fixture['name']!r}: today's Python encoding differs from the "
                f"golden one in {', '.join(differing)} (a deliberate change? then export the bundle again)"
            )
        golden_logits = [np.asarray(window, dtype=np.float32) for window in fixture["logits"]]
        entities = [Entity(e["type"], e["text"], e["start"], e["end"], e["score"]) for e in fixture["entities"]]
        decoded = decode_document(encoding, golden_logits, pipeline.label_names)
        onnx_entities = decode_document(encoding, actual, pipeline.label_names)
        diff = max((float(np.abs(a - b).max()) for a, b in zip(golden_logits, actual)), default=0.0)
        report.fixtures.append(
            FixtureParity(
                fixture["name"], len(fixture["text"]), len(encoding.words), encoding.num_tokens, len(encoding.windows), diff,
                len(entities), same_entities(entities, decoded, 1e-6) and same_entities(entities, onnx_entities, tolerance),
            )
        )
    return report


# ---------------------------------------------------------------- command line


def _model_folder(value: str) -> str:
    if not (Path(value) / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{value}: not a model folder (no config.json)")
    return value


def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``biobert-ner export`` (also ``python -m biobert_ner.export``)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", metavar="DIR", type=_model_folder, help="a fine-tuned model folder (the 'model' folder that 'train' writes)")
    source.add_argument("--tiny", action="store_true", help="export a tiny random BERT instead (test bundles)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="bundle folder to write (replaced as a whole)")
    parser.add_argument("--max-length", type=int, default=ExportConfig.max_length, help="tokens per window, [CLS]/[SEP] included")
    parser.add_argument("--stride", type=int, default=ExportConfig.stride, help="tokens shared by consecutive windows")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.add_argument(
        "--no-fuse", dest="fuse", action="store_false",
        help="keep the exporter's plain ONNX operators (default: fuse attention, Add+LayerNorm and bias+GELU into ONNX Runtime kernels)",
    )
    parser.add_argument("--tolerance", type=float, default=ExportConfig.tolerance, help="largest accepted logit difference")
    parser.add_argument("--texts", help="extra fixture texts for golden.json, one per line (added to the built-in ones)")
    return parser


def tiny_test_model_dir(folder: str | os.PathLike[str], *, logit_scale: float = 30.0, outside_bias: float = 2.0) -> Path:
    """A tiny random BERT for test bundles, saved to ``folder``; small (about 200 KB as ONNX) and
    independent of the corpus.

    Its vocabulary holds the short words of the golden texts and single characters, so longer
    words split into several sub-words, and the characters of the ``control-characters`` text
    are left out, so it meets ``[UNK]``. The classifier is scaled by ``logit_scale`` (the top two
    logits of a token are then far apart compared with ONNX Runtime's rounding differences) and
    ``O`` gets ``outside_bias`` (entities are sparse, as in real predictions).
    """
    from .modelling import build_tiny_bert, save_model
    from .schemes import iob2_labels

    words: list[str] = []
    for golden in GOLDEN_TEXTS:
        if golden.name == "control-characters":
            continue
        for word in pretokenize(golden.text):
            words += [word.text] if len(word.text) <= 6 else list(word.text)
    labels = iob2_labels(("Chemical", "Disease", "Gene"))
    model, tokenizer = build_tiny_bert(labels, words, seed=0)
    with torch.no_grad():
        model.classifier.weight *= logit_scale
        model.classifier.bias[labels.index("O")] += outside_bias
    return save_model(model, tokenizer, folder)


def run_export(args: argparse.Namespace) -> int:
    """``biobert-ner export``: 0 when the bundle was written and is in parity, 1 otherwise."""
    import tempfile

    texts: list[GoldenText] = list(GOLDEN_TEXTS)
    if args.texts:
        lines = Path(args.texts).read_text(encoding="utf-8").splitlines()
        texts += [GoldenText(f"given-{i + 1}", line, f"line {i + 1} of {args.texts}") for i, line in enumerate(lines)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            model_dir = tiny_test_model_dir(Path(scratch) / "tiny") if args.tiny else args.model_dir
            export_bundle(
                model_dir, args.output, max_length=args.max_length, stride=args.stride, opset=args.opset, fuse=args.fuse,
                fixture_texts=texts, tolerance=args.tolerance, model_name="tiny-random-bert" if args.tiny else None,
            )
    except ExportParityError as error:
        print(error)
        print("export: no bundle written (ONNX Runtime and PyTorch disagree)")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_export_arguments(argparse.ArgumentParser(prog="python -m biobert_ner.export", description=__doc__.splitlines()[0]))
    return run_export(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
