"""Precision and optimization: what a run computes in, and how its weights are updated.

* **precision**: fp32, or bf16/fp16 autocast where the hardware is fast at it
  (:func:`resolve_precision`), handed to Accelerate (:func:`make_accelerator`);
* **optimizer**: AdamW without decay on biases and LayerNorm (:func:`parameter_groups`), the
  lower encoder layers optionally at lower rates and the new classifier head at a higher one
  (:func:`learning_rate_scales`), fused into one kernel pass (:func:`make_optimizer`);
* **schedule**: linear warm-up, then linear decay to 0 (:func:`make_schedule`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .training_config import TrainingConfig


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX): bf16 matmuls are then ~4x faster.

    Without them torch still computes in bf16, but by emulation, slower than fp32.
    """
    # torch's own CPU feature probe is private (torch._C._cpu): torch has no public API that names
    # bf16 instructions (torch.backends.cpu.get_cpu_capability() says only "AVX512"), so it is
    # guarded and falls back to the kernel's list of CPU flags.
    try:
        capabilities = torch._C._cpu._get_cpu_capability()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    except Exception:  # noqa: BLE001 - fall back to the kernel's view of the CPU
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


NATIVE_BF16_CAPABILITY = (8, 0)  # Ampere (A100) and newer compute in bf16 natively; Turing (T4), Volta (V100) do not


def has_native_bf16(device: torch.device) -> bool:
    """True where bf16 runs on the hardware itself: a GPU of compute capability 8.0 or newer, a CPU with bf16 units.

    Not ``torch.cuda.is_bf16_supported()``: by default it also counts emulation as support, and
    emulated bf16 on a T4 or V100 (the GPUs of free Colab and Kaggle) is slower than fp16 there.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= NATIVE_BF16_CAPABILITY
    return device.type == "cpu" and cpu_has_fast_bf16()


def resolve_precision(precision: str, device: torch.device) -> str:
    """``TrainingConfig.precision`` -> Accelerate's ``mixed_precision`` ("no", "bf16" or "fp16") on ``device``.

    ``auto``: bf16 where the hardware has it natively (:func:`has_native_bf16`); else fp16 with loss
    scaling on a GPU, fp32 on a CPU.
    """
    if precision == "auto":
        if has_native_bf16(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "no"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA GPU; on this device use 'bf16' or 'fp32'")
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices only.

    Decay pulls weights towards 0. For biases and LayerNorm gains/shifts (the 1-D tensors)
    that is no regularisation, only a bias towards a wrong value, so BERT never decayed them.
    """
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


_LAYER_IN_NAME = re.compile(r"\.layer\.(\d+)\.")  # "...encoder.layer.3.attention..." -> 3


def layer_depths(model: torch.nn.Module) -> dict[str, int]:
    """Each parameter's depth in a BERT-like model: 0 the embeddings, 1..L the encoder layers, L+1 the rest.

    "The rest" is what sits above the last encoder layer: the classifier head (and a pooler, if any).
    The layer of a parameter is read from its name (``...encoder.layer.3.attention...``), the
    naming every BERT-family model in transformers shares.
    """
    top = model.config.num_hidden_layers + 1
    depths = {}
    for name, _ in model.named_parameters():
        layer = _LAYER_IN_NAME.search(name)
        if layer:
            depths[name] = int(layer.group(1)) + 1
        elif ".embeddings." in f".{name}":
            depths[name] = 0
        else:
            depths[name] = top
    return depths


def learning_rate_scales(model: torch.nn.Module, config: "TrainingConfig") -> dict[str, float]:
    """Each parameter's learning rate as a multiple of ``learning_rate``.

    * ``layer_lr_decay`` (layer-wise learning-rate decay, as in ELECTRA and ULMFiT's discriminative
      fine-tuning): the top encoder layer learns at the full rate and each layer below at
      ``layer_lr_decay`` times the rate of the layer above it. Low layers hold general features
      of language that the task needs unchanged; top layers must change most.
    * ``classifier_lr_scale``: the classifier head starts random, and with a few hundred updates
      in all it may need bigger steps to catch up.
    """
    head = {id(parameter) for parameter in model.classifier.parameters()}
    top = model.config.num_hidden_layers + 1
    depths = layer_depths(model)
    scales = {}
    for name, parameter in model.named_parameters():
        scale = config.layer_lr_decay ** (top - 1 - depths[name]) if depths[name] < top else 1.0
        scales[name] = scale * (config.classifier_lr_scale if id(parameter) in head else 1.0)
    return scales


