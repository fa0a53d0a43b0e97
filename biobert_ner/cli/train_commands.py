"""``train`` (flags from :class:`~biobert_ner.training.TrainingConfig`) and ``evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..evaluation import EvaluationConfig
from ..training import TrainingConfig
from .core import EXIT_OK, register
from .errors import UsageError, one_line
from .flags import add_device_flags, add_model_dir, make_settings, setting_names, settings_from_args, typed_settings


def add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.json", help="settings as a JSON object (e.g. a run's settings.json); flags override it")
    parser.epilog = (
        "--data is 'bundled' (the corpus that ships with the course), a corpus name ('biobert-ner data list': "
        "ncbi-disease, bc5cdr, bc2gm, ...), a folder of train/devel/test TSV files, or a Hugging Face data set id. The output folder gets model/ (weights, tokenizer, labels in config.json), "
        "metrics.json, metrics.jsonl, settings.json and curves.png."
    )


def run_train(args: argparse.Namespace) -> int:
    from ..training import train

    settings = settings_from_args(args, setting_names(TrainingConfig))
    try:
        config = TrainingConfig.from_dict(settings)
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None
    result = train(config)
    print(json.dumps(training_summary(result), indent=2, default=str))
    return EXIT_OK


def training_summary(result) -> dict[str, Any]:
    """The headline numbers of a :class:`biobert_ner.training.TrainingResult` (the files hold the rest)."""
    keys = ("output_dir", "best_epoch", "best_dev_f1", "test_f1", "stopped_early", "train_seconds", "sentences_per_second")
    return {key: getattr(result, key) for key in keys if hasattr(result, key)}


def add_evaluate(parser: argparse.ArgumentParser) -> None:
    add_model_dir(parser, required=True)
    parser.add_argument("--data", default="bundled", help="'bundled', a corpus name ('biobert-ner data list'), "
                        "a folder of train/devel/test TSV files, or a hub data set id")
    parser.add_argument("--split", default="test", help="which split to evaluate (train, validation, test)")
    parser.add_argument("--output", metavar="FILE.json", default=None,
                        help="where to write the report (default: evaluation-SPLIT.json next to the model folder)")
    add_device_flags(parser)
    parser.epilog = (
        "Scores are entity-level (seqeval, strict IOB2) over words, one tag per word from its first sub-word, "
        "exactly as training scores its validation and test splits (biobert_ner.evaluation). Sentence length, "
        "precision and decoding are the training run's (the model folder's ner_settings.json); a flag that "
        "differs is printed as an override."
    )


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..evaluation import evaluate_model
    from ..files import atomic_write_json

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    config = make_settings(EvaluationConfig, typed_settings(args, EvaluationConfig))
    split = load_split(args.data, args.split)
    evaluation = evaluate_model(args.model_dir, split, config, device=args.device)
    settings = evaluation.config
    print(f"settings: max_length={settings.max_length} precision={settings.precision.value} decoding={settings.decoding.value}",
          file=sys.stderr)
    if evaluation.unknown_tags:
        print(f"warning: the model never predicts {', '.join(evaluation.unknown_tags)}; "
              "their gold entities count as missed", file=sys.stderr)
    report = evaluation.report
    print(f"{args.split}: {evaluation.sentences} sentences, {report.gold_entities} gold entities, {report.predicted_entities} predicted")
    print(report)
    output = Path(args.output) if args.output else args.model_dir.resolve().parent / f"evaluation-{args.split}.json"
    atomic_write_json(output, {"model_dir": str(args.model_dir), "data": str(args.data), "split": args.split, **evaluation.to_dict()})
    print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def load_split(data: str, split: str):
    """One split of ``--data``; a split the data lacks is a usage error naming the ones it has."""
    from ..data import load_data

    dataset = load_data(data)
    if split not in dataset:
        raise UsageError(f"--split {split}: the data has the splits {', '.join(dataset)}")
    return dataset[split]


register("train", "fine-tune a model for NER", add_train, run_train,
         "Fine-tune a BERT model (BioBERT, MiniLM, a local folder) on an NER corpus.", settings=(TrainingConfig,))
register("evaluate", "entity-level precision, recall and F1 of a fine-tuned model", add_evaluate, run_evaluate,
         "Tag every sentence of a split, print per-type precision/recall/F1 and write them as JSON.", settings=(EvaluationConfig,))
