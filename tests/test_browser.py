"""The course in a real browser: JupyterLab, headless Chromium, notebook 00 run from the Run menu.

What a student does on day one: open JupyterLab, open ``00_setup.ipynb``, *Run > Run All Cells*,
and get no error. The server is the one ``./course.sh`` started for the whole run (the
``course_server`` fixture of conftest.py, shared with test_course_script.py): a free localhost
port, a token, temporary settings and workspace folders, a copy of the notebook as its root (the
committed file is never touched). Debian's chromium is driven by the ``playwright`` package (no browser download). A
screenshot is kept in ``build/artifacts/jupyterlab-00.png``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "00_setup.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO_ROOT / "build" / "artifacts" / "jupyterlab-00.png"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# 300 s for the test, 240 more where the shared server starts in its set-up (run on its own)
pytestmark = [pytest.mark.browser, pytest.mark.timeout(540)]


def wait_for_kernel(base: str, token: str, timeout: float = 120) -> None:
    """Until the notebook's kernel has started, is connected to the page and is idle (the server's view)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as response:
            kernels = json.loads(response.read())
        if any(k.get("execution_state") == "idle" and k.get("connections", 0) > 0 for k in kernels):
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel did not start within {timeout} s: {kernels}")


def code_cell_count(path: Path) -> int:
    return sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)


PROMPTS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'))
                   .map(p => p.textContent.trim())"""


def test_notebook_00_runs_in_jupyterlab_in_chromium(course_server):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/system-deps.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    base, served = course_server.base, course_server.served
    notebook = served / NOTEBOOK.name
    cells = code_cell_count(notebook)
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={course_server.token}", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
            wait_for_kernel(base, course_server.token)
            # Like a person: the Run menu, then "Run All Cells".
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            # Done when every code cell shows an execution count and none is still "[*]".
            deadline = time.monotonic() + 180
            while True:
                prompts = page.evaluate(PROMPTS_JS)
                done = [p for p in prompts if p.startswith("[") and p[1:-2].isdigit()]
                if len(prompts) == cells and len(done) == cells:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"cells did not finish: prompts {prompts}")
                page.wait_for_timeout(500)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            errors = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
            assert errors.count() == 0, f"an error in the notebook:\n{errors.first.inner_text()[:2000]}"
            assert page.locator(".jp-OutputArea-output table").count() >= 2, "the environment and profile tables are missing"
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1000)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    saved = nbformat.read(notebook, as_version=4)
    outputs = [output for cell in saved.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], "the saved notebook has an error output"
    assert any("profile: quick" in o.get("text", "") for o in outputs), "the profile line is missing from the outputs"
    assert SCREENSHOT.stat().st_size > 10_000
    assert time.monotonic() - started < 150
