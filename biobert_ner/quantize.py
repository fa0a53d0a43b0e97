"""An int8 copy of an exported bundle: ONNX Runtime's dynamic quantization of the model's weights.

Dynamic quantization stores each matrix of the model in int8 (with one scale per matrix) and
quantizes activations on the fly, batch by batch: no calibration data is needed, the file is
about 4x smaller, and on a CPU with VNNI (``avx512_vnni``) or AMX-INT8 the matrix products run on
int8 units. The logits move, so an int8 bundle's entities are measured against the fp32
bundle's before it is used (``benchmarks/bench_quantized.py``).

The int8 bundle is the fp32 bundle with ``model.onnx`` replaced and a ``quantization`` section in
``bundle.json``; ``golden.json`` is left out, because its logits are the fp32 model's and an int8
model is not meant to reproduce them to the golden tolerance. Everything else (tokenizer, labels,
windows, format version) is unchanged, so every reader of a bundle, Java included, runs it as is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .bundle import Bundle
from .files import atomic_directory, atomic_write_json

QUANTIZED_WITHOUT = ("golden.json",)  # files of the fp32 bundle an int8 copy does not carry (see the module docstring)


def quantize_bundle(source: str | os.PathLike[str], destination: str | os.PathLike[str], *, per_channel: bool = False) -> Path:
    """Write an int8 copy of the bundle ``source`` (checked by :meth:`Bundle.load`) to ``destination``.

    ``per_channel``: one scale per output column instead of per matrix (finer, a little slower).
    The folder appears only when it is whole (:func:`biobert_ner.files.atomic_directory`).
    """
    from onnxruntime import __version__ as onnxruntime_version
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, destination = Path(source), Path(destination)
    bundle = Bundle.load(source)  # refuses a broken or foreign bundle, naming the file
    if source.resolve() == destination.resolve():
        raise ValueError(f"{destination}: the int8 bundle must go to another folder than its fp32 source")
    with atomic_directory(destination) as folder, tempfile.TemporaryDirectory() as scratch:
        for item in source.iterdir():
            if item.is_file() and item.name not in QUANTIZED_WITHOUT and item.name != "model.onnx":
                shutil.copy2(item, folder / item.name)
        # quantize_dynamic writes external data beside its output for large models: write to scratch, then move.
        quantized = Path(scratch) / "model.onnx"
        quantize_dynamic(bundle.model_path, quantized, weight_type=QuantType.QInt8, per_channel=per_channel)
        shutil.move(quantized, folder / "model.onnx")
        info = json.loads((source / "bundle.json").read_text(encoding="utf-8"))
        info["quantization"] = {
            "method": "onnxruntime.quantization.quantize_dynamic",
            "weight_type": "int8",
            "per_channel": per_channel,
            "onnxruntime": onnxruntime_version,
            "source_model_bytes": bundle.model_path.stat().st_size,
            "model_bytes": (folder / "model.onnx").stat().st_size,
            "without": list(QUANTIZED_WITHOUT),
        }
        atomic_write_json(folder / "bundle.json", info)
    Bundle.load(destination)  # the copy reads back as a bundle
    return destination
