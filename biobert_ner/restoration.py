"""Test cells as the solution has them: what the grader puts back into a student's notebook before it runs.

As nbgrader's autograder does, :func:`restore_test_cells` matches each test cell of the solution
by its ``grade_id`` and puts it back, hidden tests included, whatever the student did to it
(edited, deleted); a cell that only claims to be a test loses that metadata and counts for
nothing; points are the solution's. :func:`solution_of` finds the solution an exercise was made
from. A first cell of the grader's own records the library before any student code runs
(:func:`biobert_ner.answer_guard.snapshot_library`), and every restored test cell starts by
checking that nothing replaced it (:data:`TEST_PROLOGUE`). :mod:`biobert_ner.grading` runs the
restored notebook and reports.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

GUARD_CELL_ID = "grading-guard"  # the grader's first cell: records the library before any student code runs
# the modules test cells call: imported again by every test cell, so a cell that rebinds one of these names changes nothing
TEST_MODULES = "answer_guard, checks, exercise_references"
TEST_PROLOGUE = f"from biobert_ner import {TEST_MODULES}; answer_guard.verify_library()  # added by the grader\n"


# ---------------------------------------------------------------- nbgrader's cell metadata


def nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution_cell(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("solution"))


def is_test_cell(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("grade")) and cell.get("cell_type") == "code"


# ---------------------------------------------------------------- putting the test cells back


@dataclass
class Restoration:
    """What :func:`restore_test_cells` changed in a student's notebook before it runs."""

    tests: dict[str, tuple[float, str]] = field(default_factory=dict)  # grade_id -> (points, "edited"/"deleted"/"")
    ignored: list[str] = field(default_factory=list)  # cells that claimed to be tests, and why they do not count


def solution_of(path: str | os.PathLike[str], notebook) -> Path | None:
    """The solution notebook an exercise was made from: its metadata says, else ``solutions/`` by name."""
    from .paths import repository_root, solutions_dir

    generated_from = notebook.metadata.get("biobert_ner", {}).get("generated_from", "")
    candidates = [repository_root() / generated_from] if generated_from else []
    candidates.append(solutions_dir() / Path(path).name)
    path = Path(path).resolve()
    for candidate in candidates:
        if candidate.is_file() and candidate.resolve() != path:  # a solution graded as itself is graded as it is
            return candidate
    return None


def _grade_id(cell) -> str:
    return str(nbgrader_metadata(cell).get("grade_id") or "")


def _visible_source(cell) -> str:
    """A solution test cell as the student's copy shows it (hidden tests removed)."""
    from nbgrader.preprocessors import ClearHiddenTests

    visible, _ = ClearHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)
    return visible.source


def _graded_cell(solution_cell):
    """The solution's test cell, hidden tests included, as the grader runs it: the library checked first."""
    cell = copy.deepcopy(solution_cell)
    cell.source = TEST_PROLOGUE + cell.source
    cell.outputs, cell.execution_count = [], None
    return cell


def _guard_cell():
    from nbformat.v4 import new_code_cell

    # the test cells' modules imported first, so that what they hold is recorded too
    source = f"from biobert_ner import {TEST_MODULES}\nanswer_guard.snapshot_library()  # the grader's: before any student code"
    cell = new_code_cell(source)
    cell["id"] = GUARD_CELL_ID
    return cell


def _anchor(student_cells, solution_cells, test_index: int) -> int:
    """Where a deleted test cell goes back: after the nearest earlier solution cell the student still has."""
    ids = {cell.get("id"): i for i, cell in enumerate(student_cells)}
    grade_ids = {_grade_id(cell): i for i, cell in enumerate(student_cells) if _grade_id(cell)}
    for cell in reversed(solution_cells[:test_index]):
        for key, index in ((_grade_id(cell), grade_ids), (cell.get("id"), ids)):
            if key and key in index:
                return index[key] + 1
    return len(student_cells)


def restore_test_cells(notebook, solution) -> Restoration:
    """Put back every test cell of ``solution`` into ``notebook`` (in place), as nbgrader's autograder does.

    A test cell is matched by its ``grade_id`` and replaced by the solution's, hidden tests
    included, whatever the student did to it; a deleted one is inserted after the cell that
    precedes it in the solution. A cell with a test's metadata that the solution does not have
    (or a second cell with the same ``grade_id``) loses that metadata: it runs, but counts for
    nothing. Points are the solution's.
    """
    restoration = Restoration()
    solution_tests = [(i, cell) for i, cell in enumerate(solution.cells) if is_test_cell(cell)]
    wanted = {_grade_id(cell) for _, cell in solution_tests}
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        grade_id = _grade_id(cell)
        if grade_id in wanted and grade_id not in seen and cell.cell_type == "code":
            seen.add(grade_id)  # the student's copy of a test: replaced below
            continue
        if grade_id not in wanted and not (nbgrader_metadata(cell).get("grade") and not is_solution_cell(cell)):
            continue  # the student's own work, or a written answer
        if grade_id not in wanted:
            reason = "no test of that name in the solution"
        elif cell.cell_type != "code":
            reason = f"a test cell turned into a {cell.cell_type} cell"
        else:
            reason = "a second cell with that grade_id"
        restoration.ignored.append(f"cell {cell.get('id', index)} (grade_id {grade_id or '(none)'}): {reason}")
        cell.metadata.pop("nbgrader", None)
    for solution_index, solution_cell in solution_tests:
        grade_id = _grade_id(solution_cell)
        points = float(nbgrader_metadata(solution_cell).get("points", 1) or 0)
        positions = [i for i, cell in enumerate(notebook.cells) if _grade_id(cell) == grade_id and cell.cell_type == "code"]
        if positions:
            position = positions[0]
            given = (_visible_source(solution_cell), solution_cell.source)  # the student's copy, or the solution's own
            reason = "" if notebook.cells[position].source in given else "edited"
            notebook.cells[position] = _graded_cell(solution_cell)
        else:
            reason = "deleted"
            notebook.cells.insert(_anchor(notebook.cells, solution.cells, solution_index), _graded_cell(solution_cell))
        restoration.tests[grade_id] = (points, reason)
    notebook.cells.insert(0, _guard_cell())
    return restoration
