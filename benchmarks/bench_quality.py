"""Quality on a real corpus: this library's ``train()`` against Hugging Face's ``Trainer`` recipe, over seeds.

    python -m benchmarks.bench_quality                      # MiniLM on NCBI-disease, 3 seeds, all runs
    python -m benchmarks.bench_quality --seeds 42 --runs ours
    python -m benchmarks.bench_quality --ours '{"classifier_lr_scale": 1}'   # an ablation of one setting
    python -m benchmarks.bench_quality --log quality.jsonl  # stop at any time; run it again to go on

Every run uses the same model (``--model``, default the offline all-MiniLM-L6-v2), data (NCBI-disease,
shipped with the package), epochs, batch size and peak learning rate; everything else is at each
library's defaults:

* ``ours``: :func:`biobert_ner.training.train` at its defaults (``--ours`` changes settings, for ablations);
  the model kept is the best dev epoch's, as ``train()`` always does;
* ``trainer_default``: the ``Trainer`` recipe of transformers' ``run_ner.py`` (first-sub-word
  labels, ``DataCollatorForTokenClassification``, Trainer defaults); the model kept is the last;
* ``trainer_tuned`` (only when asked for in ``--runs``): the same with ``bf16=True`` where the
  hardware is fast at it, and ``group_by_length``.

Every model is scored the same way: test (and dev) entity F1, seqeval strict IOB2, words as the
corpus has them, each word read from its first sub-word, under both decodings (``test_f1_viterbi``,
``test_f1_argmax``, see :mod:`biobert_ner.decoding`). ``test_f1`` is the F1 of the entities each
recipe's users get: ``train()``'s decoding (Viterbi by default) for ``ours``; for the ``Trainer``
recipe, transformers' pipeline, whose word labels are each word's best label (``argmax``).
Prints one JSON document: mean and standard deviation over seeds of test F1, and the training
time of each run; writes it to ``benchmarks/results/quality.json`` (``--output``) with the commit
and the machine. The targets compare runs under one decoding at a time, once per decoding.

On two CPU cores one seed of the default Trainer recipe takes about half an hour (5 epochs of
5,424 sentences), and the whole benchmark longer than a working session. With ``--log`` every run
that ends is added to a JSON-lines file at once (the file replaced whole, never left half-written),
and a later call with the same settings runs only what the file does not hold yet.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_training import add_run_arguments, run_trainer, scores_by_decoding  # the Trainer recipe, shared with the speed benchmark
from benchmarks.common import add_output_argument, cpu_model, finish, gpu, load_average, logs_to_stderr, result_path, start_record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

RUNS = ("ours", "trainer_default", "trainer_tuned")
DEFAULT_RUNS = ("ours", "trainer_default")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    parser.add_argument("--seeds", default="42,43,44", help="comma-separated seeds; every run is repeated per seed")
    parser.add_argument("--runs", default=",".join(DEFAULT_RUNS), help=f"comma-separated subset of {', '.join(RUNS)}")
    parser.add_argument("--ours", default="{}", help="JSON of TrainingConfig settings for 'ours' (ablations)")
    parser.add_argument(
        "--log", type=Path, default=None,
        help="JSON-lines file of finished runs: each run is added as it ends, and the runs it holds "
        "(same settings) are not run again, so a long benchmark can stop and go on",
    )
    add_output_argument(parser, result_path("quality"))
    return parser.parse_args(argv)


def scores(model, tokenizer, dataset, decoding: str) -> dict:
    """Dev and test entity F1 of a model under each decoding, as the Trainer runs are scored (fp32, eval mode)."""
    return scores_by_decoding(model.float().eval(), tokenizer, dataset, decoding)


def run_ours(dataset, args, seed: int, recipe: dict) -> dict:
    """One run of ``train()`` with ``recipe`` (:func:`recipe_of_ours`), the very settings that key it in a ``--log``."""
    from biobert_ner.training import TrainingConfig, train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        config = TrainingConfig(
            model=args.model, output_dir=folder, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, seed=seed, num_threads=args.threads,
            max_train_sentences=args.max_train_sentences, checkpoint_every_epoch=False, **recipe,
        )
        result = train(config, dataset=dataset)
    wall = time.perf_counter() - started
    return {**scores(result.model, result.tokenizer, dataset, config.decoding), "train_seconds": result.train_seconds,
            "wall_seconds": wall, "best_epoch": result.best_epoch, "precision": result.precision}


def run_trainer_recipe(dataset, args, seed: int, tuned: bool) -> dict:
    """The Trainer recipe; ``run_trainer`` already scores its final model on dev and test."""
    return run_trainer(dataset, args, tuned=tuned, seed=seed)


# TrainingConfig fields that are not train()'s recipe: the ones run_ours sets for every run (the shared
# settings, the seed, where files go), the data (passed as a dataset), and two that never change a
# model here (the evaluation batch size, resume). Everything else is the recipe: what --ours may
# change, and part of an ``ours`` run's key in a --log.
SET_BY_THE_BENCHMARK = frozenset({
    "model", "data", "output_dir", "epochs", "batch_size", "learning_rate", "seed", "num_threads",
    "max_train_sentences", "eval_batch_size", "resume_from", "checkpoint_every_epoch",
})


def recipe_of_ours(ours: dict) -> dict:
    """train()'s own settings as it will run them: its defaults with ``--ours`` applied.

    The whole recipe, not just ``--ours``, keys an ``ours`` run in a ``--log``: when a default of
    the library changes, runs logged before no longer match and run again, and a run made with
    ``--ours`` equal to the new defaults is read back as a run at the defaults.
    """
    from dataclasses import asdict

    from biobert_ner.training_config import TrainingConfig

    if shared := sorted(set(ours) & SET_BY_THE_BENCHMARK):
        raise SystemExit(f"--ours: {', '.join(shared)} set by the benchmark for every run (use its own options)")
    recipe = asdict(TrainingConfig(**ours))
    return {name: value for name, value in recipe.items() if name not in SET_BY_THE_BENCHMARK}


def summarize(per_seed: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every number all runs have; the per-seed test F1s kept.

    A number only some runs have (a run logged before it was measured, such as ``test_f1_viterbi``)
    gets no mean: its per-seed values are listed, ``None`` where missing.
    """
    summary: dict = {"seeds": len(per_seed)}
    for key, value in per_seed[0].items():
        if isinstance(value, float) and all(key in run for run in per_seed):
            values = [run[key] for run in per_seed]
            summary[key] = statistics.fmean(values)
            summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        elif not isinstance(value, float):
            summary[key] = value
    for key in sorted({key for run in per_seed for key in run if key.startswith("test_f1")}):
        summary[f"{key}_per_seed"] = [run.get(key) for run in per_seed]
    return summary


