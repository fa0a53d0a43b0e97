"""The README's first command, ``./course.sh``, run exactly as written (the script, not the functions behind it).

Both tests are slow: the script sets up the environment (seconds when it is cached), then either executes
notebook 00 headless or starts JupyterLab.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COURSE_SH = REPO_ROOT / "course.sh"
JUPYTER_START_LIMIT_S = 240  # importing every server extension takes ~10 s on an idle 2-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
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


def _read_until_serving(process: subprocess.Popen, port: int) -> list[str]:
    """Lines the server printed, up to the one that says where it serves (or until it exits)."""
    lines: list[str] = []
    deadline = time.monotonic() + JUPYTER_START_LIMIT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:  # the process ended
            break
        lines.append(line.rstrip())
        if f"127.0.0.1:{port}/" in line:
            break
    return lines


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


@pytest.mark.slow
def test_course_sh_starts_jupyterlab_without_warnings_as_root_too():
    port = free_port()
    command = [str(COURSE_SH), "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=course-test"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        lines = _read_until_serving(process, port)
        log = "\n".join(lines)
        assert process.poll() is None, f"./course.sh exited with {process.returncode}:\n{log[-4000:]}"
        status = _server_status(f"http://127.0.0.1:{port}/api/status?token=course-test")
        assert "started" in status, status
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    warnings = [line for line in lines if line.startswith("[W ") or "WARNING" in line or line.startswith("[C ")]
    assert not warnings, "JupyterLab started with warnings:\n" + "\n".join(warnings)
    if os.geteuid() == 0:
        assert "running as root, so JupyterLab is started with --allow-root" in log
