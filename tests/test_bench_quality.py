"""The quality benchmark's driver: runs taking turns per seed, and a ``--log`` that lets a long run stop and go on.

Training itself is tested elsewhere; here each run is a stand-in that returns fixed scores, so
what is tested is which runs the driver starts, what it keeps, and the report it builds from them.
"""

from __future__ import annotations

import json

import pytest

from test_training import load_benchmark

SCORES = {"ours": {42: 0.84, 43: 0.82}, "trainer_default": {42: 0.80, 43: 0.81}}


@pytest.fixture
def bench(monkeypatch, tmp_path):
    """bench_quality with stand-in runs that record each call; ``fail_at`` stops the benchmark at one run.

    ``both_decodings``: the stand-ins also report ``test_f1_viterbi`` (their test F1) and ``test_f1_argmax``
    (0.02 lower for ours, equal for the Trainer). Results are written under ``tmp_path``, not to benchmarks/results/.
    """
    module = load_benchmark("bench_quality")
    module.calls, module.fail_at, module.both_decodings = [], None, False
    monkeypatch.setattr(module, "result_path", lambda name: tmp_path / f"{name}.json")

    def stand_in(name):
        def run(seed):
            module.calls.append((name, seed))
            if module.fail_at == (name, seed):
                raise KeyboardInterrupt  # the benchmark stopped by hand, mid-way
            scores = {"dev_f1": SCORES[name][seed] - 0.01, "test_f1": SCORES[name][seed], "train_seconds": 10.0 + seed}
            if module.both_decodings:
                scores.update(test_f1_viterbi=SCORES[name][seed], test_f1_argmax=SCORES[name][seed] - (0.02 if name == "ours" else 0.0))
            return scores
        return run

    monkeypatch.setattr(module, "run_ours", lambda dataset, args, seed, recipe: stand_in("ours")(seed))
    monkeypatch.setattr(module, "run_trainer_recipe", lambda dataset, args, seed, tuned: stand_in("trainer_default")(seed))
    return module


ARGS = ["--data", "bundled", "--seeds", "42,43", "--epochs", "5"]


def test_runs_take_turns_per_seed_and_the_report_says_whether_the_targets_hold(bench, capsys, tmp_path):
    bench.both_decodings = True
    assert bench.main(ARGS) == 0
    assert bench.calls == [("ours", 42), ("trainer_default", 42), ("ours", 43), ("trainer_default", 43)]
    report = json.loads(capsys.readouterr().out)
    assert report["runs"]["ours"]["test_f1"] == pytest.approx(0.83)
    assert report["runs"]["ours"]["test_f1_std"] == pytest.approx(0.01414, abs=1e-5)
    assert report["runs"]["trainer_default"]["test_f1_per_seed"] == [0.80, 0.81]
    # Each target compares runs read the same way: under argmax ours (0.81) is no longer ahead (0.805).
    assert report["targets"] == {
        "viterbi": {"ours_mean_test_f1_at_least_0.83": True, "ours_ahead_of_every_trainer_run": True},
        "argmax": {"ours_mean_test_f1_at_least_0.83": False, "ours_ahead_of_every_trainer_run": True},
    }
    assert report["settings"]["epochs"] == 5 and "log" not in report
    written = json.loads((tmp_path / "quality.json").read_text())  # the same report, with where it came from
    assert written["runs"] == report["runs"] and len(written["commit"]) == 40 and written["machine"]["cores"] >= 1


def test_no_output_prints_the_report_and_writes_nothing(bench, capsys, tmp_path):
    assert bench.main([*ARGS, "--seeds", "42", "--no-output"]) == 0
    assert json.loads(capsys.readouterr().out)["benchmark"] == "quality"
    assert not (tmp_path / "quality.json").exists()


def test_a_stopped_run_goes_on_from_its_log_and_runs_nothing_twice(bench, tmp_path, capsys):
    log = tmp_path / "quality.jsonl"
    bench.fail_at = ("ours", 43)
    with pytest.raises(KeyboardInterrupt):
        bench.main([*ARGS, "--log", str(log)])
    assert [json.loads(line)["run"] for line in log.read_text().splitlines()] == ["ours", "trainer_default"]
    capsys.readouterr()

    bench.calls.clear()
    bench.fail_at = None
    assert bench.main([*ARGS, "--log", str(log)]) == 0
    assert bench.calls == [("ours", 43), ("trainer_default", 43)]  # seed 42's runs read back, not run again
    report = json.loads(capsys.readouterr().out)
    assert report["runs"]["ours"]["test_f1_per_seed"] == [0.84, 0.82]
    assert report["log"] == {"file": "quality.jsonl", "runs_read": 2}
    assert len(log.read_text().splitlines()) == 4


def test_a_log_of_other_settings_or_a_broken_line_is_refused_with_its_line(bench, tmp_path):
    log = tmp_path / "quality.jsonl"
    bench.main([*ARGS, "--seeds", "42", "--log", str(log)])
    with pytest.raises(SystemExit, match=r"quality.jsonl, line 1: a run with other settings"):
        bench.main([*ARGS, "--learning-rate", "3e-4", "--log", str(log)])
    log.write_text(log.read_text() + '{"run": "ours", "seed"\n')
    with pytest.raises(SystemExit, match=r"quality.jsonl, line 3: not a finished run of this benchmark"):
        bench.main([*ARGS, "--log", str(log)])