def read_log(path: Path | None, settings: dict) -> dict[tuple[str, int, str], dict]:
    """The finished runs a ``--log`` file holds, by (run, seed, the run's own settings as JSON).

    Every line must share ``settings`` (model, data, epochs, batch, rate, machine): runs made
    otherwise are not comparable, and mixing them in one report would hide it. A run's own
    settings (``train()``'s recipe, see :func:`recipe_of_ours`) are part of its key instead: the
    ``Trainer`` runs of a log stay valid while ``train()``'s settings are being changed.
    """
    if path is None or not path.exists():
        return {}
    finished = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
            key = (record["run"], int(record["seed"]), json.dumps(record["run_settings"], sort_keys=True))
            result, record_settings = record["result"], record["settings"]
        except (ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"{path}, line {number}: not a finished run of this benchmark ({error!r})") from None
        if record_settings != settings:
            raise SystemExit(
                f"{path}, line {number}: a run with other settings ({record_settings}, not {settings}); "
                "give this benchmark another --log file"
            )
        finished[key] = {"decoding": "argmax", **result}  # lines from before decodings were recorded: argmax, repaired
    return finished


def add_to_log(path: Path, settings: dict, key: tuple[str, int, str], result: dict) -> None:
    """Add one finished run to the ``--log`` file, replacing the file whole (a stop never leaves half a line)."""
    from biobert_ner.files import atomic_write_text

    run, seed, run_settings = key
    record = {"run": run, "seed": seed, "run_settings": json.loads(run_settings), "settings": settings,
              "finished": now(), "load_average": load_average(), "result": result}
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic_write_text(path, before + json.dumps(record) + "\n")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def device_name() -> str:
    """The device every run trains on, as a ``--log`` keys it: a log is never resumed on another kind of machine."""
    card = gpu()
    return card["name"] if card else f"CPU: {cpu_model()}, {os.cpu_count()} cores"


