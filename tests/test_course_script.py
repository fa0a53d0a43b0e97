"""The README's first command, ``./course.sh``, run exactly as written (the script, not the functions behind it).

Both tests are slow: the script sets up the environment (seconds when it is cached), then either executes
notebook 00 headless (``e2e``: the script itself; notebook 00 needs no course model) or starts JupyterLab (``browser``: the server of the
``course_server`` fixture, which test_browser.py drives in Chromium).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COURSE_SH = REPO_ROOT / "course.sh"


@pytest.mark.e2e
def test_course_sh_headless_executes_notebook_00():
    executed = REPO_ROOT / "build" / "notebooks" / "00_setup.ipynb"
    started = time.time()
    result = subprocess.run([str(COURSE_SH), "--headless", "00"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"./course.sh --headless 00 failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert executed.exists() and executed.stat().st_mtime >= started, f"{executed} was not written by this run"
    notebook = nbformat.read(executed, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.get("execution_count") for cell in code_cells), "some cells of 00 did not run"
    assert not any(output.get("output_type") == "error" for cell in code_cells for output in cell.outputs)
    assert "00_setup" in result.stdout + result.stderr, "the runner names the notebook it ran"


def _server_status(url: str, wait_s: float = 30.0) -> dict:
    """The server's ``/api/status``, asked again for a while: the URL is printed as the server comes up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.browser
def test_course_sh_starts_jupyterlab_without_warnings_as_root_too(course_server):
    """The server of the ``course_server`` fixture: ``./course.sh --no-browser --port=P ...`` (test_browser uses it too)."""
    lines = course_server.startup_lines
    log = "\n".join(lines)
    assert course_server.process.poll() is None, f"./course.sh exited with {course_server.process.returncode}:\n{log[-4000:]}"
    status = _server_status(f"{course_server.base}/api/status?token={course_server.token}")
    assert "started" in status, status
    warnings = [line for line in lines if line.startswith("[W ") or "WARNING" in line or line.startswith("[C ")]
    assert not warnings, "JupyterLab started with warnings:\n" + "\n".join(warnings)
    if os.geteuid() == 0:
        assert "running as root, so JupyterLab is started with --allow-root" in log
