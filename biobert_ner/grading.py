"""Exercises: generated from the solution notebooks, graded by running them.

The notebooks in ``solutions/`` are the source of truth. They follow nbgrader's conventions:

* a *solution cell* (cell metadata ``nbgrader.solution: true``) holds the answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``; hints are comments outside that region;
* a *test cell* (``nbgrader.grade: true``, a ``grade_id`` and ``points``) checks the answer
  with asserts, usually through :func:`biobert_ner.checks.check_against`, which compares the
  student's function with the library's on real inputs and explains the first difference;
  lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are test cases the
  student's copy does not show (nbgrader's ``ClearHiddenTests`` removes them).

:func:`make_exercise` turns a solution notebook into the student's version with nbgrader's own
preprocessors (``ClearSolutions`` puts ``raise NotImplementedError()`` where the solution was,
``ClearHiddenTests`` removes hidden test cases, ``ClearOutput`` strips outputs; a note tells
the student where to write and how to grade);
:func:`generate_exercises` writes all of them to
``exercises/`` (``scripts/make_exercises.py``), deterministically, so a test can check that
the committed exercises are exactly what the generator makes.

:func:`grade_notebook` grades as nbgrader's autograder does: the test cells are first put back
as ``solutions/`` has them, hidden tests included (matched by ``grade_id``; a test cell the
student edited or deleted is restored, and the report says so), cells that only claim to be
tests are not counted, and points come from ``solutions/``. Then the notebook runs (every cell,
errors or not) and each test cell is reported as passed or failed, with what it raised and
printed (cut to a few lines)::

    biobert-ner grade exercises/03_label_alignment.ipynb

Putting the test cells back is :mod:`biobert_ner.restoration`'s job. A grader-only first cell
records the library's functions before any student code runs, and every restored test cell
starts by checking that no cell replaced one of them
(:func:`biobert_ner.answer_guard.verify_library`). The student's code runs in the grading kernel, as
with nbgrader: these checks stop the plain cheats (an edited test, a patched library, a
rebound ``checks``), not a student who sets out to subvert the kernel itself; and a student who
has ``solutions/`` has the answers, so a class is given ``exercises/`` only.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import check_against  # noqa: F401  (test cells of exercises saved before checks.py call grading.check_against)
from .paths import exercises_dir, solutions_dir
from .restoration import is_solution_cell, is_test_cell, nbgrader_metadata, restore_test_cells, solution_of

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
NOT_IMPLEMENTED_NAMES = ("NotImplementedError",)
DEFAULT_TIMEOUT = 300  # seconds per cell
GENERATED_NOTE_ID = "exercise-note"
REPORT_LINES = 12  # lines of a failed test's message, and of its printed output, shown in a report
REPORT_WIDTH = 160  # characters per report line (longer ones are wrapped)


# ---------------------------------------------------------------- exercises from solutions


def solution_regions(notebook) -> list[tuple[str, str]]:
    """``(cell id, code)`` of every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region."""
    regions = []
    for cell in notebook.cells:
        lines, inside = [], False
        for line in cell.source.split("\n"):
            if BEGIN_SOLUTION in line:
                inside, lines = True, []
            elif END_SOLUTION in line:
                inside = False
                regions.append((cell.get("id", ""), "\n".join(lines)))
            elif inside:
                lines.append(line)
    return regions


def _note_cell(solution_name: str):
    """The student's instructions. Maintainers' notes (where the file comes from) go in metadata."""
    from nbformat.v4 import new_markdown_cell

    cell = new_markdown_cell(
        "**Exercises.** Work in this notebook: write your code where a cell says `# YOUR CODE HERE` "
        "(delete the `raise NotImplementedError()` line), then run the test cell below it. It compares "
        "your function with the course library on real inputs and, when they differ, says where. "
        "Grading runs the test cells as the course wrote them, with more test cases than you see here, "
        "and gives no points to a function that calls the library function it is checked against. "
        "To grade the whole notebook, save it and run, from the repository folder,\n\n"
        f"    biobert-ner grade exercises/{solution_name}"
    )
    cell["id"] = GENERATED_NOTE_ID
    return cell


def make_exercise(solution) -> Any:
    """The student's version of a solution notebook (a new ``NotebookNode``; the input is untouched).

    nbgrader's ``ClearSolutions`` replaces every solution region with
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (and refuses a region outside a cell
    marked as a solution cell); ``ClearOutput`` removes outputs and execution counts. A note on
    how to work and grade is put after the title cell; where the file comes from (for
    maintainers: edit the solution, not the exercise) is kept in the notebook's metadata.
    """
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    notebook = copy.deepcopy(solution if not isinstance(solution, (str, os.PathLike)) else nbformat.read(solution, as_version=4))
    name = Path(solution).name if isinstance(solution, (str, os.PathLike)) else notebook.metadata.get("biobert_ner", {}).get("name", "")
    resources: dict = {}
    notebook, resources = ClearSolutions(enforce_metadata=True).preprocess(notebook, resources)
    notebook, resources = ClearHiddenTests(enforce_metadata=True).preprocess(notebook, resources)
    notebook, resources = ClearOutput().preprocess(notebook, resources)
    for cell in notebook.cells:  # ClearOutput left the run's timing metadata
        cell.metadata.pop("execution", None)
    if name and not any(cell.get("id") == GENERATED_NOTE_ID for cell in notebook.cells):
        notebook.cells.insert(1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0, _note_cell(name))
        notebook.metadata.setdefault("biobert_ner", {}).update(generated_from=f"solutions/{name}", generator="scripts/make_exercises.py")
    notebook.metadata.pop("widgets", None)
    return notebook


def exercise_text(solution_path: str | os.PathLike[str]) -> str:
    """The exact file contents :func:`generate_exercises` writes for one solution notebook."""
    import nbformat

    return nbformat.writes(make_exercise(Path(solution_path))) + "\n"


def solution_paths(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    directory = Path(folder) if folder is not None else solutions_dir()
    return sorted(directory.glob("[0-9][0-9]_*.ipynb"))


def generate_exercises(
    solutions: str | os.PathLike[str] | None = None,
    exercises: str | os.PathLike[str] | None = None,
    *,
    check: bool = False,
) -> list[Path]:
    """Write ``exercises/NN_*.ipynb`` from ``solutions/NN_*.ipynb``; return the files that changed.

    ``check=True`` writes nothing and returns the exercise files that differ from (or are
    missing compared with) what would be generated, and exercise files without a solution.
    """
    from .files import atomic_write_text

    source_dir = Path(solutions) if solutions is not None else solutions_dir()
    target_dir = Path(exercises) if exercises is not None else exercises_dir()
    changed = []
    expected_names = set()
    for path in solution_paths(source_dir):
        target = target_dir / path.name
        expected_names.add(path.name)
        text = exercise_text(path)
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        changed.append(target)
        if not check:
            atomic_write_text(target, text)
    if check and target_dir.is_dir():
        changed += [path for path in sorted(target_dir.glob("[0-9][0-9]_*.ipynb")) if path.name not in expected_names]
    return changed


# ---------------------------------------------------------------- grading


@dataclass(frozen=True)
class ExerciseResult:
    """One test cell's outcome."""

    grade_id: str
    passed: bool
    points: float
    message: str  # what went wrong (the assertion message or error); "" when passed
    printed: str = ""  # what the test cell printed (stdout and stderr), cut to REPORT_LINES lines
    restored: str = ""  # why the test cell was put back from solutions/ ("edited", "deleted"); "" when it was as given

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0


