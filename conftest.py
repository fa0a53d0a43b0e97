"""Suite-wide settings for ``tests/`` and ``notebooks/`` (whose notebooks nbval collects): the slow families, the course models.

Every slow test belongs to one family, so a developer can run any one of them
(``./test.sh -m java``); ``slow`` is the umbrella the families imply (``-m "not slow"`` is the unit tests):

* ``notebook``: a course notebook executed (nbval, papermill, ``./course.sh --headless``);
* ``grading``: the autograder on solutions, exercises and notebooks with typical mistakes;
* ``java``: the Maven build, its JUnit tests and the Java command line;
* ``browser``: JupyterLab started by ``./course.sh``, notebook 00 run in Chromium;
* ``e2e``: the other end-to-end runs (training, the command line, export); a slow test that names no
  family is put here.

The notebook and grading families run course notebooks, which read the models of the shared
``build/models/`` folder (:func:`biobert_ner.course.trained_model`). When any of them is selected,
those models are built before the first test, once, in a process of their own (outside every test's
timeout; the log says how long it took): whichever test comes first then finds them, so no
notebook's time depends on the order the tests ran in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_suite_families.py runs this file's hooks on a sample suite

REPO_ROOT = Path(__file__).resolve().parent
NOTEBOOKS = REPO_ROOT / "notebooks"
FAMILIES = ("notebook", "grading", "java", "browser", "e2e")
NEEDS_COURSE_MODELS = ("notebook", "grading")
# Modules whose slow tests are all of one family, named here rather than test by test.
FAMILY_OF_SLOW_TESTS_IN = {"test_exercises.py": "grading", "test_feedback.py": "grading", "test_grading_cheats.py": "grading"}
# The quick profile's shared model (notebooks 04-08) and the three-type teaching model (notebook 05).
COURSE_MODELS_TIMEOUT_S = 1800  # two short training runs: ~2 minutes on an idle 2-core machine
COURSE_MODELS_CODE = "from biobert_ner import course; course.trained_model('quick'); course.trained_model('quick', teaching=True)"


def families(item: pytest.Item) -> set[str]:
    return {marker.name for marker in item.iter_markers() if marker.name in FAMILIES}


def is_course_notebook(item: pytest.Item) -> bool:
    """An nbval cell of one of the course notebooks."""
    path = Path(str(item.path)).resolve()
    return path.suffix == ".ipynb" and NOTEBOOKS in path.parents


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """nbval's cells are ``notebook``; a family implies ``slow``; a slow test without one is ``e2e`` (or its module's family)."""
    for item in items:
        if is_course_notebook(item):
            item.add_marker(pytest.mark.notebook)
        module_family = FAMILY_OF_SLOW_TESTS_IN.get(Path(str(item.path)).name)
        if module_family and item.get_closest_marker("slow") and not families(item):
            item.add_marker(getattr(pytest.mark, module_family))
        if families(item):
            item.add_marker(pytest.mark.slow)
        elif item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.e2e)


class CourseModels:
    """Builds the course's shared models once per run; a failed build fails every test that needs them, with its output."""

    def __init__(self) -> None:
        self.error: str | None = None

    def build(self, terminal) -> None:
        """Train what is missing (seconds when ``build/models/`` has it), in a subprocess: this process stays free of its state."""
        env = {key: value for key, value in os.environ.items() if key != "BIOBERT_NER_PROFILE"}
        started = time.perf_counter()
        try:
            result = subprocess.run([sys.executable, "-c", COURSE_MODELS_CODE], cwd=REPO_ROOT, env=env, capture_output=True,
                                    text=True, timeout=COURSE_MODELS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.error = f"building the course models took over {COURSE_MODELS_TIMEOUT_S} s"
            return
        if result.returncode != 0:
            self.error = f"building the course models failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"
            return
        if terminal is not None:
            lines = [line for line in result.stdout.splitlines() if line.startswith("fine-tuned model:")]
            terminal.write_line(f"course models ready in {time.perf_counter() - started:.1f} s: " + "; ".join(lines))

    def check(self) -> None:
        if self.error is not None:
            pytest.fail(self.error, pytrace=False)


COURSE_MODELS = CourseModels()


def needs_course_models(item: pytest.Item) -> bool:
    return bool(families(item) & set(NEEDS_COURSE_MODELS))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Before the first test, when any selected one runs course notebooks: outside every test's timeout, shown in the log."""
    if not session.config.option.collectonly and any(needs_course_models(item) for item in session.items):
        COURSE_MODELS.build(session.config.pluginmanager.get_plugin("terminalreporter"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test of the notebook or grading family fails at once, with the reason, when the models could not be built."""
    if needs_course_models(item):
        COURSE_MODELS.check()
