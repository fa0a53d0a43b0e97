"""Executing notebooks: the course's into ``build/notebooks/`` or in place, and any one for grading.

:func:`execute_notebook` is the one way a notebook runs here (nbclient, a quiet kernel, the
notebook's folder as working directory); running the course, refreshing stored outputs and
grading (:mod:`biobert_ner.grading`) all go through it.

* :func:`run_notebooks` is what ``./course.sh --headless`` and ``biobert-ner run-notebooks``
  call, and what the notebook test runs: every ``NN_*.ipynb`` of a folder, in order, the
  ``profile`` parameter injected as papermill does, outputs written to ``build/notebooks/``; the
  time of each notebook is printed and returned.
* :func:`execute_in_place` re-runs the committed notebooks and saves their outputs back, so
  the outputs in the repository are exactly what a run produces (then cleaned of the
  per-run noise: timings, widget state, papermill's metadata).

Notebooks run with their own folder as the working directory, as in JupyterLab.

    python -m biobert_ner run-notebooks                     # all, quick profile, into build/notebooks
    python -m biobert_ner run-notebooks --profile full 06   # one notebook, full profile
    python -m biobert_ner run-notebooks --in-place 01 03    # refresh the stored outputs
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .course import PROFILE_ENV

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
DEFAULT_TIMEOUT = 1800  # seconds per cell; the full profile trains for a while in one cell
KERNEL_NAME = "python3"


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where it came from, where its output went, how long it took."""

    name: str
    source: Path
    output: Path
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def course_notebooks_dir() -> Path:
    from .paths import repository_root

    return repository_root() / "notebooks"


def notebook_paths(folder: str | os.PathLike[str] | None = None, names: Sequence[str] | None = None) -> list[Path]:
    """The course notebooks ``NN_*.ipynb`` of ``folder`` in order; ``names`` selects by prefix (``"04"``) or file name."""
    directory = Path(folder) if folder is not None else course_notebooks_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such notebook folder")
    paths = sorted(path for path in directory.iterdir() if NOTEBOOK_PATTERN.match(path.name))
    if not names:
        return paths
    chosen = []
    for name in names:
        matches = [path for path in paths if path.name == name or path.stem == name or path.name.startswith(f"{name}_")]
        if not matches:
            raise FileNotFoundError(f"no notebook {name!r} in {directory} (have: {', '.join(p.name for p in paths)})")
        chosen += [path for path in matches if path not in chosen]
    return chosen


def clean_notebook(notebook) -> None:
    """Drop what changes from run to run without being content: timings, widget state, papermill's bookkeeping."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata.pop("papermill", None)
    notebook.metadata.pop("execution", None)
    for cell in notebook.cells:
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            # ipywidgets progress bars store a model id that differs on every run
            data = output.get("data", {})
            data.pop("application/vnd.jupyter.widget-view+json", None)


def kernel_environment(*, keep_profile: bool = True) -> dict[str, str]:
    """The environment a notebook kernel gets: ours, less ``BIOBERT_NER_PROFILE`` unless ``keep_profile``.

    Stored outputs and grading always use the default (quick) profile, whatever the shell says.
    """
    return {key: value for key, value in os.environ.items() if keep_profile or key != PROFILE_ENV}


def quiet_kernel_config():
    """Kernel settings for a quiet run: an encrypted channel (or local sockets), so ipykernel has nothing to warn about.

    Over plain TCP ipykernel warns at every start that the traffic is unencrypted, a line the
    student cannot act on. With CurveZMQ keys provisioned by the kernel manager the channel is
    encrypted; where pyzmq lacks CurveZMQ, IPC sockets keep the traffic off the network.
    """
    import zmq
    from traitlets.config import Config

    if zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config({"KernelManager": {"transport": "ipc"}}) if os.name == "posix" else Config()


def execute_notebook(
    notebook, folder: str | os.PathLike[str], *, timeout: int = DEFAULT_TIMEOUT, allow_errors: bool = False,
    keep_profile: bool = True,
) -> str | None:
    """Run the cells of ``notebook`` (changed in place) with ``folder`` as working directory: the one way notebooks run.

    ``allow_errors``: run every cell even after one fails (grading reports each test). Returns
    ``None``, or the error that stopped the run as one ``"Type: message"`` string.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(Path(folder).resolve())}},
        record_timing=False,
        config=quiet_kernel_config(),
    )
    try:
        client.execute(env=kernel_environment(keep_profile=keep_profile))
    except Exception as exception:  # a failing cell, a timeout or a dead kernel alike
        return f"{type(exception).__name__}: {exception}"
    return None


