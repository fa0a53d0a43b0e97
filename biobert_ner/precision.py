"""The number format a forward pass computes in: one vocabulary for training, evaluation and inference.

Weights always stay float32; ``bf16``/``fp16`` mean *autocast* (matrix products in the
narrower format). Training may ask for ``auto`` (bf16 where the hardware is fast at it, see
:func:`biobert_ner.optimization.resolve_precision`); what a run actually computed in is one
of the resolved formats, and that is what a model folder records (``ner_settings.json``), so
``evaluate`` and ``predict`` compute as training scored.
"""

from __future__ import annotations

import contextlib
import enum

import torch


class Precision(str, enum.Enum):
    """The number format of a forward pass; results are always returned as float32."""

    AUTO = "auto"  # training only: bf16 where the hardware is fast at it, else fp32
    FP32 = "fp32"  # the reference
    BF16 = "bf16"  # bfloat16 autocast: faster where the CPU/GPU has bf16 units
    FP16 = "fp16"  # float16 autocast (CUDA only; training adds loss scaling)


PRECISIONS = tuple(precision.value for precision in Precision)
RESOLVED_PRECISIONS = tuple(precision for precision in Precision if precision is not Precision.AUTO)


def parse_precision(value: Precision | str, *, resolved: bool = False) -> Precision:
    """``value`` as a :class:`Precision`; anything else (or ``auto`` where a resolved one is needed) names the choices."""
    choices = RESOLVED_PRECISIONS if resolved else tuple(Precision)
    try:
        precision = Precision(value)
    except ValueError:
        precision = None
    if precision not in choices:
        raise ValueError(f"precision must be one of {', '.join(c.value for c in choices)}, not {value!r}")
    return precision


def autocast_context(device: torch.device, precision: Precision):
    """Autocast to bf16/fp16 on ``device`` for those precisions, nothing for fp32."""
    dtypes = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}
    if parse_precision(precision, resolved=True) in dtypes:
        return torch.autocast(device_type=device.type, dtype=dtypes[precision])
    return contextlib.nullcontext()
