"""Training speed: this library's loop against Hugging Face's Trainer, in one process, on one machine.

    python -m benchmarks.bench_training --threads 2  # NCBI-disease, 3 epochs, all five runs, seed 42 (~1 hour on 2 idle CPU cores)
    python -m benchmarks.bench_training --runs ours,trainer_tuned   # the comparison that matters most (~12 minutes)
    python -m benchmarks.bench_training --quick      # the course corpus, 1 epoch on 160 sentences: a smoke test
    python -m benchmarks.bench_training --data bundled --epochs 10 --seeds 42,43,44   # the earlier course-corpus setting

Runs, all on the offline all-MiniLM-L6-v2 (``--model``), the real NCBI-disease corpus (``--data``;
train split, dev F1 on validation), the same batch size (32), learning rate (1e-4), epochs (3) and
CPU threads; every other setting at each library's defaults:

* ``ours``: :func:`biobert_ner.training.train` at its defaults (length-grouped batches, bf16
  autocast where the hardware is fast at it, fused AdamW);
* ``ours_fp32``: the same in fp32, to show that bf16 keeps the F1;
* ``ours_trainer_recipe``: ours with the Trainer's defaults where they differ from ours (no
  warm-up, no weight decay), to tell the recipe's effect on F1 from the loop's;
* ``trainer_default``: the ``Trainer`` recipe of transformers' token-classification example
  (first-sub-word labels, ``DataCollatorForTokenClassification``), Trainer defaults otherwise;
* ``trainer_tuned``: the same with ``train_sampling_strategy="group_by_length"`` and ``bf16=True``.

Sentences/s counts training time only (no evaluation, no saving). Dev and test F1 are scored the
same way for every run (``evaluation.predict_word_tags`` + ``evaluate_tags``) on the model at the
end of training, under both decodings (``dev_f1_viterbi``, ``dev_f1_argmax``, ...); ours also
reports its best epoch. Every F1 comparison and target is computed on one decoding, once per
decoding, never across two. Prints one JSON document and writes it to
``benchmarks/results/training.json`` (``--output``; none with ``--quick``), with the commit and
the machine (:mod:`benchmarks.common`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings every run of a benchmark shares, read alike by this benchmark and bench_quality."""
    parser.add_argument("--model", default="minilm", help="model of every run (default: the offline MiniLM)")
    # MiniLM needs a higher rate than BioBERT's 5e-5 to learn 361 sentences (at 5e-5 x 3 epochs =
    # 36 updates, no run finds any entity: F1 0 says nothing). 10 epochs of 12 updates at 1e-4
    # bring every run close to its plateau; with 5 epochs at 3e-4 (60 updates) the order of the
    # batches alone moved dev F1 by 3-5 points, which drowns what is compared.
    parser.add_argument("--data", default="ncbi-disease", help="corpus of every run (biobert-ner data list)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for every run (default: one per core)")
    parser.add_argument("--max-train-sentences", type=int, default=None, help="the first N training sentences only (a smoke test)")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="the course corpus, 1 epoch on the first 160 training sentences")
    parser.add_argument(
        "--seeds", default="42", help="comma-separated seeds; each run is repeated per seed and averaged "
        "(80 dev sentences: one entity is ~0.4 F1 points, and the batch order alone moves F1 by points)",
    )
    parser.add_argument(
        "--runs", default="ours,ours_fp32,ours_trainer_recipe,trainer_default,trainer_tuned", help="comma-separated subset of the runs"
    )
    add_output_argument(parser, result_path("training"))
    args = parser.parse_args(argv)
    if args.quick:  # checks that the script runs, not the numbers: one seed is enough, and nothing is kept
        args.epochs, args.max_train_sentences, args.data = 1, args.max_train_sentences or 160, "bundled"
        args.seeds = args.seeds.split(",")[0]
        if "--output" not in (argv if argv is not None else sys.argv):
            args.output = None
    return args


def split_f1(model, tokenizer, dataset, split: str = "validation", decoding: str = "viterbi") -> float:
    """Entity F1 (seqeval, strict IOB2) of ``model`` on one split, scored the same way for every run."""
    from biobert_ner.evaluation import evaluate_tags, gold_word_tags, predict_word_tags

    predicted = predict_word_tags(model, tokenizer, dataset[split], batch_size=64, max_length=128, decoding=decoding)
    return evaluate_tags(gold_word_tags(dataset[split]), predicted).entity_f1


# How a user of the Trainer recipe reads entities: transformers' token-classification pipeline
# (aggregation_strategy="first") takes each word's best label, which gives the same entities as this
# library's "argmax" decoding (tests/test_inference.py checks it). train()'s users get its config.decoding.
TRAINER_DECODING = "argmax"


