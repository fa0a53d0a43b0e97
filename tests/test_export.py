"""The ONNX bundle: export, parity with PyTorch, atomic writing, and the committed golden bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biobert_ner import cli, export, golden
from biobert_ner.cli import predict_commands
from biobert_ner.bundle import BUNDLE_FILES, OnnxBackend, onnx_session
from biobert_ner.export import ExportParityError, check_bundle, export_bundle
from biobert_ner.golden import GOLDEN_TEXTS, float32_list, utf16_offset
from biobert_ner.inference import NerPipeline, forward_windows
from biobert_ner.pretokenize import pretokenize

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_BUNDLE = REPO_ROOT / "tests" / "fixtures" / "golden" / "tiny-bundle"
BUNDLE_KEYS = {
    "format", "format_version", "model_name", "model_type", "inputs", "output", "window_length", "stride",
    "label_scheme", "num_labels", "special_tokens", "lowercase", "strip_accents", "pretokenizer", "decoding", "decoding_tables",
    "reading", "export",
}
FIXTURE_KEYS = {"name", "why", "text", "words", "token_ids", "word_ids", "windows", "window_input_ids", "logits", "entities"}


# ---------------------------------------------------------------- fast: helpers and the committed bundle


def test_utf16_offsets_count_surrogate_pairs() -> None:
    text = "🤒 𝛼-synuclein"
    assert [utf16_offset(text, i) for i in (0, 1, 2, 3, 4)] == [0, 2, 3, 5, 6]


def test_float32_values_survive_the_decimal_round_trip() -> None:
    values = np.random.default_rng(0).normal(size=(50, 7)).astype(np.float32) * 10
    written = json.loads(json.dumps(float32_list(values)))
    assert np.array_equal(np.asarray(written, dtype=np.float32), values)
    assert all(len(repr(v)) <= 12 for row in written for v in row)  # shortest float32 form, not 17 digits


def test_golden_texts_cover_the_porting_traps() -> None:
    texts = {golden.name: golden.text for golden in GOLDEN_TEXTS}
    assert "" in texts.values()
    assert any(ord(char) > 0xFFFF for char in texts["non-bmp"])  # UTF-16 and code-point offsets differ
    assert "\t" in texts["white-space"] and "\u00a0" in texts["white-space"]
    assert len(pretokenize(texts["long-document"])) > 300  # several windows even at window_length=256


@pytest.mark.parametrize(
    ("normalizer", "lowercase", "strip_accents"),
    [
        ({"type": "BertNormalizer", "lowercase": False, "strip_accents": None}, False, False),
        ({"type": "BertNormalizer", "lowercase": True, "strip_accents": None}, True, True),  # None follows lowercase
        ({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]}, True, True),
    ],
)
def test_normalizer_settings(normalizer: dict, lowercase: bool, strip_accents: bool) -> None:
    settings = export._normalizer_settings({"normalizer": normalizer})
    assert (settings["lowercase"], settings["strip_accents"]) == (lowercase, strip_accents)


def test_command_line_arguments(tmp_path: Path) -> None:
    parser = cli.build_parser()
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = parser.parse_args(["export", "--model-dir", str(model), "-o", "runs/x/bundle", "--window-length", "128"])
    settings = predict_commands.export_settings(args)  # the flags typed, ExportConfig's defaults for the rest
    assert (args.model_dir, args.output, settings.window_length, settings.stride, args.tiny, settings.fuse) == (model, "runs/x/bundle", 128, 64, False, True)
    assert (settings.opset, settings.tolerance, args.texts) == (None, 1e-4, None)
    assert parser.parse_args(["export", "--tiny", "-o", "x", "--no-fuse"]).fuse is False
    assert predict_commands.export_settings(parser.parse_args(["export", "--tiny", "-o", "x", "--decoding", "argmax"])).decoding.value == "argmax"
    with pytest.raises(cli.UsageError, match="--max-length"):  # the sentence length: not an export setting
        parser.parse_args(["export", "--tiny", "-o", "x", "--max-length", "128"])
    with pytest.raises(cli.UsageError, match="--model-dir --tiny"):
        parser.parse_args(["export", "-o", "x"])  # a model (or --tiny) is required
    with pytest.raises(cli.UsageError, match="does not exist"):
        parser.parse_args(["export", "--model-dir", str(tmp_path / "missing"), "-o", "x"])  # not a model folder
    with pytest.raises(cli.UsageError, match="no config.json"):
        parser.parse_args(["export", "--model-dir", str(tmp_path), "-o", "x"])


def test_export_is_a_library_without_a_command_line_of_its_own() -> None:
    assert not hasattr(export, "main") and not hasattr(export, "add_export_arguments")


def test_committed_golden_bundle_still_matches_python() -> None:
    """The Java tests replay this bundle's fixtures; here Python must still produce them too.

    Words, sub-word ids and windows from today's pre-tokenizer/tokenizer/windows, entities decoded
    from the stored logits, and ONNX Runtime's logits: all equal to what is committed.
    Regenerate with ``biobert-ner export --tiny -o tests/fixtures/golden/tiny-bundle --window-length 64 --stride 16``.
    """
    report = check_bundle(COMMITTED_BUNDLE)
    assert report.ok, str(report)
    assert len(report.fixtures) == len(GOLDEN_TEXTS)
    assert {f.name for f in report.fixtures} == {g.name for g in GOLDEN_TEXTS}, "GOLDEN_TEXTS changed: regenerate the bundle"


def test_committed_golden_bundle_texts_are_the_current_golden_texts() -> None:
    fixtures = golden.read_golden(COMMITTED_BUNDLE)["fixtures"]
    assert [(f["name"], f["text"]) for f in fixtures] == [(g.name, g.text) for g in GOLDEN_TEXTS], (
        "GOLDEN_TEXTS changed: regenerate tests/fixtures/golden/tiny-bundle (see its README)"
    )


def test_committed_pretokenizer_table_is_current() -> None:
    table = golden.read_golden(COMMITTED_BUNDLE)["pretokenizer"]
    current = golden.pretokenizer_table()
    if table["unicode_version"] == current["unicode_version"]:
        assert table == current


# ---------------------------------------------------------------- slow: a real export of the tiny model


@pytest.fixture(scope="module")
def exported(tiny_model_dir: Path, tmp_path_factory) -> tuple[Path, export.ExportReport]:
    bundle = tmp_path_factory.mktemp("export") / "bundle"
    report = export_bundle(tiny_model_dir, bundle, window_length=32, stride=8, verbose=False)
    return bundle, report


@pytest.mark.slow
def test_bundle_has_every_file_and_is_in_parity(exported) -> None:
    bundle, report = exported
    assert sorted(path.name for path in bundle.iterdir()) == sorted(BUNDLE_FILES)
    assert report.ok
    assert report.max_abs_diff < 1e-4
    assert report.identical_entities
    assert report.files.keys() == set(BUNDLE_FILES) and all(size > 0 for size in report.files.values())
    table = report.parity_table()
    assert [row["name"] for row in table] == [g.name for g in GOLDEN_TEXTS]
    assert set(table[0]) == {"name", "characters", "words", "tokens", "windows", "max_abs_diff", "entities", "identical_entities"}
    long_row = next(row for row in table if row["name"] == "long-document")
    assert long_row["windows"] > 1
    assert "export OK" in str(report)


@pytest.mark.slow
def test_fused_graph_uses_onnxruntime_kernels_and_matches_the_plain_one(exported, tiny_model_dir: Path, tmp_path: Path) -> None:
    import onnx

    bundle, report = exported
    layers = json.loads((tiny_model_dir / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    # One attention kernel per layer, two residual Add+LayerNorms per layer, one bias+GELU per layer.
    assert report.fused_kernels == {"Attention": layers, "BiasGelu": layers, "SkipLayerNormalization": 2 * layers}
    assert json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))["export"]["fused_kernels"] == report.fused_kernels

    plain_bundle = tmp_path / "plain"
    plain = export_bundle(tiny_model_dir, plain_bundle, window_length=32, stride=8, fuse=False, verbose=False)
    assert plain.ok and plain.fused_kernels == {}
    plain_ops = {node.op_type for node in onnx.load(str(plain_bundle / "model.onnx")).graph.node}
    assert "Softmax" in plain_ops and "Attention" not in plain_ops
    fused_ops = {node.op_type for node in onnx.load(str(bundle / "model.onnx")).graph.node}
    assert "Softmax" not in fused_ops  # attention went into the fused kernel
    ids = [[2, 7, 9, 11, 3], [2, 5, 3, 0, 0]]
    labels = json.loads((bundle / "labels.json").read_text(encoding="utf-8"))
    fused_logits = forward_windows(OnnxBackend(onnx_session(bundle / "model.onnx"), labels), ids, pad_id=0)
    plain_logits = forward_windows(OnnxBackend(onnx_session(plain_bundle / "model.onnx"), labels), ids, pad_id=0)
    for a, b in zip(fused_logits, plain_logits):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


@pytest.mark.slow
def test_bundle_files_are_valid_json_with_the_expected_keys(exported, tiny_model_dir: Path) -> None:
    bundle, _ = exported
    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    assert BUNDLE_KEYS <= set(info)
    assert (info["format"], info["format_version"], info["label_scheme"]) == ("biobert-ner-bundle", 2, "IOB2")
    assert (info["window_length"], info["stride"], info["decoding"]) == (32, 8, "viterbi")
    assert "window_length" not in json.loads((bundle / "golden.json").read_text(encoding="utf-8"))  # stored once
    assert info["pretokenizer"]["name"] == "biobert-ner-words-v1"
    assert info["inputs"] == ["input_ids", "attention_mask"] and info["output"] == "logits"
    assert info["lowercase"] is False  # the tiny BERT is cased
    config = json.loads((tiny_model_dir / "config.json").read_text(encoding="utf-8"))
    labels = json.loads((bundle / "labels.json").read_text(encoding="utf-8"))
    assert labels == [config["id2label"][str(i)] for i in range(len(labels))]
    assert info["num_labels"] == len(labels)
    tokenizer = json.loads((bundle / "tokenizer.json").read_text(encoding="utf-8"))
    assert tokenizer["model"]["type"] == "WordPiece" and "normalizer" in tokenizer
    golden = json.loads((bundle / "golden.json").read_text(encoding="utf-8"))
    assert golden["labels"] == labels
    for fixture in golden["fixtures"]:
        assert set(fixture) == FIXTURE_KEYS
        assert len(fixture["logits"]) == len(fixture["windows"]) == len(fixture["window_input_ids"])
        for window, logits in zip(fixture["window_input_ids"], fixture["logits"]):
            assert np.asarray(logits).shape == (len(window), len(labels))


@pytest.mark.slow
def test_golden_entities_carry_code_point_and_utf16_offsets(exported) -> None:
    bundle, _ = exported
    differ = 0
    for fixture in golden.read_golden(bundle)["fixtures"]:
        text, utf16 = fixture["text"], fixture["text"].encode("utf-16-le")
        for entity in fixture["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert utf16[2 * entity["utf16_start"] : 2 * entity["utf16_end"]].decode("utf-16-le") == entity["text"]
            differ += entity["utf16_start"] != entity["start"]
    assert differ > 0, "no entity after a non-BMP character: the fixtures do not tell UTF-16 from code points"


@pytest.mark.slow
def test_onnx_model_has_dynamic_batch_and_sequence_axes(exported) -> None:
    bundle, _ = exported
    session = onnx_session(bundle / "model.onnx")
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
    assert all(isinstance(dim, str) for i in session.get_inputs() for dim in i.shape)
    for batch, length in [(1, 3), (3, 50), (2, 32)]:
        ids = np.full((batch, length), 7, dtype=np.int64)
        (logits,) = session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        assert logits.shape == (batch, length, 7)


@pytest.mark.slow
def test_a_fresh_bundle_passes_the_python_check(exported) -> None:
    bundle, _ = exported
    assert check_bundle(bundle).ok


@pytest.mark.slow
def test_onnx_backend_finds_what_the_torch_backend_finds(exported, tiny_model_dir: Path) -> None:
    bundle, _ = exported
    texts = ["Cisplatin induced nephrotoxicity in 🤒 patients.", "", "TNF-α (10 mg/kg) " * 20, *[g.text for g in GOLDEN_TEXTS]]
    torch_ner = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", window_length=32, stride=8, verbose=False)
    onnx_ner = NerPipeline.from_bundle(bundle, threads=1, verbose=False)
    assert (onnx_ner.config.window_length, onnx_ner.config.stride) == (32, 8)  # the bundle's windows
    torch_entities, onnx_entities = torch_ner(texts), onnx_ner(texts)
    assert sum(map(len, torch_entities)) > 10
    for expected, actual in zip(torch_entities, onnx_entities):
        assert export.same_entities(expected, actual, 1e-4)


@pytest.mark.slow
def test_failure_mid_export_leaves_no_half_bundle(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "previous.txt").write_text("the old bundle")

    def broken_table() -> dict:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(golden, "pretokenizer_table", broken_table)  # after model.onnx and tokenizer.json are written
    with pytest.raises(RuntimeError, match="simulated"):
        export_bundle(tiny_model_dir, bundle, window_length=32, stride=8, verbose=False)
    assert [path.name for path in bundle.iterdir()] == ["previous.txt"]  # the old bundle, untouched
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bundle"]  # no temporary folder left behind


@pytest.mark.slow
def test_parity_failure_writes_nothing(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    real_forward = OnnxBackend.forward

    def drifting_forward(self, input_ids, attention_mask):
        return real_forward(self, input_ids, attention_mask) + 1e-3

    monkeypatch.setattr(OnnxBackend, "forward", drifting_forward)
    with pytest.raises(ExportParityError) as raised:
        export_bundle(tiny_model_dir, tmp_path / "bundle", window_length=32, stride=8, verbose=False)
    assert not raised.value.report.ok
    assert raised.value.report.max_abs_diff > 1e-4
    assert "export FAILED" in str(raised.value)
    assert not (tmp_path / "bundle").exists()
    assert list(tmp_path.iterdir()) == []
