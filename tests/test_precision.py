"""``precision="auto"``: bf16 only where the hardware computes it natively, on every GPU students meet.

The GPU's compute capability and the CPU's feature list are patched, so each card's choice is
checked on any machine. ``torch.cuda.is_bf16_supported`` is patched to say True throughout: by
default it counts emulation as support, so a choice that followed it would pick bf16 on a T4.
"""

from __future__ import annotations

import pytest
import torch

from biobert_ner import optimization
from biobert_ner.course import PROFILES
from biobert_ner.optimization import cpu_has_fast_bf16, has_native_bf16, resolve_precision

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("card", "capability", "chosen"),
    [
        ("T4 (free Colab)", (7, 5), "fp16"),
        ("V100", (7, 0), "fp16"),
        ("P100 (Kaggle)", (6, 0), "fp16"),
        ("A100", (8, 0), "bf16"),
        ("RTX 4090", (8, 9), "bf16"),
        ("H100", (9, 0), "bf16"),
    ],
)
def test_auto_on_a_gpu_picks_bf16_from_compute_capability_8_0(monkeypatch, card, capability, chosen):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # emulation counted: not asked
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_precision("auto", CUDA) == chosen, card
    assert has_native_bf16(CUDA) == (chosen == "bf16")
    assert resolve_precision("fp32", CUDA) == "no" and resolve_precision("bf16", CUDA) == "bf16"  # asked for: kept


def cpu_capabilities(monkeypatch, **flags: bool) -> None:
    """The CPU features torch reports, as on a CPU with (or without) bf16 units."""
    monkeypatch.setattr(torch._C._cpu, "_get_cpu_capability", lambda: {"avx512": True, "avx512_bf16": False, "amx_bf16": False, **flags})


@pytest.mark.parametrize(
    ("flags", "chosen"),
    [
        ({}, "no"),  # AVX-512 without bf16 units (older Xeon, EPYC Zen 3): emulated bf16 is slower than fp32
        ({"avx512_bf16": True}, "bf16"),  # EPYC Zen 4, Cooper Lake
        ({"amx_bf16": True}, "bf16"),  # Sapphire Rapids and newer
    ],
)
def test_auto_on_a_cpu_picks_bf16_only_with_bf16_units(monkeypatch, flags, chosen):
    cpu_capabilities(monkeypatch, **flags)
    assert cpu_has_fast_bf16() == (chosen == "bf16")
    assert resolve_precision("auto", CPU) == chosen
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        resolve_precision("fp16", CPU)


def test_the_full_profile_lets_the_hardware_choose():
    assert PROFILES["full"].precision == "auto"
    assert optimization.NATIVE_BF16_CAPABILITY == (8, 0)