def scores_by_decoding(model, tokenizer, dataset, own_decoding: str) -> dict:
    """Dev and test F1 under every decoding (``test_f1_viterbi``, ``test_f1_argmax``, ...), and under the
    run's own as ``dev_f1``/``test_f1``: the entities that recipe's users get. A dataset without a
    test split (the GPU benchmark's synthetic one) gets dev F1 only."""
    from biobert_ner.decoding import DECODINGS

    scores: dict = {"decoding": own_decoding}
    for prefix, split in (("dev", "validation"), ("test", "test")):
        if split not in dataset:
            continue
        for decoding in DECODINGS:
            scores[f"{prefix}_f1_{decoding}"] = split_f1(model, tokenizer, dataset, split, decoding)
        scores[f"{prefix}_f1"] = scores[f"{prefix}_f1_{own_decoding}"]
    return scores


def trainer_uses_bf16() -> bool:
    """The tuned Trainer's bf16, where the hardware computes it natively: a CUDA GPU of compute capability
    8.0 or newer, or a CPU with AVX512-BF16/AMX (the rule ``train()``'s ``precision="auto"`` follows).
    Without bf16 units torch emulates it: on a 2-core AVX-512 EPYC without them one MiniLM step
    (32 x 40 tokens) took 19.9 s in bf16 autocast vs 1.2 s in fp32, so "tuned" there means
    ``group_by_length`` alone."""
    import torch

    from biobert_ner.optimization import has_native_bf16

    return has_native_bf16(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def run_ours(dataset, args, precision: str, seed: int, **recipe) -> dict:
    from biobert_ner.training import TrainingConfig, train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        config = TrainingConfig(
            model=args.model,
            output_dir=folder,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            precision=precision,
            num_threads=args.threads,
            max_train_sentences=args.max_train_sentences,
            seed=seed,
            **recipe,
        )
        result = train(config, dataset=dataset)
        wall = time.perf_counter() - started
        # Score the model at the end of training (the last checkpoint), in fp32: exactly as the Trainer runs.
        from safetensors.torch import load_model

        load_model(result.model, str(Path(folder) / "checkpoint" / "model.safetensors"))
        scores = scores_by_decoding(result.model.float().eval(), result.tokenizer, dataset, config.decoding)
    return {
        "sentences_per_second": result.sentences_per_second,
        "train_seconds": result.train_seconds,
        "wall_seconds": wall,
        **scores,
        "dev_f1_during_training": result.history[-1]["dev_f1"],  # the same model, scored under the run's autocast
        "dev_f1_best_epoch": result.best_dev_f1,
        "padding_fraction": result.padding_fraction,
        "precision": result.precision,
    }


def run_trainer(dataset, args, tuned: bool, seed: int, make_model=None) -> dict:
    """The Trainer recipe of transformers' examples/pytorch/token-classification/run_ner.py.

    ``make_model``: a function returning ``(model, tokenizer)``, instead of loading ``args.model``.
    """
    import torch
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments, set_seed

    from biobert_ner.alignment import encode_dataset
    from biobert_ner.data import label_names
    from biobert_ner.modelling import load_model_and_tokenizer

    started = time.perf_counter()
    set_seed(seed)
    if make_model is None:
        model, tokenizer = load_model_and_tokenizer(args.model, label_names(dataset), device="cpu", verbose=False)
    else:
        model, tokenizer = make_model()
    train_split = dataset["train"]
    if getattr(args, "max_train_sentences", None):
        train_split = train_split.select(range(min(args.max_train_sentences, len(train_split))))
    encoded = encode_dataset(train_split, tokenizer, max_length=128, strategy="first")  # first sub-word labelled, like label_all_tokens=False
    with tempfile.TemporaryDirectory() as folder:
        training_args = TrainingArguments(
            output_dir=folder,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            num_train_epochs=args.epochs,
            seed=seed,
            report_to="none",
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=not torch.cuda.is_available(),  # needed for bf16 on a CPU; the device is the CPU anyway
            **({"train_sampling_strategy": "group_by_length", "bf16": trainer_uses_bf16()} if tuned else {}),
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=encoded,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
        )
        with logs_to_stderr():  # the Trainer prints its loss dicts to stdout
            output = trainer.train()
    runtime = output.metrics["train_runtime"]
    model = trainer.model.float().eval()
    return {
        "sentences_per_second": len(encoded) * args.epochs / runtime,
        "train_seconds": runtime,
        "wall_seconds": time.perf_counter() - started,
        **scores_by_decoding(model, tokenizer, dataset, TRAINER_DECODING),
        "precision": "bf16" if training_args.bf16 else "fp32",
        "group_by_length": tuned,
        "optimizer": training_args.optim if isinstance(training_args.optim, str) else training_args.optim.value,
        "torch_threads": torch.get_num_threads(),
    }


def average(per_seed: list[dict]) -> dict:
    """F1 and other numbers: means over seeds. Speed: the best seed's, as ``timeit`` does (the fastest
    run is the one other jobs on the machine disturbed least). Per-seed F1 and speed are kept."""
    result = dict(per_seed[0])
    for key, value in per_seed[0].items():
        if isinstance(value, float):  # measurements; ints (thread counts) and strings are settings
            result[key] = sum(run[key] for run in per_seed) / len(per_seed)
    fastest = max(per_seed, key=lambda run: run["sentences_per_second"])
    for key in ("sentences_per_second", "train_seconds", "wall_seconds"):
        if key in fastest:
            result[key] = fastest[key]
    if len(per_seed) > 1:
        result["dev_f1_per_seed"] = [run["dev_f1"] for run in per_seed]
        result["sentences_per_second_per_seed"] = [run["sentences_per_second"] for run in per_seed]
    return result


def speed_comparisons(runs: dict) -> dict:
    """Speed ratios between runs (decoding plays no part in them)."""
    def ratio(a, b):
        return runs[a]["sentences_per_second"] / runs[b]["sentences_per_second"] if a in runs and b in runs else None

    return {
        "speed_ours_vs_trainer_default": ratio("ours", "trainer_default"),
        "speed_ours_vs_trainer_tuned": ratio("ours", "trainer_tuned"),
        "speed_ours_vs_ours_fp32": ratio("ours", "ours_fp32"),
    }


def f1_comparisons(runs: dict, decoding: str) -> dict:
    """F1 differences in points between runs, every F1 read with the same ``decoding``."""
    def points(a, b, split="dev"):
        key = f"{split}_f1_{decoding}"
        return 100 * (runs[a][key] - runs[b][key]) if a in runs and b in runs else None

    return {
        "dev_f1_points_ours_minus_trainer_default": points("ours", "trainer_default"),
        "dev_f1_points_ours_minus_trainer_tuned": points("ours", "trainer_tuned"),
        "test_f1_points_ours_minus_trainer_default": points("ours", "trainer_default", "test"),
        "dev_f1_points_bf16_minus_fp32": points("ours", "ours_fp32"),
        "dev_f1_points_ours_trainer_recipe_minus_trainer_default": points("ours_trainer_recipe", "trainer_default"),
    }


def targets(comparisons: dict) -> dict:
    """The speed targets, and the F1 targets once per decoding (``comparisons["f1_points"][decoding]``)."""
    result = {
        "ours_at_least_3x_trainer_default": comparisons["speed_ours_vs_trainer_default"] >= 3,
        "ours_at_least_1.5x_trainer_tuned": comparisons["speed_ours_vs_trainer_tuned"] >= 1.5,
    }
    for decoding, points in comparisons["f1_points"].items():
        result[decoding] = {
            "dev_f1_within_half_a_point_of_trainer_default": points["dev_f1_points_ours_minus_trainer_default"] >= -0.5,
            "ours_test_f1_at_least_trainer_default": points["test_f1_points_ours_minus_trainer_default"] >= 0,
        }
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    record = start_record("training")
    import torch

    from biobert_ner.data import load_data
    from biobert_ner.decoding import DECODINGS
    from biobert_ner.optimization import cpu_has_fast_bf16

    if args.threads:
        torch.set_num_threads(args.threads)
    # Import everything every run needs first, so that the first run's wall time is not charged for it.
    import matplotlib.figure  # noqa: F401
    import seqeval.metrics  # noqa: F401
    from transformers import BertForTokenClassification, Trainer  # noqa: F401

    with logs_to_stderr():
        dataset = load_data(args.data)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    runners = {
        "ours": lambda seed: run_ours(dataset, args, "auto", seed),
        "ours_fp32": lambda seed: run_ours(dataset, args, "fp32", seed),
        # Trainer's defaults for the two settings where ours differ (no warm-up, no weight decay):
        # separates what the recipe does to F1 from what the loop does.
        "ours_trainer_recipe": lambda seed: run_ours(dataset, args, "auto", seed, warmup_ratio=0.0, weight_decay=0.0),
        "trainer_default": lambda seed: run_trainer(dataset, args, tuned=False, seed=seed),
        "trainer_tuned": lambda seed: run_trainer(dataset, args, tuned=True, seed=seed),
    }
    names = args.runs.split(",")
    unknown = [name for name in names if name not in runners]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; runs: {', '.join(runners)}")
    per_seed: dict[str, list[dict]] = {name: [] for name in names}
    for seed in seeds:  # the runs take turns, so a change in machine load hits them all alike
        for name in names:
            print(f"--- {name}, seed {seed}", file=sys.stderr, flush=True)
            with logs_to_stderr():  # training logs to stderr: stdout is the JSON only
                per_seed[name].append(runners[name](seed))
            print(json.dumps({"run": name, "seed": seed, **per_seed[name][-1]}), file=sys.stderr, flush=True)
    runs = {name: average(results) for name, results in per_seed.items()}
    comparisons = {**speed_comparisons(runs), "f1_points": {decoding: f1_comparisons(runs, decoding) for decoding in DECODINGS}}
    report = {
        "machine": {"torch_threads": torch.get_num_threads(), "fast_bf16": cpu_has_fast_bf16()},
        "settings": {
            "model": args.model,
            "data": args.data,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "seeds": seeds,
            "train_sentences": min(len(dataset["train"]), args.max_train_sentences or len(dataset["train"])),
            "dev_sentences": len(dataset["validation"]),
        },
        "runs": runs,
        "comparisons": comparisons,
    }
    if all(name in runs for name in ("ours", "trainer_default", "trainer_tuned")):
        report["targets"] = targets(comparisons)
    finish(record, report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
