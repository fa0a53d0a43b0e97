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
* ``golden.json``: fixtures made by the Python pipeline on texts chosen to catch porting mistakes
  (:mod:`biobert_ner.golden`). The Java tests replay them: same ids, logits within ``1e-4``, same
  entities.

Before anything is kept, the export runs the bundle's model with ONNX Runtime on the fixtures,
through the same ``NerPipeline`` code with the ONNX backend, and compares with PyTorch
(:class:`ExportReport`): logits within ``tolerance`` and identical entities, or no bundle.
Reading and checking a bundle is :mod:`biobert_ner.bundle`; ``biobert-ner export`` is the command line.

>>> report = export_bundle("runs/ncbi/model", "runs/ncbi/bundle")   # doctest: +SKIP
>>> report.parity_table()                                          # doctest: +SKIP
[{'fixture': 'plain', 'words': 12, 'tokens': 15, 'windows': 1, 'max_abs_diff': 9.5e-07, ...}, ...]
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from .bundle import (
    BUNDLE_FILES, BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, LABEL_SCHEME, ONNX_INPUTS, ONNX_OUTPUT, PRETOKENIZER, OnnxBackend, onnx_session,
)
from .decoding import Decoding, iob2_tables, parse_decoding
from .entities import Entity, decode_document
from .golden import GoldenText, golden_fixture, golden_texts, read_golden, write_golden
from .inference import InferenceConfig, NerPipeline
from .precision import Precision
from .windows import DocumentEncoding, special_token_ids


@dataclass(frozen=True)
class ExportConfig:
    """Settings of an export (printed at the start and saved in ``bundle.json``)."""

    window_length: int = InferenceConfig.window_length  # tokens per window, [CLS] and [SEP] included (bundle.json's window_length)
    stride: int = InferenceConfig.stride  # tokens shared by consecutive windows of a long document
    opset: int | None = None  # ONNX opset; None: the exporter's default
    fuse: bool = True  # rewrite attention, Add+LayerNorm and bias+GELU into ONNX Runtime's fused kernels
    tolerance: float = 1e-4  # largest |ONNX Runtime - PyTorch| logit difference accepted on the fixtures
    batch_size: int = 8  # windows per forward pass during the parity check (exercises padding too)
    decoding: Decoding | None = None  # "viterbi" or "argmax", written into bundle.json; None: the one the model was scored with

    def __post_init__(self) -> None:
        if self.decoding is not None:
            object.__setattr__(self, "decoding", parse_decoding(self.decoding))

    def to_dict(self) -> dict:
        return {name: getattr(value, "value", value) for name, value in asdict(self).items()}

    def __str__(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.to_dict().items() if value is not None)


# ---------------------------------------------------------------- parity


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


def same_entities(expected: Sequence[Entity], actual: Sequence[Entity], tolerance: float) -> bool:
    """Same type, text and offsets, in the same order, with scores within ``tolerance``."""
    return len(expected) == len(actual) and all(
        (a.type, a.text, a.start, a.end) == (b.type, b.text, b.start, b.end) and abs(a.score - b.score) < tolerance
        for a, b in zip(expected, actual)
    )


def largest_difference(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray]) -> float:
    """The largest ``|expected - actual|`` over all windows (0.0 for a text without windows)."""
    return max((float(np.abs(a - b).max()) for a, b in zip(expected, actual)), default=0.0)


def fixture_parity(
    golden: GoldenText, encoding: DocumentEncoding, expected: Sequence[np.ndarray], actual: Sequence[np.ndarray],
    expected_entities: Sequence[Entity], label_names: Sequence[str], decoding: Decoding, tolerance: float,
) -> FixtureParity:
    """One fixture's row: ``actual`` (ONNX Runtime) logits and the entities they decode to, against the expected ones."""
    actual_entities = decode_document(encoding, actual, label_names, decoding)
    return FixtureParity(
        golden.name, len(golden.text), len(encoding.words), encoding.num_tokens, len(encoding.windows),
        largest_difference(expected, actual), len(expected_entities), same_entities(expected_entities, actual_entities, tolerance),
    )


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


