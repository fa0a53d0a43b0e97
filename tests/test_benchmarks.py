"""The benchmarks' shared record (:mod:`benchmarks.common`) and the results they keep in benchmarks/results/.

A kept result must parse as strict JSON and say which commit and machine made it; the files
written before the benchmarks recorded that are listed here by name with the date they hold.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from pathlib import Path

import pytest

from benchmarks import common
from test_training import load_benchmark

BENCHMARKS = Path(common.__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
# Results measured before benchmarks.common existed: they name no commit. A file re-measured since
# must leave this list (test_results_name_their_commit_and_machine fails until it does).
WRITTEN_BEFORE_COMMITS_WERE_RECORDED = {
    "gpu_training.json": "2026-11-29",
    "java.json": "2026-11-25",
    "java-unfused.json": "2026-11-25",
    "quality_cpu.json": "2026-11-30",
    "quality_cpu_ours.json": "2026-11-30",
    "quality_cpu_trainer_decodings.json": "2026-11-30",
    "quality_gpu_partial.json": "2026-11-29",
    "training.json": "2026-11-25",
    "training_cpu_ncbi.json": "2026-11-30",
}

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16
processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16
"""


def strict_json(text: str, where: str):
    """``json.loads`` that refuses NaN and infinity (Python writes them; they are not JSON)."""
    def refuse(constant):
        raise ValueError(f"{where}: {constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_every_kept_result_is_valid_json():
    files = sorted(RESULTS.glob("*.json")) + sorted(RESULTS.glob("*.jsonl"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            for number, line in enumerate(text.splitlines(), start=1):
                assert isinstance(strict_json(line, f"{path.name}, line {number}"), dict)
        else:
            assert isinstance(strict_json(text, path.name), dict), path.name


def test_results_name_their_commit_and_machine():
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if path.name in WRITTEN_BEFORE_COMMITS_WERE_RECORDED:
            assert "commit" not in result, f"{path.name} names its commit now: take it off the list of older results"
            date = result.get("date") or result.get("machine", {}).get("date", "")
            assert date.startswith(WRITTEN_BEFORE_COMMITS_WERE_RECORDED[path.name]), path.name
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", result.get("commit") or ""), f"{path.name}: no commit"
        assert isinstance(result.get("dirty"), bool), f"{path.name}: not said whether the tree was dirty"
        machine = result.get("machine", {})
        assert machine.get("cpu") and machine.get("cores") and "cpu_flags" in machine, f"{path.name}: no machine"
        assert machine.get("load_average_at_start") is not None, f"{path.name}: no load average"
        assert result.get("command", "").startswith("python"), f"{path.name}: no command"


def test_cpu_model_and_the_flags_that_matter_are_read_from_cpuinfo():
    assert common.cpu_model(CPUINFO) == "AMD EPYC 9R14 96-Core Processor"
    flags = common.cpu_flags(CPUINFO)
    assert flags["avx512_bf16"] and flags["avx512_vnni"] and flags["avx2"]
    assert not flags["amx_bf16"] and not flags["amx_tile"]
    assert set(common.cpu_flags("")) == set(common.CPU_FLAGS) and not any(common.cpu_flags("").values())


def test_the_record_names_commit_machine_versions_and_command():
    record = common.start_record("example")
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"]) and isinstance(record["dirty"], bool)
    assert record["machine"]["cores"] >= 1 and len(record["machine"]["load_average_at_start"]) == 3
    assert record["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["versions"]["torch"] and "onnxruntime" in record["versions"]
    assert record["command"].startswith("python")


def test_finish_writes_strict_json_and_refuses_nan(tmp_path, capsys):
    record = common.start_record("example")
    out = tmp_path / "example.json"
    result = common.finish(record, {"runs": {"a": 1.5}, "machine": {"threads": 2}}, out)
    written = json.loads(out.read_text())
    assert written == result == json.loads(capsys.readouterr().out)
    assert written["machine"]["threads"] == 2 and written["machine"]["cores"] == record["machine"]["cores"]
    assert len(written["machine"]["load_average_at_end"]) == 3
    with pytest.raises(ValueError):
        common.finish(record, {"runs": {"a": math.nan}}, tmp_path / "nan.json")
    assert not (tmp_path / "nan.json").exists()  # nothing half-written


def test_logs_inside_go_to_stderr(capsys):
    with common.logs_to_stderr():
        print({"loss": "0.2228", "epoch": "2.959"})  # what the Trainer prints
    captured = capsys.readouterr()
    assert captured.out == "" and "0.2228" in captured.err


def test_no_benchmark_edits_sys_path():
    for path in BENCHMARKS.glob("*.py"):
        assert "sys.path" not in path.read_text(encoding="utf-8").replace("no ``sys.path`` edits", ""), path.name


def test_gpu_benchmark_dev_sentences_are_held_out_from_its_training_sentences(corpus):
    bench = load_benchmark("bench_gpu_training")
    train_pool, dev_pool = bench.sentence_pools(corpus)
    assert len(train_pool) == len(corpus["train"])
    assert dev_pool and not {tuple(t) for t, _ in train_pool} & {tuple(t) for t, _ in dev_pool}
    dataset, _, _ = bench.build_dataset(bench.parse_args(["--sentences", "300", "--dev-sentences", "100"]))
    trained_on = {tuple(tokens) for tokens, _ in train_pool}
    # Every synthetic dev sentence is made of held-out sentences: none of its starts is a training sentence's start.
    for tokens in dataset["validation"]["tokens"]:
        assert not any(tuple(tokens[: len(sentence)]) == sentence for sentence in trained_on if len(sentence) <= len(tokens))
        assert any(tuple(tokens) == tuple(sentence[: len(tokens)]) or tuple(tokens[: len(sentence)]) == tuple(sentence)
                   for sentence, _ in dev_pool)
    tokens, _ = bench.synthetic_sentences(dev_pool, 50, 25, random.Random(1))
    assert len(tokens) == 50


def test_training_comparisons_and_targets_read_every_run_with_one_decoding():
    """Ours leads under Viterbi and trails under argmax: each target says so on its own decoding, never across two."""
    bench = load_benchmark("bench_training")
    def run(speed, viterbi, argmax):
        return {"sentences_per_second": speed, "dev_f1_viterbi": viterbi, "test_f1_viterbi": viterbi,
                "dev_f1_argmax": argmax, "test_f1_argmax": argmax}

    runs = {"ours": run(30.0, 0.84, 0.80), "trainer_default": run(10.0, 0.82, 0.81), "trainer_tuned": run(25.0, 0.82, 0.81)}
    comparisons = {**bench.speed_comparisons(runs),
                   "f1_points": {decoding: bench.f1_comparisons(runs, decoding) for decoding in ("viterbi", "argmax")}}
    assert comparisons["speed_ours_vs_trainer_default"] == pytest.approx(3.0)
    assert comparisons["f1_points"]["viterbi"]["test_f1_points_ours_minus_trainer_default"] == pytest.approx(2.0)
    assert comparisons["f1_points"]["argmax"]["test_f1_points_ours_minus_trainer_default"] == pytest.approx(-1.0)
    assert comparisons["f1_points"]["viterbi"]["dev_f1_points_bf16_minus_fp32"] is None  # no ours_fp32 run
    targets = bench.targets(comparisons)
    assert targets["ours_at_least_3x_trainer_default"] and not targets["ours_at_least_1.5x_trainer_tuned"]
    assert targets["viterbi"] == {"dev_f1_within_half_a_point_of_trainer_default": True, "ours_test_f1_at_least_trainer_default": True}
    assert targets["argmax"] == {"dev_f1_within_half_a_point_of_trainer_default": False, "ours_test_f1_at_least_trainer_default": False}