def optimizer_groups(model: torch.nn.Module, config: "TrainingConfig") -> list[dict]:
    """:func:`parameter_groups`, split by learning rate (:func:`learning_rate_scales`): one group per (decay, rate)."""
    scales = learning_rate_scales(model, config)
    scale_of = {id(parameter): scales[name] for name, parameter in model.named_parameters()}
    groups = []
    for group in parameter_groups(model, config.weight_decay):
        by_scale: dict[float, list] = {}
        for parameter in group["params"]:
            by_scale.setdefault(scale_of[id(parameter)], []).append(parameter)
        for scale, parameters in sorted(by_scale.items(), reverse=True):
            groups.append({**group, "params": parameters, "lr": config.learning_rate * scale})
    return groups


def make_accelerator(config: "TrainingConfig"):
    """An ``accelerate.Accelerator`` for this run's precision and gradient accumulation."""
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import parse_flag_from_env

    # Accelerate keeps its settings in process-wide singletons and refuses a second
    # Accelerator with other settings (a notebook training in fp32 and then in bf16).
    # Forget the previous run's settings; the process group of a launched run is kept.
    # ``_reset_state`` is private, but it is what Accelerate's own tests use between runs, and
    # no public call resets the singletons (``Accelerator.free_memory`` keeps the settings).
    AcceleratorState._reset_state()
    GradientState._reset_state()
    # The device decides the precision, so ask for it before the Accelerator exists, reading
    # ACCELERATE_USE_CPU as Accelerate does (set it for several CPU processes under torchrun).
    device = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device
    mixed_precision = resolve_precision(config.precision, device)
    # The loop steps the scheduler once per update itself (eager loop: only when gradients are synced;
    # graphed loop: every step), and counts updates per process: Accelerate must not step it again.
    return Accelerator(
        mixed_precision=mixed_precision, gradient_accumulation_steps=config.gradient_accumulation_steps,
        step_scheduler_with_optimizer=False,
    )


def make_optimizer(model, config: "TrainingConfig", device: torch.device, graphs: bool):
    """Fused AdamW (one kernel pass over all parameters instead of a dozen per tensor).

    For CUDA graphs the learning rate is a GPU tensor (the scheduler writes into it between
    replays) and the optimizer ``capturable``; the scheduler still reads a plain float base rate.
    """
    fused = device.type in ("cpu", "cuda")
    groups = optimizer_groups(model, config)
    if not graphs:
        return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)
    for group in groups:
        group["initial_lr"] = group["lr"]  # a float: the scheduler then never reads the GPU
        group["lr"] = torch.tensor(group["lr"], device=device)
    return torch.optim.AdamW(groups, lr=torch.tensor(config.learning_rate, device=device), fused=True, capturable=True)


def describe_device(config: "TrainingConfig", accelerator, mixed_precision: str, threads: int) -> str:
    """Device, processes, precision (and why) and CPU threads, as printed at the start of a run."""
    precision = {"no": "fp32", "bf16": "bf16 autocast (fp32 weights)", "fp16": "fp16 autocast + loss scaling"}[mixed_precision]
    why = ""
    if config.precision == "auto":
        why = " (auto: " + ("the hardware has native bf16" if mixed_precision == "bf16" else "no native bf16 here") + ")"
    return (
        f"device: {accelerator.device} x {accelerator.num_processes} process(es) | precision: {precision}{why}"
        + (f" | CPU threads: {threads}" if accelerator.device.type == "cpu" else "")
    )


@dataclass
class Schedule:
    """The learning-rate schedule of a run and the update counts it was built from."""

    scheduler: object  # Accelerate's wrapper of transformers' linear warm-up and decay
    updates_per_epoch: int
    total_updates: int
    warmup_updates: int


def make_schedule(optimizer, config: "TrainingConfig", batches_per_epoch: int, accelerator) -> Schedule:
    """Linear warm-up over ``warmup_ratio`` of all updates, then linear decay to 0.

    ``batches_per_epoch`` is counted after ``accelerator.prepare``: each of N processes sees
    1/N of the batches, and the schedule counts the updates of one process. The scheduler is
    prepared too: ``accelerator.save_state``/``load_state`` then keep its position in checkpoints.
    """
    from transformers import get_linear_schedule_with_warmup

    updates_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation_steps)
    total_updates = config.epochs * updates_per_epoch
    warmup_updates = round(config.warmup_ratio * total_updates)
    scheduler = accelerator.prepare(get_linear_schedule_with_warmup(optimizer, warmup_updates, total_updates))
    return Schedule(scheduler, updates_per_epoch, total_updates, warmup_updates)
