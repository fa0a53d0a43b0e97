"""Exercises: generated from the solutions (no drift, no leaks), graded by the autograder.

Fast tests check the files and the checking helpers; the slow ones run the autograder on every
solution notebook (everything passes) and every untouched exercise notebook (every test fails,
each with its own "not written yet" message).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from biobert_ner import checks, cli, grading, restoration

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"
SOLUTION_PATHS = grading.solution_paths(SOLUTIONS)
COURSE_NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code_lines(text: str) -> list[str]:
    """Meaningful lines of code: stripped, without blanks and comments."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


# ---------------------------------------------------------------- the files


def test_solutions_exist_for_chapters_01_to_07():
    names = [path.name for path in SOLUTION_PATHS]
    for number in range(1, 8):
        assert any(name.startswith(f"{number:02d}_") for name in names), f"no solution notebook for chapter {number:02d}"
    for name in names:
        assert name in COURSE_NOTEBOOKS, f"solutions/{name} is named after no course notebook ({COURSE_NOTEBOOKS})"


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_exercise_is_what_the_generator_makes(solution):
    exercise = EXERCISES / solution.name
    assert exercise.is_file(), f"{exercise} is missing: run python scripts/make_exercises.py"
    assert exercise.read_text(encoding="utf-8") == grading.exercise_text(solution), (
        f"exercises/{solution.name} differs from what scripts/make_exercises.py generates from solutions/{solution.name}: "
        "run the script and commit the result (edit solutions, never exercises)"
    )


def test_no_exercise_without_a_solution():
    assert grading.generate_exercises(SOLUTIONS, EXERCISES, check=True) == []


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_solution_notebooks_are_well_formed(solution):
    notebook = _read(solution)
    nbformat.validate(notebook)
    solution_cells = [cell for cell in notebook.cells if restoration.is_solution_cell(cell)]
    code_solutions = [cell for cell in solution_cells if cell.cell_type == "code"]
    test_cells = [cell for cell in notebook.cells if restoration.is_test_cell(cell)]
    assert code_solutions and test_cells, "a solution notebook needs solution cells and test cells (nbgrader metadata)"
    assert len(code_solutions) <= len(test_cells), "every exercise needs its own test cell"
    ids = [restoration.nbgrader_metadata(cell)["grade_id"] for cell in solution_cells + test_cells]
    assert len(ids) == len(set(ids)), f"grade_ids must be unique: {ids}"
    for cell in solution_cells:
        assert grading.BEGIN_SOLUTION in cell.source and grading.END_SOLUTION in cell.source
    for cell in solution_cells:
        if cell.cell_type == "markdown":  # a written answer: nbgrader's "manually graded answer"
            meta = restoration.nbgrader_metadata(cell)
            assert meta.get("grade") and meta.get("points", 0) > 0, f"written answer {meta.get('grade_id')} needs grade: true and points"
    for cell in test_cells:
        assert restoration.nbgrader_metadata(cell).get("points", 0) > 0
        assert "check_against" in cell.source, "test cells compare with the library through checks.check_against"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, "solution notebooks are stored without outputs"


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_no_solution_code_leaks_into_the_exercise(solution):
    exercise = _read(EXERCISES / solution.name)
    text = nbformat.writes(exercise)
    assert grading.BEGIN_SOLUTION not in text and grading.END_SOLUTION not in text
    student_cells = {cell.get("id"): cell.source for cell in exercise.cells if restoration.is_solution_cell(cell)}
    cell_types = {cell.get("id"): cell.cell_type for cell in exercise.cells}
    for cell_id, region in grading.solution_regions(_read(solution)):
        left = set(_code_lines(student_cells[cell_id]))
        leaked = [line for line in _code_lines(region) if line in left and line not in ("pass", "return result")]
        assert not leaked, f"solution code of cell {cell_id} is in the exercise: {leaked}"
        stub = "raise NotImplementedError()" if cell_types[cell_id] == "code" else "YOUR ANSWER HERE"
        assert stub in student_cells[cell_id]


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_exercises_have_no_outputs_and_keep_the_visible_tests(solution):
    exercise, original = _read(EXERCISES / solution.name), _read(solution)
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    given = [cell.source for cell in exercise.cells if restoration.is_test_cell(cell)]
    assert given == [restoration._visible_source(cell) for cell in original.cells if restoration.is_test_cell(cell)], (
        "test cells must reach the students unchanged, less their hidden tests"
    )