def targets(runs: dict) -> dict:
    """The quality targets, once per decoding: ours against every Trainer run read the same way."""
    from biobert_ner.decoding import DECODINGS

    result: dict = {}
    for decoding in DECODINGS:
        key = f"test_f1_{decoding}"
        if key not in runs["ours"]:
            continue
        result[decoding] = {"ours_mean_test_f1_at_least_0.83": runs["ours"][key] >= 0.83}
        others = [runs[name][key] for name in runs if name != "ours" and key in runs[name]]
        if others:
            result[decoding]["ours_ahead_of_every_trainer_run"] = runs["ours"][key] > max(others)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from biobert_ner.data import load_data

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.runs.split(",")
    if unknown := [name for name in names if name not in RUNS]:
        raise SystemExit(f"unknown runs {unknown}; runs: {', '.join(RUNS)}")
    record = start_record("quality")
    with logs_to_stderr():
        dataset = load_data(args.data)
    settings = {"model": args.model, "data": args.data, "epochs": args.epochs, "batch_size": args.batch_size,
                "learning_rate": args.learning_rate,
                "train_sentences": len(dataset["train"]) if not args.max_train_sentences else args.max_train_sentences,
                "device": device_name()}  # a log is never resumed on another kind of machine
    run_settings = {"ours": recipe_of_ours(json.loads(args.ours)), "trainer_default": {}, "trainer_tuned": {}}
    runners = {
        "ours": lambda seed: run_ours(dataset, args, seed, run_settings["ours"]),
        "trainer_default": lambda seed: run_trainer_recipe(dataset, args, seed, tuned=False),
        "trainer_tuned": lambda seed: run_trainer_recipe(dataset, args, seed, tuned=True),
    }
    finished = read_log(args.log, settings)
    per_seed: dict[str, list[dict]] = {name: [] for name in names}
    seeds = [int(seed) for seed in args.seeds.split(",")]
    read_back = 0
    for seed in seeds:
        for name in names:  # runs take turns per seed: a change of machine load hits them all alike
            key = (name, seed, json.dumps(run_settings[name], sort_keys=True))
            if key in finished:
                print(f"--- {name}, seed {seed}: in {args.log} already", file=sys.stderr, flush=True)
                per_seed[name].append(finished[key])
                read_back += 1
                continue
            print(f"--- {name}, seed {seed}", file=sys.stderr, flush=True)
            with logs_to_stderr():
                per_seed[name].append(runners[name](seed))
            print(json.dumps({"run": name, "seed": seed, **per_seed[name][-1]}), file=sys.stderr, flush=True)
            if args.log is not None:
                add_to_log(args.log, settings, key, per_seed[name][-1])
    runs = {name: summarize(results) for name, results in per_seed.items()}
    report = {"settings": {**settings, "ours": json.loads(args.ours), "ours_recipe": run_settings["ours"]}, "runs": runs}
    if args.log is not None:
        report["log"] = {"file": args.log.name, "runs_read": read_back}
    if "ours" in runs:
        report["targets"] = targets(runs)
    finish(record, report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
