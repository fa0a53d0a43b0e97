"""Checkpoints: everything a training run needs to continue exactly where it stopped.

A checkpoint is a folder with ``model.safetensors`` (the weights) and ``training_state.pt``
(optimizer moments, scheduler position, the random number generators' states and the loop's
own state). It is written atomically (a crash mid-save leaves the previous one as it was) and
read with ``torch.load(weights_only=True)``: it can hold tensors and plain data, never code.
"""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .files import atomic_directory

if TYPE_CHECKING:
    from .training import TrainingConfig


@dataclass
class TrainingState:
    """What the loop has to remember between epochs (and across a resume)."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer updates done
    best_dev_f1: float = -1.0  # -1: even an F1 of 0 after the first epoch is "the best so far"
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)  # one record per finished epoch
    best_dev_report: dict | None = None


def rng_states() -> dict:
    """Python, NumPy, torch and CUDA random states, as plain lists and tensors (``weights_only`` loadable)."""
    version, internal, gauss = random.getstate()
    _, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(
        ("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached"])
    )
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(folder: str | os.PathLike[str], model, optimizer, scheduler, state: TrainingState, config: "TrainingConfig") -> Path:
    """Everything needed to continue exactly where the run stopped, written atomically.

    ``model.safetensors`` holds the weights; ``training_state.pt`` holds optimizer moments,
    scheduler position, RNG states and the loop state. A crash mid-save leaves the previous
    checkpoint as it was (``files.atomic_directory``).
    """
    from safetensors.torch import save_model as save_weights

    with atomic_directory(folder) as temporary:
        save_weights(model, str(temporary / "model.safetensors"))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_states(),
                "state": asdict(state),
                "settings": config.to_dict(),
            },
            temporary / "training_state.pt",
        )
    return Path(folder)


def load_checkpoint(folder: str | os.PathLike[str], model, optimizer, scheduler, config: "TrainingConfig") -> TrainingState:
    """Restore weights, optimizer, scheduler and RNG states from :func:`save_checkpoint`; return the loop state.

    Loaded with ``weights_only=True``: a checkpoint can only hold tensors and plain data, never code.
    """
    from safetensors.torch import load_model as load_weights

    folder = Path(folder)
    if not (folder / "training_state.pt").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint (no training_state.pt); checkpoints are in <output_dir>/checkpoint")
    saved = torch.load(folder / "training_state.pt", weights_only=True, map_location="cpu")
    load_weights(model, str(folder / "model.safetensors"))  # read on the CPU, copied onto the model's device
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_states(saved["rng"])
    ignored = {"resume_from", "output_dir", "num_threads", "epochs", "early_stopping_patience"}
    changed = {k: (v, getattr(config, k)) for k, v in saved["settings"].items() if k not in ignored and getattr(config, k, v) != v}
    if changed:
        warnings.warn(f"resuming with settings that differ from the checkpoint's (saved, now): {changed}", stacklevel=2)
    return TrainingState(**saved["state"])