def bundle_info(pipeline: NerPipeline, report: ExportReport, tokenizer_json: Mapping, model_name: str) -> dict:
    """The content of ``bundle.json`` (what Java's ``Bundle.load`` and :meth:`biobert_ner.bundle.Bundle.load` check)."""
    tokenizer, config = pipeline.tokenizer, report.config
    special_ids = dict(zip(("cls", "sep", "pad"), special_token_ids(tokenizer)))
    special_ids["unk"] = tokenizer.unk_token_id
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "model_name": model_name,
        "model_type": pipeline.model.config.model_type,
        "parameters": sum(p.numel() for p in pipeline.model.parameters()),
        "inputs": list(ONNX_INPUTS),
        "output": ONNX_OUTPUT,
        "window_length": config.window_length,
        "stride": config.stride,
        "label_scheme": LABEL_SCHEME,
        "num_labels": len(pipeline.label_names),
        "special_tokens": {name: {"token": tokenizer.convert_ids_to_tokens(token_id), "id": token_id} for name, token_id in special_ids.items()},
        **_normalizer_settings(tokenizer_json),
        "pretokenizer": PRETOKENIZER,
        "decoding": pipeline.config.decoding.value,  # the model's own (ner_settings.json), as it was scored
        "decoding_tables": iob2_tables(pipeline.label_names).to_dict(),  # what a Viterbi search may choose
        "reading": {
            "word_label": "read from the label probabilities of the word's first sub-word; a word with no sub-word is O with score 1",
            "windows": "each token is read from the window where it has the most context on its worse side; ties: earlier window",
            "tags": "viterbi: the most probable sequence the decoding tables allow (over first-sub-word log-probabilities); "
                    "argmax: each word's best label, then a label the tables do not allow where it stands starts its entity",
            "score": "mean over the entity's words of the softmax probability of the word's tag",
            "offsets": "half-open [start, end) in code points of the input text",
        },
        "export": {**config.to_dict(), "opset": report.opset, "fused_kernels": report.fused_kernels, "max_abs_diff": report.max_abs_diff},
    }


