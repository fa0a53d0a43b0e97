"""What a training run writes into ``output_dir``, after each epoch and at the end.

After each epoch (main process only): a line in ``metrics.jsonl``, ``curves.png``, the best
model so far in ``model/`` and a resumable ``checkpoint/`` (:mod:`biobert_ner.checkpoints`).
At the end: the best model in ``model/`` with its model card and inference settings, and
``metrics.json`` with the dev and test scores of that model. Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoints import save_checkpoint
from .files import atomic_write_json

if TYPE_CHECKING:
    from .training_config import TrainingRun


@dataclass
class TrainingResult:
    """What :func:`biobert_ner.training.train` returns: the scores, the best model, and how fast it trained."""

    history: list[dict]  # one record per epoch (metrics.jsonl)
    best_dev_f1: float
    best_epoch: int  # 1-based
    output_dir: Path
    sentences_per_second: float  # training only (no evaluation), all processes together
    padding_fraction: float  # share of pad tokens in the training batches of the first epoch
    train_seconds: float  # time in the training loop proper (no evaluation, no saving)
    dev_report: dict | None  # evaluation.EvaluationReport.to_dict() of the best epoch
    test_report: dict | None  # the best model on the test split (None without one)
    stopped_early: bool
    precision: str  # what the run computed in: "fp32", "bf16" or "fp16" (autocast; weights stay fp32)
    model: Any = field(default=None, repr=False)  # the best model (weights of best_epoch), unwrapped
    tokenizer: Any = field(default=None, repr=False)
    cuda_graphs: bool = False  # whether the steps were replayed from CUDA graphs

    @property
    def test_f1(self) -> float | None:
        return None if self.test_report is None else self.test_report["entity_f1"]


def save_figure(figure, path: Path) -> None:
    """``savefig`` to a temporary name, then rename: a half-written PNG never replaces a good one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=100)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_epoch_outputs(run: TrainingRun, record: dict) -> None:
    """The epoch's line in ``metrics.jsonl``, the curves, the best model so far and a resumable checkpoint."""
    from .plotting import plot_training_curves

    if run.is_main:
        with open(run.output_dir / "metrics.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        save_figure(plot_training_curves(run.state.history, best_epoch=run.state.best_epoch), run.output_dir / "curves.png")
        if run.config.checkpoint_every_epoch:
            if run.state.best_epoch == record["epoch"]:  # a resumed run needs the best model so far on disk too
                save_best_model(run)
            save_checkpoint(run.output_dir / "checkpoint", run.accelerator, run.state, run.config)
    run.accelerator.wait_for_everyone()  # nobody runs ahead while the main process writes


def save_best_model(run: TrainingRun) -> None:
    """``output_dir/model``: the best epoch's weights (from memory) with the tokenizer."""
    from .modelling import save_model

    model = run.accelerator.unwrap_model(run.model)
    current = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    model.load_state_dict(run.best_weights)
    save_model(model, run.tokenizer, run.output_dir / "model")
    model.load_state_dict(current)


def _model_folder_files(run: TrainingRun, result: TrainingResult) -> dict[str, str]:
    """The model card and the settings inference needs (:mod:`biobert_ner.model_card`)."""
    from .data import label_names
    from .model_card import CARD_FILE, NER_SETTINGS_FILE, model_card, ner_settings

    from .baselines import baseline_scores

    card = model_card(run.config, labels=label_names(run.dataset), dev=result.dev_report, test=result.test_report,
                      best_epoch=result.best_epoch, precision=result.precision,
                      baselines=baseline_scores(run.dataset, run.config.max_train_sentences))
    settings = ner_settings(run.config, result.precision).to_dict()
    return {CARD_FILE: card, NER_SETTINGS_FILE: json.dumps(settings, indent=2) + "\n"}


def _metrics_summary(run: TrainingRun, result: TrainingResult) -> dict:
    return {
        "model": run.config.model,
        "best_epoch": result.best_epoch,
        "epochs_run": run.state.epoch,
        "stopped_early": result.stopped_early,
        "dev": result.dev_report,
        "test": result.test_report,
        "precision": result.precision,
        "cuda_graphs": result.cuda_graphs,
        "processes": run.accelerator.num_processes,
        "sentences_per_second": result.sentences_per_second,
        "train_seconds": result.train_seconds,
        "padding_fraction": result.padding_fraction,
    }


def write_final_outputs(run: TrainingRun, result: TrainingResult) -> None:
    """``model/`` (the best epoch's weights, already in ``result.model``) with its card, and ``metrics.json``."""
    from .modelling import save_model

    save_model(result.model, run.tokenizer, run.output_dir / "model", extra_files=_model_folder_files(run, result))
    atomic_write_json(run.output_dir / "metrics.json", _metrics_summary(run, result))
