"""Grading a teacher can trust: each way of passing without doing the exercise scores 0, with a reason.

The fast tests take the grader's steps one at a time on real notebooks without running them
(test cells put back from ``solutions/``, hidden tests kept out of ``exercises/``) and the
checks on the student's code and answers; the slow ones grade exercise 02 as a student would
hand it in: once with a cheat in every exercise, once with the solution (full marks).
"""

from __future__ import annotations

import ast
import copy
import re
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from biobert_ner import alignment, answer_guard, checks, course_corpus, data, exercise_references, grading, pretokenize, restoration, schemes

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"
SOLUTION_PATHS = grading.solution_paths(SOLUTIONS)
ANNOTATION = "02_biomedical_ner_data.ipynb"
NOTHING_TO_FORBID = {"my_annotations"}  # no library function knows the answer: its gold is only in the hidden test


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _cell(notebook, cell_id: str):
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def _refusal(student, reference, cases, name: str) -> str:
    with pytest.raises(answer_guard.RefusedAnswer) as refused:
        checks.check_against(student, reference, cases, name=name)
    return str(refused.value)


# ---------------------------------------------------------------- calling the library under test


SPANS_LINE = "write entity_spans yourself; schemes.spans_from_tags is what it is checked against"


def test_entity_spans_as_one_call_to_the_library_is_refused_with_a_clear_line():
    def entity_spans(tags):
        return [(span.start, span.end, span.type) for span in schemes.spans_from_tags(tags)]

    assert _refusal(entity_spans, exercise_references.entity_spans_reference, [(["B-Gene"],)], "entity_spans") == SPANS_LINE


NOTEBOOK_CHEATS = """
import functools

from biobert_ner import schemes
from biobert_ner.schemes import spans_from_tags as alias


def imported_inside(tags):
    from biobert_ner.schemes import spans_from_tags

    return spans_from_tags(tags)


def through_a_local(tags):
    module = schemes
    return module.spans_from_tags(tags)


def helper(tags):
    return schemes.spans_from_tags(tags)


def calls_a_helper(tags):
    return [tuple(vars(span).values()) for span in helper(tags)]


class Spans:
    def __call__(self, tags):
        return helper(tags)


cheats = {
    "the function itself": schemes.spans_from_tags,
    "an alias imported in another cell": lambda tags: alias(tags),
    "imported inside": imported_inside,
    "through a local variable": through_a_local,
    "a helper of the notebook": calls_a_helper,
    "a default argument": lambda tags, read=schemes.spans_from_tags: read(tags),
    "functools.partial": functools.partial(schemes.spans_from_tags),
    "a callable object": Spans(),
    "in a comprehension": lambda tags: [span for span in schemes.spans_from_tags(tags)],
    "seqeval's reader": lambda tags: __import__("seqeval.metrics.sequence_labeling").metrics.sequence_labeling.get_entities(tags),
}
"""


