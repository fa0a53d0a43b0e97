"""Checkpoints: everything a training run needs to continue exactly where it stopped.

A checkpoint is the folder ``accelerator.save_state`` writes, plus the loop's own state::

    model.safetensors       the weights
    optimizer.bin           AdamW's moments and step counts
    scheduler.bin           the learning-rate schedule's position
    random_states_0.pkl     the Python, NumPy, torch and CUDA random generators
    training_state.json     epochs and steps done, best dev F1 so far, history; the run's settings

Accelerate reads the ``.bin`` and ``.pkl`` files back with ``torch.load(weights_only=True)``
(allowing only the NumPy array types of a random state): they hold tensors and plain data, never
code. Nothing is registered with ``register_for_checkpointing``, the one kind of object
Accelerate would load with ``weights_only=False``.

The folder is written atomically: ``save_state`` writes into a temporary folder that replaces the
previous checkpoint only once it is complete (``files.atomic_directory``), so a crash mid-save
leaves the previous checkpoint as it was. Only the main process writes: in a run of several
processes the others resume with freshly seeded random generators (only dropout draws from
them), so such a run continues close to, not exactly as, the one that stopped.

Exact resume also needs the batch order. The length-grouped sampler draws each epoch's batches
from its own generator, seeded with ``(seed, epoch)`` (``batching.LengthGroupedBatchSampler``):
a run resumed at epoch 3 sees the same batches as one that never stopped, with no sampler state
saved.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path

from .files import atomic_directory, atomic_write_json
from .training_config import TrainingConfig, TrainingRun, TrainingState

STATE_FILE = "training_state.json"
# Settings that may change between the run that saved a checkpoint and the one resuming it.
RESUMABLE_CHANGES = frozenset({"resume_from", "output_dir", "num_threads", "epochs", "early_stopping_patience"})


def save_checkpoint(folder: str | os.PathLike[str], accelerator, state: TrainingState, config: "TrainingConfig") -> Path:
    """The prepared model, optimizer and scheduler, the random states and the loop state, written atomically."""
    with atomic_directory(folder) as temporary:
        accelerator.save_state(temporary)
        atomic_write_json(temporary / STATE_FILE, {"state": asdict(state), "settings": config.to_dict()})
    return Path(folder)


def load_checkpoint(folder: str | os.PathLike[str], accelerator, config: "TrainingConfig") -> TrainingState:
    """Restore what :func:`save_checkpoint` wrote into the accelerator's prepared objects; return the loop state.

    Settings that would change the training (all but :data:`RESUMABLE_CHANGES`) and differ from
    the checkpoint's are named in a warning: the run continues, but it is not the run that was saved.
    """
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint (no {STATE_FILE}); checkpoints are in <output_dir>/checkpoint")
    saved = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    accelerator.load_state(folder)
    changed = {name: (value, getattr(config, name)) for name, value in saved["settings"].items()
               if name not in RESUMABLE_CHANGES and getattr(config, name, value) != value}
    if changed:
        warnings.warn(f"resuming with settings that differ from the checkpoint's (saved, now): {changed}", stacklevel=2)
    return TrainingState(**saved["state"])


def resume_run(run: "TrainingRun") -> None:
    """Continue ``run`` from ``config.resume_from``: the checkpoint's states, and the best model so far from ``model/``."""
    config = run.config
    checkpoint = run.output_dir / "checkpoint" if config.resume_from == "latest" else Path(config.resume_from)
    run.state = load_checkpoint(checkpoint, run.accelerator, config)
    if run.state.best_epoch and (run.output_dir / "model" / "model.safetensors").is_file():
        from safetensors.torch import load_file

        run.best_weights = load_file(str(run.output_dir / "model" / "model.safetensors"))  # the best epoch so far
    run.log(f"resumed from {checkpoint}: {run.state.epoch} epoch(s) done, best dev F1 {run.state.best_dev_f1:.4f} (epoch {run.state.best_epoch})")