@dataclass
class GradeReport:
    """What :func:`grade_notebook` found: one result per test cell, plus errors outside them."""

    notebook: str
    results: list[ExerciseResult] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)  # errors in cells that are not tests
    seconds: float = 0.0
    solution: str = ""  # the solution notebook the test cells came from ("" when graded as it is)
    ignored: list[str] = field(default_factory=list)  # cells marked as tests that the solution does not have

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(result.passed for result in self.results)

    @property
    def score(self) -> float:
        return sum(result.score for result in self.results)

    @property
    def max_score(self) -> float:
        return sum(result.points for result in self.results)

    def result(self, grade_id: str) -> ExerciseResult:
        for result in self.results:
            if result.grade_id == grade_id:
                return result
        raise KeyError(grade_id)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "solution": self.solution,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "seconds": round(self.seconds, 1),
            "results": [
                {"grade_id": r.grade_id, "passed": r.passed, "points": r.points, "message": r.message, "printed": r.printed,
                 "restored": r.restored}
                for r in self.results
            ],
            "ignored": list(self.ignored),
            "other_errors": list(self.other_errors),
        }

    def __str__(self) -> str:
        lines = [f"{self.notebook}: {self.score:g}/{self.max_score:g} points ({self.seconds:.0f} s)"]
        if self.solution:
            lines.append(f"  tests as in {self.solution} (hidden tests included)")
        for result in self.results:
            mark = "PASS" if result.passed else "FAIL"
            restored = f"  [test cell restored from the solution: yours was {result.restored}]" if result.restored else ""
            lines.append(f"  {mark}  {result.grade_id} ({result.points:g} pt){restored}")
            if not result.passed:
                lines += [f"        {line}" for line in result.message.splitlines()]
                lines += [f"        printed: {line}" for line in result.printed.splitlines()]
        for cell in self.ignored:
            lines.append(f"  not counted: {cell}")
        for error in self.other_errors:
            lines.append(f"  error outside the tests: {error.splitlines()[0] if error else ''}")
        if not self.results:
            lines.append("  (no test cells: nbgrader metadata 'grade: true' marks them)")
        return "\n".join(lines)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def _error_message(output) -> str:
    name, value = output.get("ename", "Error"), _strip_ansi(str(output.get("evalue", "")))
    if name in NOT_IMPLEMENTED_NAMES:
        return "not written yet: the cell still raises NotImplementedError (replace it with your code)"
    if name in ("AssertionError", "RefusedAnswer"):  # a check's message is the feedback
        return value or "an assert failed (no message)"
    return f"{name}: {value}"