def _run_as_notebook(source: str) -> dict:
    """The namespace ``source`` leaves when run as a notebook's cells are (module ``__main__``)."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<notebook>", "exec"), namespace)
    return namespace


def test_the_library_call_is_found_however_it_is_reached():
    for label, cheat in _run_as_notebook(NOTEBOOK_CHEATS)["cheats"].items():
        assert answer_guard.forbidden_call(cheat, "entity_spans"), f"{label}: not refused"
    seqeval = _run_as_notebook(NOTEBOOK_CHEATS)["cheats"]["seqeval's reader"]
    assert "seqeval.metrics.sequence_labeling.get_entities" in answer_guard.forbidden_call(seqeval, "entity_spans")


def test_copying_a_reference_the_test_compares_with_is_refused():
    copied = lambda tags: exercise_references.entity_spans_reference(tags)  # noqa: E731
    assert "exercise_references.entity_spans_reference, which does the exercise for it" in _refusal(
        copied, exercise_references.entity_spans_reference, [(["O"],)], "entity_spans")
    formula = lambda runs: exercise_references.seed_sd_reference(runs)  # noqa: E731
    assert answer_guard.forbidden_call(formula, "seed_sd") == (
        "write seed_sd yourself; exercise_references.seed_sd_reference is what it is checked against")


def test_a_tokenizer_in_place_of_wordpiece_and_torch_in_place_of_the_bits_are_refused(minilm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    assert answer_guard.forbidden_call(lambda word: tokenizer.tokenize(word), "wordpiece") == (
        "write wordpiece yourself; transformers.PreTrainedTokenizerBase is what it is checked against")
    assert answer_guard.forbidden_call(lambda values: torch.from_numpy(values).to(torch.bfloat16).float().numpy(), "to_bfloat16") == (
        "write to_bfloat16 yourself; torch is what it is checked against")


def _solution_functions(path: Path) -> dict[str, object]:
    """The functions the solution cells of a notebook define, in one namespace as a kernel would hold them."""
    namespace = {"__name__": "__main__", "np": np, "torch": torch, "schemes": schemes, "alignment": alignment, "Counter": Counter,
                 "math": __import__("math")}
    functions = {}
    for cell in _read(path).cells:
        if restoration.is_solution_cell(cell) and cell.cell_type == "code":
            tree = ast.parse(cell.source)
            tree.body = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom))]  # not the calls
            exec(compile(tree, f"{path.name}:{cell.get('id')}", "exec"), namespace)
            functions.update({node.name: namespace[node.name] for node in tree.body if isinstance(node, ast.FunctionDef)})
    return functions


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_every_exercise_has_its_forbidden_calls_and_the_solution_uses_none(solution):
    for name, function in _solution_functions(solution).items():
        assert name in answer_guard.FORBIDDEN_CALLS or name in NOTHING_TO_FORBID, f"{name}: no entry in answer_guard.FORBIDDEN_CALLS"
        assert answer_guard.forbidden_call(function, name) is None, f"the solution of {name} is refused"


def test_every_forbidden_name_points_at_something():
    """A renamed module or function must be renamed in the table too, or its exercise stops refusing it."""
    optional = {"ml_dtypes"}  # not a dependency: forbidden in case a student installs it
    missing = [dotted for names in answer_guard.FORBIDDEN_CALLS.values() for dotted in names
               if dotted not in optional and answer_guard._resolve(dotted) is answer_guard._MISSING]
    assert not missing, f"FORBIDDEN_CALLS names what does not exist: {missing}"


# ---------------------------------------------------------------- answers that are not data


def test_an_object_equal_to_everything_is_refused():
    always_equal = _run_as_notebook("class AlwaysEqual:\n    def __eq__(self, other):\n        return True")["AlwaysEqual"]
    message = _refusal(lambda tags: always_equal(), exercise_references.entity_spans_reference, [(["B-Gene"],)], "entity_spans")
    assert message == ("entity_spans returned an object of AlwaysEqual, a class of your own: return plain values "
                       "(lists, tuples, dicts, strings, numbers, arrays)")


def test_a_built_in_subclass_is_compared_as_the_built_in():
    class Agreeable(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    class Long(list):
        def __len__(self):
            return 1

    with pytest.raises(AssertionError, match=r"returned 'I-Gene', expected 'B-Gene'"):
        checks.check_against(lambda tags: [Agreeable("I-Gene")], lambda tags: ["B-Gene"], [(["I-Gene"],)], name="iob1_to_iob2")
    with pytest.raises(AssertionError, match="returned 2 items, expected 1"):
        checks.check_against(lambda tags: Long([(0, 1, "Gene"), (1, 2, "Gene")]), exercise_references.entity_spans_reference,
                             [(["B-Gene"],)], name="entity_spans")
    assert type(answer_guard.plain_value({"a": Long([1])})["a"]) is list


# ---------------------------------------------------------------- a patched library


def test_a_replaced_library_function_is_named_and_nothing_is_graded(monkeypatch):
    monkeypatch.setattr(answer_guard, "_LIBRARY", {})
    with pytest.raises(answer_guard.RefusedAnswer, match="not recorded"):
        answer_guard.verify_library()
    assert answer_guard.snapshot_library() > 100
    answer_guard.verify_library()
    monkeypatch.setattr(checks, "check_against", lambda *args, **kwargs: 0)
    monkeypatch.setattr(schemes, "spans_from_tags", lambda tags: [])
    with pytest.raises(answer_guard.RefusedAnswer) as refused:
        answer_guard.verify_library()
    assert str(refused.value) == ("a cell of this notebook replaced checks.check_against, schemes.spans_from_tags: the tests compare "
                                  "with the library as it is, so none of them can be graded")
    monkeypatch.undo()
    monkeypatch.setattr(answer_guard, "_LIBRARY", {})
    answer_guard.snapshot_library()
    import biobert_ner

    monkeypatch.setattr(biobert_ner, "checks", __import__("types").SimpleNamespace(check_against=lambda *args, **kwargs: 0))
    with pytest.raises(answer_guard.RefusedAnswer, match=r"replaced biobert_ner\.checks: "):
        answer_guard.verify_library()


def test_a_replaced_reference_is_named_too(monkeypatch):
    """The references live in their own module: the grader's first cell imports it, so it is recorded with the rest."""
    assert "exercise_references" in restoration._guard_cell().source and "exercise_references" in restoration.TEST_PROLOGUE
    monkeypatch.setattr(answer_guard, "_LIBRARY", {})
    answer_guard.snapshot_library()
    monkeypatch.setattr(exercise_references, "entity_spans_reference", lambda tags: [])
    with pytest.raises(answer_guard.RefusedAnswer, match=r"replaced exercise_references\.entity_spans_reference: "):
        answer_guard.verify_library()


