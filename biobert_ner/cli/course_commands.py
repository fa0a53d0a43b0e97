"""``run-notebooks`` (execute the course notebooks), ``grade`` (an exercise notebook) and ``make-exercises``."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..grading import DEFAULT_TIMEOUT as GRADING_TIMEOUT
from ..notebook_runner import DEFAULT_TIMEOUT as NOTEBOOK_TIMEOUT
from .core import EXIT_FAILURE, EXIT_OK, register
from .errors import UsageError

# ---------------------------------------------------------------- run-notebooks


def add_run_notebooks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="notebooks to run, by number (04) or file name; default: all")
    parser.add_argument("--profile", choices=["quick", "full"], default=None,
                        help="course profile (default: $BIOBERT_NER_PROFILE, else quick)")
    parser.add_argument("--notebooks-dir", default=None, help="folder of the notebooks (default: the course's notebooks/)")
    parser.add_argument("--output-dir", default=None, help="where executed copies go (default: the course's build/notebooks)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="extra papermill parameter, e.g. -p epochs=3 (value read as Python literal when it is one)")
    parser.add_argument("--timeout", type=int, default=NOTEBOOK_TIMEOUT, help="seconds allowed per cell")
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first notebook that fails")
    parser.add_argument("--in-place", action="store_true",
                        help="re-execute the notebooks and store their outputs in the files themselves (quick profile)")
    parser.epilog = "Examples: 'run-notebooks' (all, quick profile), 'run-notebooks --profile full 06', 'run-notebooks --in-place 01 03'."


def parse_parameters(items: Sequence[str]) -> dict[str, Any]:
    """``-p NAME=VALUE`` flags as a dict; a value is a Python literal where it reads as one (``3``, ``1e-4``), else text."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"bad parameter {item!r}: expected NAME=VALUE")
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    return values


def run_run_notebooks(args: argparse.Namespace) -> int:
    """Exit status 1 when a notebook failed."""
    from ..notebook_runner import execute_in_place, notebook_paths, run_notebooks

    if args.in_place:
        if args.profile not in (None, "quick") or args.parameter:
            raise UsageError("--in-place stores quick-profile outputs; it takes no --profile full or -p")
        runs = execute_in_place(notebook_paths(args.notebooks_dir, args.names), timeout=args.timeout)
    else:
        runs = run_notebooks(
            args.notebooks_dir, args.output_dir, profile=args.profile, names=args.names,
            parameters=parse_parameters(args.parameter), timeout=args.timeout, stop_on_error=args.stop_on_error,
        )
    return EXIT_OK if all(run.ok for run in runs) else EXIT_FAILURE


# ---------------------------------------------------------------- grade


def add_grade(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="+", help="notebooks to grade (e.g. exercises/03_label_alignment.ipynb)")
    parser.add_argument("--timeout", type=int, default=GRADING_TIMEOUT, help="seconds allowed per cell")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("--save", metavar="FOLDER", help="also save each executed notebook into FOLDER")


def run_grade(args: argparse.Namespace) -> int:
    """Exit status 0 only when every test of every notebook passed."""
    from ..grading import grade_notebook

    missing = [name for name in args.notebooks if not Path(name).is_file()]
    if missing:
        raise UsageError(f"{', '.join(missing)}: no such notebook")
    reports = []
    for name in args.notebooks:
        saved = None
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            saved = Path(args.save) / Path(name).name
        report = grade_notebook(name, timeout=args.timeout, output=saved)
        reports.append(report)
        if not args.json:
            print(report, flush=True)
    if args.json:
        print(json.dumps([report.to_dict() for report in reports], indent=2))
    return EXIT_OK if all(report.passed for report in reports) else EXIT_FAILURE


# ---------------------------------------------------------------- make-exercises


def add_make_exercises(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--solutions", default=None, help="folder of solution notebooks (default: solutions/)")
    parser.add_argument("--exercises", default=None, help="output folder (default: exercises/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ is not what would be generated")


def run_make_exercises(args: argparse.Namespace) -> int:
    from ..grading import generate_exercises

    changed = generate_exercises(args.solutions, args.exercises, check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    if args.check and changed:
        print("exercises/ differs from what scripts/make_exercises.py generates: run it and commit the result", file=sys.stderr)
        return EXIT_FAILURE
    if not changed:
        print("exercises are up to date")
    return EXIT_OK


register("run-notebooks", "execute the course notebooks with papermill into build/notebooks", add_run_notebooks,
         run_run_notebooks, "Execute every course notebook (or the numbers given) headless with papermill, "
         "printing the time each one took; with --in-place, refresh the outputs stored in the notebooks.")
register("grade", "run an exercise notebook and grade its tests", add_grade, run_grade,
         "Execute an exercise notebook and report pass/fail for each exercise, with the checks' messages.")
register("make-exercises", "write exercises/ from solutions/ (nbgrader ClearSolutions)", add_make_exercises,
         run_make_exercises, "Generate the student notebooks in exercises/ from the solution notebooks in solutions/.")
