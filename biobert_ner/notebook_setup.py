"""Setting a notebook up, and showing things in it: quiet libraries, seeds, figures, tables, source code.

What every course notebook needs whatever the profile (:func:`biobert_ner.course.setup` picks the
profile, then calls :func:`prepare`). The notebooks reach these through ``course`` (``course.html_table``,
``course.timer``, ...), which re-exports them.

:func:`quiet` replaces ``tqdm.auto.tqdm`` process-wide with a disabled bar: call it only in a
notebook kernel (or a process that runs notebooks' code), never from library code.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence


def prepare(seed: int, *, threads: int | None = None) -> None:
    """Quieten the libraries, seed everything, cap torch's threads, show figures inline."""
    quiet()
    seed_everything(seed)
    if threads:
        import torch

        torch.set_num_threads(threads)
    _show_figures_inline()


def quiet() -> None:
    """Silence the progress bars and load reports of transformers/datasets: notebook output stays readable."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["TQDM_DISABLE"] = "1"  # tqdm >= 4.66: no progress bars (they would be widget noise in stored outputs)
    import datasets
    import transformers

    _silence_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    # The alignment prints its truncation report as a plain line too; in a notebook the warning's copy
    # would only add the kernel's temporary cell file (/tmp/ipykernel_*/...) to the stored output.
    warnings.filterwarnings("ignore", message="truncation at max_length", category=UserWarning)


def _silence_progress_bars() -> None:
    """Make ``tqdm.auto.tqdm`` (what the library's loops import when they run) a disabled bar.

    ``TQDM_DISABLE`` only changes tqdm's *default*; a loop that passes ``disable=False``
    explicitly would still draw, and in a notebook that means ipywidgets whose state changes on
    every run. The notebooks print one line per epoch instead.
    """
    import tqdm.auto
    import tqdm.std

    if getattr(tqdm.auto.tqdm, "_biobert_ner_silent", False):
        return

    class SilentTqdm(tqdm.std.tqdm):
        _biobert_ner_silent = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    tqdm.auto.tqdm = SilentTqdm


def _show_figures_inline() -> None:
    """In a notebook, show a ``matplotlib.figure.Figure`` left as a cell's value as a PNG.

    The course's plots are ``Figure`` objects (no pyplot state); with ``MPLBACKEND=Agg`` (set by
    ``scripts/env.sh``) IPython would print only their ``repr``, so register the PNG formatter.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the course extras
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure
    from IPython.core.pylabtools import print_figure

    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda figure: print_figure(figure, "png", bbox_inches="tight"))


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so that a notebook prints the same numbers on every run."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Timer:
    """``with course.timer("training") as t: ...`` prints and keeps the elapsed seconds."""

    label: str
    seconds: float = 0.0
    verbose: bool = True
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        if self.verbose:
            print(f"{self.label}: {self.seconds:.1f} s")


def timer(label: str, verbose: bool = True) -> Timer:
    return Timer(label, verbose=verbose)


# ---------------------------------------------------------------- showing things in a notebook


def html_table(rows: list[list[Any]], header: list[str] | None = None, *, caption: str | None = None, styles=None):
    """A small HTML table for notebooks (pandas is not a dependency of the course).

    ``styles``: optional function ``(row, column, value) -> css`` for coloured cells.
    Returns an ``IPython.display.HTML`` object (shown when it is the last value of a cell).
    """
    from html import escape

    from IPython.display import HTML

    parts = ['<table style="border-collapse:collapse;font-family:monospace;font-size:12px">']
    if caption:
        parts.append(f'<caption style="text-align:left;font-weight:bold">{escape(caption)}</caption>')
    cell = 'style="border:1px solid #ccc;padding:2px 6px;{css}"'
    if header:
        parts.append("<tr>" + "".join(f"<th {cell.format(css='background:#eee')}>{escape(str(h))}</th>" for h in header) + "</tr>")
    for r, row in enumerate(rows):
        tds = []
        for c, value in enumerate(row):
            css = styles(r, c, value) if styles else ""
            tds.append(f"<td {cell.format(css=css or '')}>{escape(str(value))}</td>")
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</table>")
    return HTML("".join(parts))


def _tag_color(value: Any) -> str:
    """Background of a cell showing a tag: the entity type's colour (``B-`` darker edge), grey for -100."""
    from .render import entity_colors
    from .schemes import TagError, split_tag

    if value == -100 or value == "-100":
        return "color:#999"
    if not isinstance(value, str) or value == "O":
        return ""
    try:
        prefix, entity_type = split_tag(value)
    except TagError:
        return ""
    color = entity_colors([entity_type])[entity_type]
    edge = "border-left:3px solid #555;" if prefix in ("B", "S") else ""
    return f"background:{color};{edge}"


def tag_table(rows: dict[str, Sequence[Any]], *, caption: str | None = None):
    """Sentences as an HTML table read left to right: one row per kind of value, one column per word or token.

    Cells holding a tag (``B-Disease``...) are coloured by entity type (the colours of
    :mod:`biobert_ner.render`), a ``B-``/``S-`` tag gets a dark left edge, ``-100`` is grey.
    """
    from html import escape

    from IPython.display import HTML

    width = max((len(values) for values in rows.values()), default=0)
    cell = "border:1px solid #ddd;padding:1px 4px;white-space:nowrap;"
    parts = ['<div style="overflow-x:auto"><table style="border-collapse:collapse;font-family:monospace;font-size:11px">']
    if caption:
        parts.append(f'<caption style="text-align:left;font-weight:bold">{escape(caption)}</caption>')
    for name, values in rows.items():
        tds = [f'<th style="{cell}background:#eee;text-align:left">{escape(str(name))}</th>']
        for value in list(values) + [""] * (width - len(values)):
            text = "" if value is None else str(value)
            tds.append(f'<td style="{cell}{_tag_color(value)}">{escape(text)}</td>')
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</table></div>")
    return HTML("".join(parts))


def show_source(obj: Any, *, start: str | None = None, end: str | None = None):
    """The library's own source of ``obj`` (from ``inspect.getsource``, so it cannot drift), syntax-highlighted.

    ``start``/``end``: show only the lines from the first one containing ``start`` up to (not
    including) the first later one containing ``end``.
    """
    import inspect
    import textwrap

    from IPython.display import Code

    lines = inspect.getsource(obj).splitlines()
    if start is not None:
        first = next((i for i, line in enumerate(lines) if start in line), None)
        if first is None:
            raise ValueError(f"{start!r} is not in the source of {obj.__qualname__}")
        lines = lines[first:]
    if end is not None:
        last = next((i for i, line in enumerate(lines) if i > 0 and end in line), None)
        if last is None:
            raise ValueError(f"{end!r} is not in the source of {obj.__qualname__}")
        lines = lines[:last]
    return Code(textwrap.dedent("\n".join(lines)), language="python")