def with_parameters(notebook, parameters: dict):
    """The notebook with papermill's injected-parameters cell after its ``parameters`` cell."""
    from nbformat import NotebookNode
    from papermill.parameterize import parameterize_notebook

    notebook.metadata.setdefault("papermill", NotebookNode())
    for cell in notebook.cells:  # papermill finds the parameters cell by tag and expects every cell to have tags
        cell.metadata.setdefault("tags", [])
    return parameterize_notebook(notebook, parameters, kernel_name=KERNEL_NAME, language="python")


def run_notebook(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    profile: str | None = None,
    parameters: dict | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> NotebookRun:
    """Execute one notebook (``profile`` and ``parameters`` injected as papermill does) into ``output``.

    The executed copy is written even when a cell fails: its outputs show where and why.
    """
    import nbformat

    source, output = Path(source), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    values = dict(parameters or {})
    if profile is not None:
        values["profile"] = profile
    notebook = nbformat.read(source, as_version=4)
    if values:
        notebook = with_parameters(notebook, values)
    start = time.perf_counter()
    error = execute_notebook(notebook, source.parent, timeout=timeout)
    seconds = time.perf_counter() - start
    nbformat.write(notebook, output)
    return NotebookRun(source.name, source, output, seconds, error)


def run_notebooks(
    notebooks_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    profile: str | None = None,
    names: Sequence[str] | None = None,
    parameters: dict | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    stop_on_error: bool = False,
    verbose: bool = True,
) -> list[NotebookRun]:
    """Execute the course notebooks in order with papermill; print and return each one's time.

    ``notebooks_dir`` defaults to the course's ``notebooks/``, ``output_dir`` to ``build/notebooks/``.

    Notebooks that fail are reported (their partial output is in ``output_dir``) and the run
    goes on with the next one, unless ``stop_on_error``.
    """
    if output_dir is None:
        from .paths import build_dir

        output_dir = build_dir() / "notebooks"
    output_dir = Path(output_dir)
    runs = []
    for path in notebook_paths(notebooks_dir, names):
        run = run_notebook(path, output_dir / path.name, profile=profile, parameters=parameters, timeout=timeout)
        runs.append(run)
        if verbose:
            status = "ok" if run.ok else f"FAILED\n    {error_summary(run.error)}"
            print(f"{run.seconds:6.1f} s  {path.name}  {status}", flush=True)
        if not run.ok and stop_on_error:
            break
    if verbose:
        total = sum(run.seconds for run in runs)
        failed = [run.name for run in runs if not run.ok]
        print(f"{len(runs)} notebooks in {total:.1f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return runs


def error_summary(text: str | None) -> str:
    """The last non-blank line of an error: papermill's message ends with the exception, the most telling line."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def execute_in_place(paths: Iterable[str | os.PathLike[str]], *, timeout: int = DEFAULT_TIMEOUT, verbose: bool = True) -> list[NotebookRun]:
    """Re-execute notebooks and save the outputs into the same files (the committed outputs).

    Runs with the default profile (``BIOBERT_NER_PROFILE`` is removed from the kernel's
    environment), so stored outputs are always those of the quick profile. A notebook that
    fails is not saved.
    """
    import nbformat

    runs = []
    for path in map(Path, paths):
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        error = execute_notebook(notebook, path.parent, timeout=timeout, keep_profile=False)
        seconds = time.perf_counter() - start
        if error is None:
            clean_notebook(notebook)
            nbformat.write(notebook, path)
        run = NotebookRun(path.name, path, path, seconds, error)
        runs.append(run)
        if verbose:
            print(f"{path.name}: {seconds:.1f} s {'saved' if run.ok else 'FAILED (not saved): ' + error_summary(error)}", flush=True)
    return runs
