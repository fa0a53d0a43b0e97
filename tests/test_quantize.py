"""int8 bundles (:func:`biobert_ner.quantize.quantize_bundle`) on the committed tiny bundle: what changes, what does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from biobert_ner.bundle import BundleError
from biobert_ner.inference import NerPipeline
from biobert_ner.quantize import quantize_bundle

TINY_BUNDLE = Path(__file__).parent / "fixtures" / "golden" / "tiny-bundle"
TEXTS = ["Aspirin reduced the risk of colorectal cancer in BRCA1 carriers.", "No adverse effects of cisplatin were seen."]


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory) -> Path:
    return quantize_bundle(TINY_BUNDLE, tmp_path_factory.mktemp("int8") / "bundle")


def test_the_int8_bundle_is_the_same_bundle_with_int8_matrix_products(int8_bundle):
    info = json.loads((int8_bundle / "bundle.json").read_text())
    source = json.loads((TINY_BUNDLE / "bundle.json").read_text())
    assert info["quantization"]["weight_type"] == "int8" and info["quantization"]["without"] == ["golden.json"]
    assert {key: value for key, value in info.items() if key != "quantization"} == source  # windows, labels, format: unchanged
    assert not (int8_bundle / "golden.json").exists()  # fp32 logits: not the int8 model's fixtures
    assert (int8_bundle / "tokenizer.json").read_bytes() == (TINY_BUNDLE / "tokenizer.json").read_bytes()
    operators = {node.op_type for node in onnx.load(str(int8_bundle / "model.onnx")).graph.node}
    assert operators & {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention"}, sorted(operators)


def test_int8_logits_stay_near_the_fp32_ones(int8_bundle):
    fp32 = NerPipeline.from_bundle(TINY_BUNDLE, threads=1, verbose=False)
    int8 = NerPipeline.from_bundle(int8_bundle, threads=1, verbose=False)
    encodings = fp32.encode_batch(TEXTS)
    for exact, approximate in zip(fp32.logits_batch(encodings), int8.logits_batch(encodings)):
        for a, b in zip(exact, approximate):
            assert a.shape == b.shape
            assert 0 < np.abs(a - b).max() < 0.25 * np.abs(a).max()  # moved (it is int8), but not far


def test_a_broken_source_or_the_same_folder_is_refused(tmp_path):
    with pytest.raises(BundleError, match="bundle.json"):
        (tmp_path / "empty").mkdir()
        quantize_bundle(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ValueError, match="another folder"):
        quantize_bundle(TINY_BUNDLE, TINY_BUNDLE)
    assert not (tmp_path / "out").exists()