def test_generation_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    grading.generate_exercises(SOLUTIONS, first)
    grading.generate_exercises(SOLUTIONS, second)
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes()
    assert grading.generate_exercises(SOLUTIONS, first, check=True) == []


# ---------------------------------------------------------------- the checking helpers (more in test_feedback.py)


def test_check_against_passes_and_counts(capsys):
    assert checks.check_against(lambda x: x * 2, lambda x: x + x, [(1,), (2,), (3,)], name="double") == 3
    assert "ok: double agrees with" in capsys.readouterr().out


def test_check_against_names_the_failing_input():
    with pytest.raises(AssertionError) as error:
        checks.check_against(lambda x: x * 2, lambda x: x * 2 if x != 3 else 7, [(1,), (3,)], name="double")
    assert str(error.value) == "double(3)\n  returned 6, expected 7"


def test_check_against_says_when_nothing_is_written_yet():
    def student(x):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not written yet"):
        checks.check_against(student, abs, [(1,)])


def test_check_against_reports_exceptions_of_the_student_function():
    with pytest.raises(AssertionError, match=r"f\(0\)\n  raised ZeroDivisionError"):
        checks.check_against(lambda x: 1 / x, abs, [(0,)], name="f")


def test_check_against_is_still_reachable_from_grading():
    """Exercise notebooks saved before ``checks`` existed call ``grading.check_against``."""
    assert grading.check_against is checks.check_against


# ---------------------------------------------------------------- the autograder (runs notebooks)


def _tiny_notebook(path: Path, answer: str) -> Path:
    from nbformat.v4 import new_code_cell, new_notebook

    meta = lambda **kw: {"nbgrader": {"schema_version": 3, "locked": False, "task": False, **kw}}  # noqa: E731
    notebook = new_notebook(
        cells=[
            new_code_cell("from biobert_ner import checks"),
            new_code_cell(f"def square(x):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION", metadata=meta(solution=True, grade=False, grade_id="square")),
            new_code_cell(
                "print('checking square on 2 and 3')\n"
                "checks.check_against(square, lambda x: x * x, [(2,), (3,)], name='square')",
                metadata=meta(solution=False, grade=True, grade_id="test_square", points=1),
            ),
            new_code_cell("assert True", metadata=meta(solution=False, grade=True, grade_id="test_free", points=2)),
        ]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_grade_notebook_reports_each_test(tmp_path, capfd):
    right = grading.grade_notebook(_tiny_notebook(tmp_path / "right.ipynb", "return x * x"))
    assert right.passed and right.score == 3 and right.max_score == 3
    wrong = grading.grade_notebook(_tiny_notebook(tmp_path / "wrong.ipynb", "return x + x"))
    assert not wrong.passed and wrong.score == 2
    failed = wrong.result("test_square")
    assert not failed.passed and "square(3)" in failed.message and "expected 9" in failed.message
    assert failed.printed == "checking square on 2 and 3"  # what the test cell printed reaches the report
    assert wrong.result("test_free").passed
    assert "FAIL  test_square" in str(wrong) and "printed: checking square on 2 and 3" in str(wrong)
    assert capfd.readouterr().err == "", "a grade run prints nothing on stderr (no kernel or Jupyter warnings)"


@pytest.mark.slow
def test_grade_command_exit_status(tmp_path, capsys):
    right = _tiny_notebook(tmp_path / "right.ipynb", "return x * x")
    wrong = _tiny_notebook(tmp_path / "wrong.ipynb", "raise NotImplementedError()")
    assert cli.main(["grade", str(right)]) == 0
    assert cli.main(["grade", str(right), str(wrong)]) == 1
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_autograder_passes_the_solution(solution):
    report = grading.grade_notebook(solution)
    assert report.results, f"{solution.name}: no test cells found"
    assert report.passed, str(report)
    assert not report.other_errors, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_autograder_fails_every_test_of_the_untouched_exercise(solution):
    report = grading.grade_notebook(EXERCISES / solution.name)
    assert report.results, f"{solution.name}: no test cells found"
    assert not report.other_errors, str(report)  # only the student's cells may fail
    for result in report.results:
        assert not result.passed, f"{result.grade_id} passes without any code written: the test checks nothing"
        assert re.search(r"not written yet", result.message), f"{result.grade_id}: unhelpful message {result.message!r}"
