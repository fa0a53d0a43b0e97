"""Reading a bundle: each malformed or incomplete bundle is a BundleError naming the file and the problem.

The cases mirror the Java appendix's ``BundleTest``, check for check, so that a bundle one side
refuses the other refuses too, with the same words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from biobert_ner.bundle import REQUIRED_FILES, Bundle, BundleError, OnnxBackend
from biobert_ner.golden import read_golden
from biobert_ner.inference import NerPipeline
from biobert_ner.schemes import decoding_tables

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_BUNDLE = REPO_ROOT / "tests" / "fixtures" / "golden" / "tiny-bundle"


def valid_info() -> dict:
    return {
        "format": "biobert-ner-bundle",
        "format_version": 2,
        "model_name": "test",
        "inputs": ["input_ids", "attention_mask"],
        "output": "logits",
        "window_length": 64,
        "stride": 16,
        "label_scheme": "IOB2",
        "decoding": "argmax",
        "decoding_tables": {  # labels O, B-Gene, I-Gene: I-Gene only after B-Gene or I-Gene, never first
            "prefixes": ["B", "I"],
            "starts": [True, True, False],
            "transitions": [[True, True, False], [True, True, True], [True, True, True]],
            "ends": [True, True, True],
        },
        "num_labels": 3,
        "special_tokens": {
            name: {"token": token, "id": token_id}
            for name, token, token_id in (("cls", "[CLS]", 2), ("sep", "[SEP]", 3), ("pad", "[PAD]", 0), ("unk", "[UNK]", 1))
        },
        "pretokenizer": {"name": "biobert-ner-words-v1"},
    }


def write_bundle(folder: Path, edit: Callable[[dict], None] = lambda info: None, **files: str) -> Path:
    """A bundle that passes every check of ``Bundle.load`` (its model.onnx is no model), after ``edit`` and ``files``."""
    folder.mkdir(exist_ok=True)
    info = valid_info()
    edit(info)
    contents = {
        "bundle.json": json.dumps(info),
        "labels.json": '["O", "B-Gene", "I-Gene"]',
        "tokenizer.json": '{"model": {"type": "WordPiece"}}',
        "model.onnx": "not really onnx, but not empty",
    }
    contents.update({name.replace("_", "."): text for name, text in files.items()})
    for name, text in contents.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def assert_bad(folder: Path, file: str, problem: str) -> BundleError:
    with pytest.raises(BundleError) as raised:
        Bundle.load(folder)
    assert raised.value.file == folder / file, str(raised.value)
    assert problem in str(raised.value)
    assert str(raised.value).startswith(f"{folder / file}: ")
    return raised.value


def test_a_valid_bundle_loads(tmp_path: Path) -> None:
    bundle = Bundle.load(write_bundle(tmp_path))
    assert bundle.labels == ["O", "B-Gene", "I-Gene"]
    assert (bundle.window_length, bundle.stride, bundle.cls_id, bundle.sep_id, bundle.pad_id) == (64, 16, 2, 3, 0)
    assert (bundle.inputs, bundle.output, bundle.model_name) == (["input_ids", "attention_mask"], "logits", "test")
    assert bundle.decoding.value == "argmax" and bundle.tables.starts == (True, True, False)
    assert "window_length=64" in str(bundle) and "decoding=argmax" in str(bundle)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a folder") as raised:
        Bundle.load(tmp_path / "nowhere")
    assert raised.value.file == tmp_path / "nowhere"


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_files(tmp_path: Path, name: str) -> None:
    write_bundle(tmp_path)
    (tmp_path / name).unlink()
    assert_bad(tmp_path, name, "missing")


def test_golden_json_is_not_required_but_read_golden_names_it(tmp_path: Path) -> None:
    Bundle.load(write_bundle(tmp_path))
    with pytest.raises(BundleError, match="missing") as raised:
        read_golden(tmp_path)
    assert raised.value.file == tmp_path / "golden.json"


@pytest.mark.parametrize(
    ("files", "file", "problem"),
    [
        ({"bundle_json": '{"format": "biobert-ner-bundle", '}, "bundle.json", "not valid JSON"),
        ({"bundle_json": '["biobert-ner-bundle"]'}, "bundle.json", "expected a JSON object"),
        ({"labels_json": '{"O": 0}'}, "labels.json", "expected a non-empty JSON list"),
        ({"labels_json": "[]"}, "labels.json", "non-empty"),
        ({"labels_json": '["O", 1, "I-Gene"]'}, "labels.json", "label 1 is not a string"),
        ({"labels_json": '["O", "B-Gene", "E-Gene"]'}, "labels.json", "'E-Gene' is not an IOB2 tag"),
        ({"labels_json": '["O", "B-Gene", "Gene"]'}, "labels.json", "malformed tag 'Gene'"),
        ({"labels_json": '["O", "B-Gene", "B-Gene"]'}, "labels.json", "appears twice"),
        ({"labels_json": '["O", "B-Gene"]'}, "labels.json", "2 labels, but bundle.json says num_labels=3"),
        ({"tokenizer_json": "[1, 2"}, "tokenizer.json", "not valid JSON"),
        ({"tokenizer_json": '{"vocab": {}}'}, "tokenizer.json", "no 'model' entry"),
        ({"model_onnx": ""}, "model.onnx", "empty file"),
    ],
)
def test_malformed_files(tmp_path: Path, files: dict, file: str, problem: str) -> None:
    assert_bad(write_bundle(tmp_path, **files), file, problem)


def _set(path: str, value):
    """An edit of bundle.json: set (or, for ``...``, delete) the key at a dotted path."""

    def edit(info: dict) -> None:
        *parents, key = path.split(".")
        for parent in parents:
            info = info[parent]
        if value is ...:
            del info[key]
        else:
            info[key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_set("format", "something-else"), "format is 'something-else', expected 'biobert-ner-bundle'"),
        (_set("format", ...), "missing key 'format'"),
        (_set("format_version", 3), "format_version 3 is not supported"),
        (_set("format_version", 1), "format_version 1 is no longer read: it stores neither the decoding nor its tables; "
                                    "export the model again (`biobert-ner export --model-dir MODEL -o BUNDLE`)"),
        (_set("format_version", "1"), "'format_version' must be an integer"),
        (_set("format_version", True), "'format_version' must be an integer"),
        (_set("label_scheme", "IOBES"), "label_scheme is 'IOBES'; this code decodes IOB2 only"),
        (_set("pretokenizer.name", "whitespace"), "pretokenizer 'whitespace' is not the one implemented here"),
        (_set("pretokenizer", "biobert-ner-words-v1"), "'pretokenizer' must be an object"),
        (_set("window_length", ...), "missing key 'window_length'"),
        (_set("window_length", 2), "need window_length >= 3"),
        (_set("stride", "sixteen"), "'stride' must be an integer"),
        (_set("stride", 62), "0 <= stride < window_length - 2"),
        (_set("stride", -1), "0 <= stride < window_length - 2"),
        (_set("decoding", ...), "missing key 'decoding'"),
        (_set("decoding", "crf"), "decoding must be one of viterbi, argmax, not 'crf'"),
        (_set("decoding_tables", ...), "missing key 'decoding_tables'"),
        (_set("decoding_tables.starts", [True, True, True]), "decoding_tables.starts is not the IOB2 table of labels.json's labels"),
        (_set("decoding_tables.transitions", [[True] * 3] * 3), "decoding_tables.transitions is not the IOB2 table"),
        (_set("special_tokens.sep", ...), "missing key 'sep'"),
        (_set("special_tokens.cls.id", 2.5), "'id' must be an integer"),
        (_set("inputs", []), "must include input_ids"),
        (_set("inputs", ["input_ids", "pixel_values"]), "must include input_ids and be among"),
        (_set("inputs", "input_ids"), "'inputs' must be a list of strings"),
        (_set("output", 3), "'output' must be a string"),
    ],
)
def test_bundle_json_checks(tmp_path: Path, edit, problem: str) -> None:
    assert_bad(write_bundle(tmp_path, edit), "bundle.json", problem)


def test_integral_floats_are_integers_as_in_java(tmp_path: Path) -> None:
    assert Bundle.load(write_bundle(tmp_path, _set("window_length", 64.0))).window_length == 64


# ---------------------------------------------------------------- the model: ONNX Runtime session checks


def copy_committed_bundle(folder: Path) -> Path:
    shutil.copytree(COMMITTED_BUNDLE, folder)
    return folder


def test_the_committed_bundle_loads_with_its_session(tmp_path: Path) -> None:
    bundle = Bundle.load(COMMITTED_BUNDLE)
    backend = OnnxBackend.load(bundle, threads=1)
    assert backend.input_names == ["input_ids", "attention_mask"] and backend.label_names == bundle.labels
    assert bundle.tokenizer().convert_ids_to_tokens([bundle.cls_id, bundle.sep_id, bundle.pad_id]) == ["[CLS]", "[SEP]", "[PAD]"]


def test_labels_that_do_not_match_the_model(tmp_path: Path) -> None:
    folder = copy_committed_bundle(tmp_path / "bundle")
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))[:-1]
    info = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    info["num_labels"] = len(labels)
    info["decoding_tables"] = decoding_tables(labels, "IOB2").to_dict()  # consistent with the shorter list: only the model disagrees
    (folder / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    (folder / "bundle.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(BundleError, match=f"model.onnx predicts {len(labels) + 1}") as raised:
        NerPipeline.from_bundle(folder, verbose=False)
    assert raised.value.file == folder / "labels.json"


def test_an_output_the_model_does_not_have(tmp_path: Path) -> None:
    folder = copy_committed_bundle(tmp_path / "bundle")
    info = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    info["output"] = "scores"
    (folder / "bundle.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(BundleError, match="no output named 'scores'") as raised:
        NerPipeline.from_bundle(folder, verbose=False)
    assert raised.value.file == folder / "model.onnx"


def test_corrupt_model(tmp_path: Path) -> None:
    folder = copy_committed_bundle(tmp_path / "bundle")
    (folder / "model.onnx").write_text("this is not a protobuf", encoding="utf-8")
    with pytest.raises(BundleError, match="ONNX Runtime cannot load it") as raised:
        NerPipeline.from_bundle(folder, verbose=False)
    assert raised.value.file == folder / "model.onnx"