# ---------------------------------------------------------------- test cells put back from solutions/


def _student_copy(name: str = ANNOTATION):
    return _read(EXERCISES / name)


def test_edited_deleted_and_invented_test_cells_do_not_count():
    notebook, solution = _student_copy(), _read(SOLUTIONS / ANNOTATION)
    _cell(notebook, "test_iob1_to_iob2").source = "pass"
    _cell(notebook, "test_dictionary_tags").source = "assert True"
    _cell(notebook, "test_spans").metadata["nbgrader"]["points"] = 50
    notebook.cells.remove(_cell(notebook, "test_memorise_mentions"))
    fake = nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 10, "solution": False}})
    fake["id"] = "bonus"
    twin = copy.deepcopy(_cell(notebook, "test_my_annotations"))
    twin["id"], twin.source = "twin", "pass"
    notebook.cells += [fake, twin]
    restored = restoration.restore_test_cells(notebook, solution)
    assert restored.tests == {"test_spans": (1.0, ""), "test_iob1_to_iob2": (1.0, "edited"), "test_memorise_mentions": (1.0, "deleted"),
                                 "test_dictionary_tags": (2.0, "edited"), "test_my_annotations": (2.0, "")}
    assert restored.ignored == ["cell bonus (grade_id bonus): no test of that name in the solution",
                                   "cell twin (grade_id test_my_annotations): a second cell with that grade_id"]
    tests = [cell for cell in notebook.cells if restoration.is_test_cell(cell)]
    solution_tests = [cell for cell in solution.cells if restoration.is_test_cell(cell)]
    assert [restoration._grade_id(cell) for cell in tests] == [restoration._grade_id(cell) for cell in solution_tests]
    for cell in tests:
        original = next(c for c in solution.cells if restoration._grade_id(c) == restoration._grade_id(cell))
        assert cell.source == restoration.TEST_PROLOGUE + original.source and grading.BEGIN_HIDDEN_TESTS in cell.source
    ids = [cell.get("id") for cell in notebook.cells]
    assert ids[0] == restoration.GUARD_CELL_ID
    assert ids.index("test_memorise_mentions") == ids.index("memorise_mentions") + 1  # back where it was, after its exercise


