"""What every benchmark records with its numbers, and how it writes them: one place, so results compare.

A number is only worth keeping if it can be tied to the code and the machine that made it. Every
benchmark therefore starts with :func:`start_record` (the date, the command, the git commit and
whether the tree had uncommitted changes, the machine with the CPU flags that decide its speed,
the library versions, the load average) and ends with :func:`finish`, which adds the load average
at the end and writes the report atomically as strict JSON to ``benchmarks/results/`` (or
``--output``). A benchmark's own logs (the Trainer's loss dicts, progress bars) go to stderr
inside :func:`logs_to_stderr`, so they can never end up in a result.

    from benchmarks.common import add_output_argument, finish, logs_to_stderr, start_record

    record = start_record("java_service")
    ...                                   # measure
    finish(record, {"runs": runs}, args.output)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPOSITORY / "benchmarks" / "results"
# The CPU features that change a benchmark's numbers: bf16 matrix units (AVX512-BF16, AMX) make
# bf16 training ~4x faster than emulated bf16, VNNI and AMX-INT8 make int8 inference fast.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
PACKAGES = ("torch", "transformers", "onnxruntime", "accelerate", "datasets")
LOADED = 0.5  # 1-minute load average above which the run did not have the machine to itself


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which of :data:`CPU_FLAGS` the CPU has, from the first ``flags`` line of ``/proc/cpuinfo``."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    present: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            present = set(value.split())
            break
    return {flag: flag in present for flag in CPU_FLAGS}


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no flags known
        return ""


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    return [round(value, 2) for value in os.getloadavg()] if hasattr(os, "getloadavg") else None


def gpu() -> dict | None:
    """The first CUDA GPU's name, compute capability and memory; None without one (or without torch)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    major, minor = torch.cuda.get_device_capability(0)
    return {"name": properties.name, "compute_capability": f"{major}.{minor}", "count": torch.cuda.device_count(),
            "memory_gib": round(properties.total_memory / 2**30, 1)}


def machine() -> dict:
    """The machine a benchmark runs on: CPU model and flags, cores, GPU, load average at this moment."""
    load = load_average()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "cpu_flags": cpu_flags(), "gpu": gpu(),
            "load_average_at_start": load, "loaded": bool(load and load[0] > LOADED)}


def git_state(repository: Path = REPOSITORY) -> dict:
    """The commit checked out and whether the tree differs from it (earlier results excepted).

    ``dirty`` counts changed and untracked files outside ``benchmarks/results/``: a result written by
    an earlier run changes no code, but an uncommitted edit anywhere else might change the numbers.
    """
    def git(*arguments: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            return subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True, check=True).stdout
        return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status is not None else None}


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Python's version and each installed package's (None when not installed), without importing them."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def command_line() -> str:
    """The command as typed (``python -m benchmarks.bench_inference --threads 2``)."""
    arguments = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return " ".join(["python", *arguments[1:]])


def start_record(benchmark: str) -> dict:
    """What a result says about itself, taken when the benchmark starts (see the module docstring)."""
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        **git_state(),
        "machine": machine(),
        "versions": versions(),
    }


def result_path(name: str) -> Path:
    """Where a benchmark's result is kept: ``benchmarks/results/<name>.json``."""
    return RESULTS_DIR / f"{name}.json"


def add_output_argument(parser: argparse.ArgumentParser, default: Path | None) -> None:
    """``--output FILE`` (``default``: where this benchmark keeps its result; None: print only) and ``--no-output``."""
    parser.add_argument("--output", type=Path, default=default,
                        help=f"JSON file to write (default: {_shown(default) if default else 'none, print only'})")
    parser.add_argument("--no-output", dest="output", action="store_const", const=None, help="print the JSON, write no file")


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(REPOSITORY).as_posix()
    return str(path)


def finish(record: dict, report: dict, output: Path | None) -> dict:
    """The record with the report and the load average at the end: printed to stdout, and written to ``output``."""
    result = {**record, **report}
    result["machine"] = {**record["machine"], **report.get("machine", {}), "load_average_at_end": load_average()}
    text = to_json(result)
    print(text, end="")
    if output is not None:
        from biobert_ner.files import atomic_write_text

        atomic_write_text(output, text)
        print(f"wrote {_shown(Path(output))}", file=sys.stderr)
    return result


def to_json(data: Any) -> str:
    """Strict JSON (a NaN or infinity is refused: neither is JSON), indented, one trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    """Tuples come out as lists by themselves; paths and numpy/torch scalars need this."""
    if isinstance(value, Path):
        return _shown(value)
    if hasattr(value, "item"):
        number = value.item()
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{number} is not a JSON number")
        return number
    raise TypeError(f"not JSON: {value!r} ({type(value).__name__})")


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Everything printed inside (the Trainer's loss dicts, library messages) goes to stderr, not stdout.

    Progress bars (tqdm) already write to stderr; ``TQDM_DISABLE`` turns off the ones created inside.
    """
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before