def test_trainer_runs_in_a_log_stay_valid_when_only_train_settings_change(bench, tmp_path, capsys):
    log = tmp_path / "quality.jsonl"
    bench.main([*ARGS, "--log", str(log)])
    bench.calls.clear()
    capsys.readouterr()
    assert bench.main([*ARGS, "--ours", '{"layer_lr_decay": 0.8}', "--log", str(log)]) == 0
    assert bench.calls == [("ours", 42), ("ours", 43)]  # the Trainer runs read back
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["ours"] == {"layer_lr_decay": 0.8}
    assert report["log"]["runs_read"] == 2
    assert [json.loads(line)["run_settings"] for line in log.read_text().splitlines()][-1]["layer_lr_decay"] == 0.8


def test_an_ours_run_is_keyed_by_the_recipe_it_ran_not_by_how_it_was_asked_for(bench, tmp_path, capsys):
    """A run asked for with --ours equal to train()'s defaults is a run at the defaults; a changed default is not."""
    from biobert_ner.training_config import TrainingConfig

    log = tmp_path / "quality.jsonl"
    defaults = TrainingConfig()
    asked = json.dumps({"label_strategy": defaults.label_strategy, "warmup_ratio": defaults.warmup_ratio})
    bench.main([*ARGS, "--runs", "ours", "--ours", asked, "--log", str(log)])
    recipe = json.loads(log.read_text().splitlines()[0])["run_settings"]
    assert recipe["label_strategy"] == defaults.label_strategy and recipe["weight_decay"] == defaults.weight_decay
    assert "seed" not in recipe and "epochs" not in recipe
    bench.calls.clear()
    capsys.readouterr()
    assert bench.main([*ARGS, "--runs", "ours", "--log", str(log)]) == 0
    assert bench.calls == []  # the defaults are that recipe: both seeds read back
    assert json.loads(capsys.readouterr().out)["settings"]["ours_recipe"] == recipe

    bench.recipe_of_ours = lambda ours: {**recipe, "weight_decay": 0.0}  # as if a default of the library changed
    assert bench.main([*ARGS, "--runs", "ours", "--log", str(log)]) == 0
    assert bench.calls == [("ours", 42), ("ours", 43)]


def test_ours_may_not_change_a_setting_the_benchmark_shares(bench):
    with pytest.raises(SystemExit, match=r"--ours: epochs, seed set by the benchmark"):
        bench.main([*ARGS, "--ours", '{"seed": 1, "epochs": 3}'])
    assert bench.calls == []


def test_runs_logged_before_both_decodings_were_recorded_are_read_as_argmax(bench, tmp_path, capsys):
    """A Trainer line holding only argmax scores (the format before) joins runs that hold both decodings."""
    log = tmp_path / "quality.jsonl"
    bench.main([*ARGS, "--log", str(log), "--runs", "trainer_default"])  # stand-ins: dev_f1 and test_f1 only
    capsys.readouterr()

    def with_both_decodings(seed):
        bench.calls.append(("trainer_default", seed))
        return {"decoding": "argmax", "dev_f1": 0.8, "test_f1": 0.8, "test_f1_argmax": 0.8, "test_f1_viterbi": 0.81}

    bench.run_trainer_recipe = lambda dataset, args, seed, tuned: with_both_decodings(seed)
    bench.calls.clear()
    assert bench.main(["--data", "bundled", "--seeds", "42,43,44", "--epochs", "5", "--log", str(log),
                       "--runs", "trainer_default"]) == 0
    assert bench.calls == [("trainer_default", 44)]
    trainer = json.loads(capsys.readouterr().out)["runs"]["trainer_default"]
    assert trainer["decoding"] == "argmax"  # read-back lines say how they were scored
    assert trainer["test_f1"] == pytest.approx((0.80 + 0.81 + 0.80) / 3)
    assert "test_f1_viterbi" not in trainer  # no mean over runs that lack it ...
    assert trainer["test_f1_viterbi_per_seed"] == [None, None, 0.81]  # ... but every value there is


def test_scores_by_decoding_reads_each_run_its_own_way(monkeypatch):
    bench_training = load_benchmark("bench_training")
    def split_f1(model, tokenizer, dataset, split, decoding):
        return {"viterbi": 0.9, "argmax": 0.8}[decoding] - (0.1 if split == "test" else 0.0)

    monkeypatch.setattr(bench_training, "split_f1", split_f1)
    scores = bench_training.scores_by_decoding(None, None, {"validation": None, "test": None}, "argmax")
    assert scores == {
        "decoding": "argmax", "dev_f1_viterbi": 0.9, "test_f1_viterbi": 0.8, "dev_f1_argmax": 0.8,
        "test_f1_argmax": pytest.approx(0.7), "dev_f1": 0.8, "test_f1": pytest.approx(0.7),
    }
    dev_only = bench_training.scores_by_decoding(None, None, {"validation": None}, "viterbi")  # no test split: dev only
    assert dev_only == {"decoding": "viterbi", "dev_f1_viterbi": 0.9, "dev_f1_argmax": 0.8, "dev_f1": 0.9}