def test_a_report_says_which_test_cells_were_restored():
    results = [grading.ExerciseResult("test_iob1_to_iob2", False, 1, "iob1_to_iob2(['I-Gene'])\n  returned 'I-Gene'", restored="edited")]
    report = grading.GradeReport("exercises/02.ipynb", results, solution="solutions/02.ipynb", ignored=["cell bonus (grade_id bonus): ..."])
    assert str(report).splitlines()[1:4] == [
        "  tests as in solutions/02.ipynb (hidden tests included)",
        "  FAIL  test_iob1_to_iob2 (1 pt)  [test cell restored from the solution: yours was edited]",
        "        iob1_to_iob2(['I-Gene'])",
    ]
    assert "  not counted: cell bonus (grade_id bonus): ..." in str(report)
    assert report.to_dict()["results"][0]["restored"] == "edited"


def test_an_exercise_finds_its_solution_and_a_solution_is_graded_as_it_is():
    assert restoration.solution_of(EXERCISES / ANNOTATION, _student_copy()) == SOLUTIONS / ANNOTATION
    assert restoration.solution_of(SOLUTIONS / ANNOTATION, _read(SOLUTIONS / ANNOTATION)) is None


# ---------------------------------------------------------------- hidden tests, references, the annotators' answers


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_hidden_tests_stay_out_of_the_exercise(solution):
    tests = [cell for cell in _read(solution).cells if restoration.is_test_cell(cell)]
    assert any(grading.BEGIN_HIDDEN_TESTS in cell.source for cell in tests), f"{solution.name} has no hidden tests"
    text = (EXERCISES / solution.name).read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in text


REFERENCE_IN_SIGHT = re.compile(r"^\s*(def \w*reference\w*|reference\w* *=|def (?:default|strict)_entities|def facts_from_files)", re.M)


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_no_reference_is_written_out_in_a_visible_cell(solution):
    for cell in _read(EXERCISES / solution.name).cells:
        if restoration.is_test_cell(cell):
            found = REFERENCE_IN_SIGHT.findall(cell.source)
            assert not found, f"{solution.name} cell {cell.get('id')}: a reference in sight of the answer: {found}"


def _graded_sentences() -> list[str]:
    """The annotators' markup of the sentences exercise 02.4 grades: from the hidden test of the solution."""
    source = _cell(_read(SOLUTIONS / ANNOTATION), "test_my_annotations").source
    hidden = source.split(grading.BEGIN_HIDDEN_TESTS)[1].split(grading.END_HIDDEN_TESTS)[0]
    return [line for line in re.findall(r"'([^'\n]*\]\{[A-Za-z]+\}[^'\n]*)'", hidden)]


def test_the_annotation_exercise_grades_sentences_whose_gold_the_student_does_not_have():
    gold = _graded_sentences()
    assert len(gold) == 5
    bundled = data.load_data("bundled")
    known = {course_corpus.normalized_text(sentence.tokens) for split in bundled.values() for sentence in data.sentences_from_dataset(split)}
    files = "\n".join(path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "biobert_ner" / "corpus_data").rglob("*"))
                      if path.is_file() and path.suffix in (".txt", ".tsv", ".md"))
    exercise = (EXERCISES / ANNOTATION).read_text(encoding="utf-8")
    for line in gold:
        words, tags = course_corpus.parse_markup_line(line)
        text = re.sub(r"\[([^\]]*)\]\{\w+\}", r"\1", line)
        assert course_corpus.normalized_text(words) not in known, f"in the course corpus: {text}"
        assert text not in files and line not in files
        assert line not in exercise and json_string(text) in exercise  # the student gets the sentence, not its answer
        assert any(tag != "O" for tag in tags) and pretokenize.split_words(text) == words