def _cut(text: str, lines: int = REPORT_LINES, width: int = REPORT_WIDTH) -> str:
    """At most ``lines`` lines, long ones wrapped at ``width``: a report stays readable whatever a cell printed."""
    import textwrap

    wrapped = []
    for line in text.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        wrapped += textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_on_hyphens=False) or [""]
    hidden = len(wrapped) - lines
    return "\n".join(wrapped[:lines] + ([f"... ({hidden} more lines)"] if hidden > 0 else []))


def _cell_error(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return _cut(_error_message(output))
    return None


def _without_progress_bars(text: str) -> str:
    """What a terminal would leave of ``text``, less progress bars: a bar is never feedback."""
    import re

    lines = (line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))  # a "\r" redraws the line
    return "\n".join(line for line in lines if not re.search(r"\d+%\|.*\|", line))


def _cell_text(cell) -> str:
    """What a cell printed (stdout and stderr), cut to a few lines."""
    parts = [output.get("text", "") for output in cell.get("outputs", []) if output.get("output_type") == "stream"]
    return _cut(_without_progress_bars(_strip_ansi("".join(parts))).strip())


def grade_notebook(
    path: str | os.PathLike[str],
    *,
    timeout: int = DEFAULT_TIMEOUT,
    output: str | os.PathLike[str] | None = None,
    solution: str | os.PathLike[str] | None = None,
) -> GradeReport:
    """Restore the test cells from the solution, execute the notebook (all cells, continuing past errors), report each test.

    ``solution``: the notebook whose test cells count (default: the one the exercise was made
    from, :func:`solution_of`); a notebook without one (a solution itself) is graded as it is.
    A test cell passes when it runs without an error. A solution that still raises
    ``NotImplementedError``, an assert that fails, or any other exception fails it, with the
    message and what the cell printed shown, each cut to a few lines. ``output``: where to save
    the executed notebook (default: not saved).
    The notebook runs with its own folder as working directory and the default (quick) profile.
    """
    import nbformat

    from .notebook_runner import execute_notebook

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    solution_path = Path(solution) if solution is not None else solution_of(path, notebook)
    restoration = None
    if solution_path is not None:
        restoration = restore_test_cells(notebook, nbformat.read(solution_path, as_version=4))
    start = time.perf_counter()
    report = GradeReport(str(path), solution=_shown_path(solution_path), ignored=restoration.ignored if restoration else [])
    # allow_errors: every cell runs, each test is reported on its own; what stops the run
    # (a cell timeout, a dead kernel) still leaves what ran so far to be graded
    error = execute_notebook(notebook, path.parent, timeout=timeout, allow_errors=True, keep_profile=False)
    if error is not None:
        report.other_errors.append(f"execution stopped: {error}")
    report.seconds = time.perf_counter() - start
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        error = _cell_error(cell)
        if is_test_cell(cell):
            meta = nbgrader_metadata(cell)
            grade_id = str(meta.get("grade_id") or cell.get("id") or f"cell-{index}")
            points, restored = restoration.tests[grade_id] if restoration else (float(meta.get("points", 1) or 0), "")
            ran = cell.get("execution_count") is not None
            if error is None and not ran:
                error = "not run (the notebook stopped before this cell)"
            report.results.append(ExerciseResult(grade_id, error is None, points, error or "", _cell_text(cell), restored))
        elif error is not None and not is_solution_cell(cell):
            report.other_errors.append(f"cell {cell.get('id', index)}: {error}")
    if output is not None:
        nbformat.write(notebook, str(output))
    return report


def _shown_path(path: Path | None) -> str:
    """``path`` relative to the repository when inside it: reports carry no machine's folders."""
    if path is None:
        return ""
    from .paths import repository_root

    try:
        return str(path.resolve().relative_to(repository_root().resolve()))
    except ValueError:
        return str(path)
