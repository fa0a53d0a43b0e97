"""``train`` (flags from :class:`~biobert_ner.training.TrainingConfig`) and ``evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..evaluation import EvaluationConfig
from ..training import TrainingConfig
from .core import EXIT_OK, UsageError, one_line, register
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
        "each sentence decoded as the most probable valid IOB2 sequence (--decoding viterbi) unless told otherwise, "
        "exactly as training scores its validation and test splits (biobert_ner.evaluation). Without --max-length, "
        "sentences are cut as the training run cut them (the model folder's ner_settings.json, else 128)."
    )


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..evaluation import evaluate_tags, gold_word_tags, predict_word_tags
    from ..files import atomic_write_json
    from ..inference import autocast_context
    from ..modelling import load_model_and_tokenizer

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    config = make_settings(EvaluationConfig, typed_settings(args, EvaluationConfig))
    if config.max_length is None:  # score as training scored: the sentence length the model was trained with
        config = config.with_training_max_length(args.model_dir)
        print(f"max_length: {config.max_length} (the training run's)", file=sys.stderr)
    model, tokenizer = load_model_and_tokenizer(str(args.model_dir), device=args.device)
    split = load_split(args.data, args.split)
    warn_about_unknown_tags(model, gold_word_tags(split))
    with autocast_context(next(model.parameters()).device, config.precision):
        predicted = predict_word_tags(
            model, tokenizer, split, batch_size=config.batch_size, max_length=config.max_length, decoding=config.decoding
        )
    report = evaluate_tags(gold_word_tags(split), predicted)
    print(f"{args.split}: {len(split)} sentences, {report.gold_entities} gold entities, {report.predicted_entities} predicted")
    print(report)
    output = Path(args.output) if args.output else args.model_dir.resolve().parent / f"evaluation-{args.split}.json"
    atomic_write_json(
        output,
        {"model_dir": str(args.model_dir), "data": str(args.data), "split": args.split, "max_length": config.max_length,
         "precision": config.precision, "decoding": config.decoding, **report.to_dict()},
    )
    print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def load_split(data: str, split: str):
    """One split of ``--data``; a split the data lacks is a usage error naming the ones it has."""
    from ..data import load_data

    dataset = load_data(data)
    if split not in dataset:
        raise UsageError(f"--split {split}: the data has the splits {', '.join(dataset)}")
    return dataset[split]


def warn_about_unknown_tags(model, gold_tags) -> None:
    """Gold tags the model cannot predict are scored anyway (as missed entities), but the mismatch is worth a word."""
    model_labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    unknown = sorted({tag for tags in gold_tags for tag in tags} - set(model_labels))
    if unknown:
        print(f"warning: the model never predicts {', '.join(unknown)} (its labels: {', '.join(model_labels)})", file=sys.stderr)


register("train", "fine-tune a model for NER", add_train, run_train,
         "Fine-tune a BERT model (BioBERT, MiniLM, a local folder) on an NER corpus.", settings=(TrainingConfig,))
register("evaluate", "entity-level precision, recall and F1 of a fine-tuned model", add_evaluate, run_evaluate,
         "Tag every sentence of a split, print per-type precision/recall/F1 and write them as JSON.", settings=(EvaluationConfig,))