def json_string(text: str) -> str:
    import json

    return json.dumps(text)[1:-1]


# ---------------------------------------------------------------- whole notebooks, graded as handed in


CHEATS = {  # solution cell -> the body a cheating student writes there
    "spans": "return [(span.start, span.end, span.type) for span in schemes.spans_from_tags(tags)]",
    "iob1_to_iob2": "import types\nglobals()['checks'] = types.SimpleNamespace(check_against=lambda *args, **kwargs: 0)\nreturn list(tags)",
    "memorise_mentions": "raise NotImplementedError()",
    "dictionary_tags": "return ['O'] * len(words)",
    "my_annotations": "return list(to_annotate)",
}


def _handed_in(cheat: bool):
    """Exercise 02 with each solution region filled: the solution's code, or a cheat (and the test cells tampered with)."""
    solution, notebook = _read(SOLUTIONS / ANNOTATION), _student_copy()
    regions = dict(grading.solution_regions(solution))
    for cell in notebook.cells:
        if restoration.is_solution_cell(cell) and cell.cell_type == "code":
            body = CHEATS[cell["id"]] if cheat else regions[cell["id"]].strip("\n")
            indent = "    " if cheat else ""
            cell.source = re.sub(r"^( *)# YOUR CODE HERE\n *raise NotImplementedError\(\)",
                                 lambda m: "\n".join(indent + line if line else line for line in body.splitlines()), cell.source, flags=re.M)
    if cheat:
        _cell(notebook, "test_iob1_to_iob2").source = "pass"
        _cell(notebook, "test_dictionary_tags").source = "assert True"
        notebook.cells.remove(_cell(notebook, "test_memorise_mentions"))
        index = notebook.cells.index(_cell(notebook, "test_my_annotations"))
        notebook.cells.insert(index, nbformat.v4.new_code_cell("checks.check_against = lambda *args, **kwargs: 0  # every check passes"))
        notebook.cells.append(nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 10}}))
    return notebook


@pytest.mark.slow
def test_every_cheat_in_exercise_02_scores_zero_with_a_reason(tmp_path):
    path = tmp_path / ANNOTATION
    nbformat.write(_handed_in(cheat=True), str(path))
    report = grading.grade_notebook(path, solution=SOLUTIONS / ANNOTATION)
    print(report)  # pytest -rA shows it: the sample report of the grading notes
    assert (report.score, report.max_score) == (0, 7), str(report)
    reasons = {
        "test_spans": ("", SPANS_LINE),
        "test_iob1_to_iob2": ("edited", "(IOB1 tag 'I-Chemical' after 'O'): returned 'I-Chemical', expected 'B-Chemical'"),
        "test_memorise_mentions": ("deleted", "not written yet"),
        "test_dictionary_tags": ("edited", "returned 'O', expected"),
        "test_my_annotations": ("", "a cell of this notebook replaced checks.check_against"),
    }
    for grade_id, (restored, reason) in reasons.items():
        result = report.result(grade_id)
        assert not result.passed and result.restored == restored, str(report)
        assert reason in result.message, f"{grade_id}: {result.message}"
    assert len(report.ignored) == 1 and report.ignored[0].endswith("(grade_id bonus): no test of that name in the solution")
    assert "[test cell restored from the solution: yours was deleted]" in str(report)


@pytest.mark.slow
def test_the_solution_handed_in_as_an_exercise_gets_full_marks(tmp_path):
    path = tmp_path / ANNOTATION
    nbformat.write(_handed_in(cheat=False), str(path))
    report = grading.grade_notebook(path, solution=SOLUTIONS / ANNOTATION)
    assert report.passed and report.score == report.max_score == 7, str(report)
    assert not report.ignored and not report.other_errors and not any(result.restored for result in report.results), str(report)