def export_bundle(
    model_dir: str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    config: ExportConfig | None = None,
    *,
    fixture_texts: Sequence[str] | Mapping[str, str] | Sequence[GoldenText] | None = None,
    model_name: str | None = None,
    verbose: bool = True,
    **settings,
) -> ExportReport:
    """Export the fine-tuned model in ``model_dir`` as a bundle in ``bundle_dir`` (see the module docstring).

    ``settings`` (``window_length=128``, ``fuse=False``, ...) change fields of ``config`` (default:
    :class:`ExportConfig`'s defaults). ``fixture_texts`` replaces the default :data:`biobert_ner.golden.GOLDEN_TEXTS`; ``model_name`` (for
    ``bundle.json``) defaults to the last two parts of ``model_dir`` (``ncbi/model``). Raises
    :class:`ExportParityError` (and writes nothing) when ONNX Runtime and PyTorch disagree on the fixtures.
    """
    from .files import atomic_directory

    config = replace(config or ExportConfig(), **settings)
    started = time.perf_counter()
    if verbose:
        print(f"export: {config}")
    chosen = {"decoding": config.decoding} if config.decoding is not None else {}  # else the model's own (ner_settings.json)
    pipeline = NerPipeline.from_pretrained(  # fp32: the reference an ONNX graph (always fp32) must match
        model_dir, device="cpu", window_length=config.window_length, stride=config.stride, batch_size=config.batch_size,
        precision=Precision.FP32, verbose=verbose, **chosen,
    )
    goldens = golden_texts(fixture_texts)
    report = ExportReport(Path(bundle_dir), config)

    with atomic_directory(bundle_dir) as folder:
        report.opset, report.fused_kernels = export_onnx(pipeline.model, folder / "model.onnx", opset=config.opset, fuse=config.fuse)
        pipeline.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
        # PyTorch gives the reference; the ONNX backend runs the same windows, batched the same way.
        onnx = NerPipeline(OnnxBackend(onnx_session(folder / "model.onnx"), pipeline.label_names), pipeline.tokenizer, pipeline.config)
        encodings = pipeline.encode_batch([golden.text for golden in goldens])
        torch_logits, onnx_logits = pipeline.logits_batch(encodings), onnx.logits_batch(encodings)
        decoding = pipeline.config.decoding
        torch_entities = [decode_document(e, logits, pipeline.label_names, decoding) for e, logits in zip(encodings, torch_logits)]
        report.fixtures = [
            fixture_parity(*row, pipeline.label_names, decoding, config.tolerance)
            for row in zip(goldens, encodings, torch_logits, onnx_logits, torch_entities)
        ]
        if not report.ok:
            report.seconds = time.perf_counter() - started
            raise ExportParityError(report)

        tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        info = bundle_info(pipeline, report, tokenizer_json, model_name or "/".join(Path(model_dir).resolve().parts[-2:]))
        (folder / "labels.json").write_text(json.dumps(pipeline.label_names, indent=2) + "\n", encoding="utf-8")
        (folder / "bundle.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        fixtures = [golden_fixture(*row) for row in zip(goldens, encodings, torch_logits, torch_entities)]
        write_golden(folder, labels=pipeline.label_names, tolerance=config.tolerance, fixtures=fixtures)
        report.files = {name: (folder / name).stat().st_size for name in BUNDLE_FILES}
    report.seconds = time.perf_counter() - started
    if verbose:
        print(report)
    return report


def check_bundle(bundle_dir: str | os.PathLike[str], *, threads: int | None = None) -> ExportReport:
    """Re-check a written bundle against its own golden fixtures, with Python only.

    The bundle must pass :meth:`biobert_ner.bundle.Bundle.load`; encoding (pre-tokenizer + the
    bundle's tokenizer + windows) must give the fixture's words, ids and windows exactly; decoding
    the fixture's logits must give its entities; the ONNX backend must give logits within the
    fixture's tolerance and the same entities. This is what pins a committed bundle to the Python
    code (the Java tests pin the same fixtures to the Java code).
    """
    bundle_dir = Path(bundle_dir)
    golden = read_golden(bundle_dir)
    pipeline = NerPipeline.from_bundle(bundle_dir, threads=threads, verbose=False)
    tolerance = float(golden["tolerance"])
    config = pipeline.config  # the bundle's own windows and decoding (bundle.json), the ones the fixtures were made with
    report = ExportReport(bundle_dir, ExportConfig(window_length=config.window_length, stride=config.stride, tolerance=tolerance))
    fixtures = golden["fixtures"]
    encodings = pipeline.encode_batch([fixture["text"] for fixture in fixtures])
    for fixture, encoding, actual in zip(fixtures, encodings, pipeline.logits_batch(encodings)):
        differing = [key for key, value in encoding.to_dict().items() if fixture[key] != value]
        if differing:
            raise ValueError(
                f"{bundle_dir / 'golden.json'}: fixture {fixture['name']!r}: today's Python encoding differs from the "
                f"golden one in {', '.join(differing)} (a deliberate change? then export the bundle again)"
            )
        golden_logits = [np.asarray(window, dtype=np.float32) for window in fixture["logits"]]
        entities = [Entity(e["type"], e["text"], e["start"], e["end"], e["score"]) for e in fixture["entities"]]
        golden_text = GoldenText(fixture["name"], fixture["text"], fixture.get("why", ""))
        row = fixture_parity(golden_text, encoding, golden_logits, actual, entities, pipeline.label_names, config.decoding, tolerance)
        if not same_entities(entities, decode_document(encoding, golden_logits, pipeline.label_names, config.decoding), 1e-6):
            row = replace(row, identical_entities=False)  # the stored logits no longer decode to the stored entities
        report.fixtures.append(row)
    return report
