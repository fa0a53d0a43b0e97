"""Checks for the exercises' test cells: compare a student's function with the library's.

A failed check must say what to fix without the solution at hand, so every comparison here
explains a difference instead of printing two values to compare by eye: a sequence's first
differing position with what the input holds there and a few neighbours; a tensor's shape,
dtype or largest difference and where it is (never the tensor in full); the keys of a dict or
state dict that are missing, extra or different; the parameters (by name) of optimizer groups
that are missing or decayed wrongly; the entities of a sentence missed, added, bounded or
typed differently, in words.

:func:`check_against` runs the cases and raises an ``AssertionError`` whose message is the
feedback; the grader (:mod:`biobert_ner.grading`) shows it under the exercise.
"""

from __future__ import annotations

import numbers
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .answer_guard import RefusedAnswer, forbidden_call, plain_value

MAX_NAMED = 3  # items named in full in a report; the rest are counted
NEIGHBOURS = 3  # items shown on each side of a sequence's first difference
Context = Callable[[tuple, int], str]  # (the case's arguments, output position) -> what the input holds there


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _one_line(value: Any, limit: int = 120) -> str:
    """A value in one short line: arrays and models by their shape or class, never in full."""
    if _is_array(value):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if hasattr(value, "named_parameters"):
        return f"a {type(value).__name__} model"
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listed(header: str, items: Sequence[str]) -> list[str]:
    """``header``, then the first few items one per line (indented), the rest counted: reports stay short.

    No items, no lines: a report lists only the problems there are.
    """
    if not items:
        return []
    lines = [header] + [f"  {item}" for item in items[:MAX_NAMED]]
    return lines + ([f"  ... and {len(items) - MAX_NAMED} more"] if len(items) > MAX_NAMED else [])


def _key_lines(actual: Mapping, expected: Mapping, show: Callable[[Any], str] = str) -> list[str]:
    """The keys of ``expected`` that ``actual`` lacks, then those it has and should not."""
    missing = [show(key) for key in expected if key not in actual]
    extra = [show(key) for key in actual if key not in expected]
    return _listed(f"{_count(len(missing), 'key')} missing:", missing) + _listed(f"{_count(len(extra), 'key')} not expected:", extra)


# ---------------------------------------------------------------- numbers, arrays, tensors


def _is_array(value: Any) -> bool:
    """A NumPy array or a torch tensor (``Parameter`` included), without importing torch."""
    return isinstance(value, np.ndarray) or (type(value).__module__.startswith("torch") and hasattr(value, "shape"))


def _as_numpy(array: Any) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return array
    return array.detach().cpu().double().numpy()  # bfloat16 has no NumPy dtype: compare in float64


def number_difference(actual: Any, expected: Any, *, tolerance: float = 0.0) -> str | None:
    """``None`` when two numbers agree within ``tolerance``; else both, and by how much they differ."""
    if not isinstance(actual, numbers.Number):
        return f"returned {_one_line(actual)} (a {type(actual).__name__}), expected the number {expected!r}"
    gap = abs(actual - expected)
    if gap <= tolerance or actual == expected:
        return None
    exact = all(isinstance(value, (numbers.Integral, bool)) for value in (actual, expected))
    return f"returned {actual!r}, expected {expected!r}" + ("" if exact else f" (off by {gap:.3g})")


@dataclass(frozen=True)
class ArrayGap:
    """Where two same-shaped arrays differ: how many values, the largest gap and its position."""

    count: int
    total: int
    largest: float
    index: tuple[int, ...]
    got: float
    wanted: float

    def __str__(self) -> str:
        where = "[" + ", ".join(map(str, self.index)) + "]"
        return (
            f"{self.count} of {self.total} values differ; largest absolute difference {self.largest:.3g} "
            f"at {where}: returned {self.got:.6g}, expected {self.wanted:.6g}"
        )


def array_gap(actual: Any, expected: Any, *, tolerance: float = 0.0) -> str | ArrayGap | None:
    """``None`` when equal within ``tolerance``; a message when shapes or dtypes differ; else an :class:`ArrayGap`."""
    if not _is_array(actual):
        return f"returned {type(actual).__name__}, expected a {type(expected).__name__} of shape {tuple(expected.shape)}"
    if tuple(actual.shape) != tuple(expected.shape):
        return f"returned shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    if str(actual.dtype) != str(expected.dtype):
        return f"returned dtype {actual.dtype}, expected {expected.dtype}"
    got, wanted = _as_numpy(actual), _as_numpy(expected)
    bad = ~np.isclose(got, wanted, rtol=0.0, atol=tolerance, equal_nan=True)
    if not bad.any():
        return None
    gaps = np.where(bad, np.nan_to_num(np.abs(got - wanted), nan=np.inf), 0.0)
    index = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    return ArrayGap(int(bad.sum()), int(bad.size), float(gaps[index]), tuple(map(int, index)), float(got[index]), float(wanted[index]))


def tensor_difference(actual: Any, expected: Any, *, tolerance: float = 0.0) -> str | None:
    """``None`` when two tensors (or arrays) agree within ``tolerance`` (absolute); else where they differ."""
    gap = array_gap(actual, expected, tolerance=tolerance)
    return None if gap is None else str(gap)


def state_dict_difference(actual: Any, expected: Mapping[str, Any], *, tolerance: float = 0.0) -> str | None:
    """``None`` when two name -> tensor dicts agree; else the keys that differ, largest difference first."""
    if not isinstance(actual, Mapping):
        return f"returned {type(actual).__name__}, expected a dict of {len(expected)} tensors"
    lines = _key_lines(actual, expected)
    gaps = {key: array_gap(actual[key], value, tolerance=tolerance) for key, value in expected.items() if key in actual}
    largest = lambda key: getattr(gaps[key], "largest", float("inf"))  # noqa: E731 - a message (wrong shape) comes first
    different = sorted((key for key, gap in gaps.items() if gap is not None), key=largest, reverse=True)
    header = f"{len(different)} of {_count(len(expected), 'tensor')} differ" + (f" by more than {tolerance:g}" if tolerance else "")
    lines += _listed(header + ", largest difference first:", [f"{key} {tuple(expected[key].shape)}: {gaps[key]}" for key in different])
    return "\n".join(lines) or None


# ---------------------------------------------------------------- sequences


def sequence_difference(
    actual: Any, expected: Sequence, *, tolerance: float = 0.0, context: Callable[[int], str] | None = None
) -> str | None:
    """``None`` when two sequences agree item by item; else their first difference and how many differ.

    ``context(i)`` says what the input holds at position ``i`` (a token, a word id...), so the
    report can be read without running anything.
    """
    if not isinstance(actual, (list, tuple)):  # a list for a tuple is fine: only the items are compared
        return f"returned {_one_line(actual)} (a {type(actual).__name__}), expected a {type(expected).__name__}"
    length = max(len(actual), len(expected))
    differ = [i for i in range(length) if i >= min(len(actual), len(expected)) or difference(actual[i], expected[i], tolerance=tolerance)]
    if not differ:
        return None
    first = differ[0]
    where = f"position {first}" + (f" ({context(first)})" if context and first < len(expected) else "")
    lines = []
    if len(actual) != len(expected):
        lines = [f"returned {_count(len(actual), 'item')}, expected {len(expected)}"] + _unmatched(actual, expected)
    lines.append(f"first difference at {where}: {_item_difference(actual, expected, first, tolerance)}")
    lines.append(f"{len(differ)} of {length} positions differ" if len(differ) > 1 else f"only position {first} differs")
    return "\n".join(lines + _neighbourhood(actual, expected, first))


def _unmatched(actual: Sequence, expected: Sequence) -> list[str]:
    """Items only one side has, when the rest lines up: an item too many or too few, not a different one."""
    from difflib import SequenceMatcher

    matcher = SequenceMatcher(None, list(map(repr, actual)), list(map(repr, expected)), autojunk=False)
    extra, missing = [], []
    for operation, a_start, a_end, e_start, e_end in matcher.get_opcodes():
        if operation in ("delete", "replace"):
            extra += [f"position {i}: {_one_line(actual[i], 80)}" for i in range(a_start, a_end)]
        if operation in ("insert", "replace"):
            missing += [f"position {i}: {_one_line(expected[i], 80)}" for i in range(e_start, e_end)]
    if len(extra) + len(missing) >= len(actual) + len(expected):  # nothing lines up: no use listing it all
        return []
    lines = []
    for label, items in (("not expected", extra), ("missing", missing)):
        if items:
            more = f"; and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else ""
            lines.append(f"{label}: {'; '.join(items[:MAX_NAMED])}{more}")
    return lines


def _item_difference(actual: Sequence, expected: Sequence, i: int, tolerance: float) -> str:
    if i >= len(actual):
        return f"returned nothing (the list ends), expected {_one_line(expected[i])}"
    if i >= len(expected):
        return f"returned {_one_line(actual[i])}, expected nothing (the list should end there)"
    inner = difference(actual[i], expected[i], tolerance=tolerance) or ""
    if "\n" in inner or isinstance(expected[i], (list, tuple)):
        return f"returned {_one_line(actual[i])}, expected {_one_line(expected[i])}"
    return inner


def _neighbourhood(actual: Sequence, expected: Sequence, first: int, width: int = 160) -> list[str]:
    """Both sequences in full if short, else the few items around the first difference that fit in ``width``."""
    if len(repr(actual)) <= width and len(repr(expected)) <= width:
        return [f"returned {actual!r}", f"expected {expected!r}"]
    for radius in range(NEIGHBOURS, 0, -1):
        start, end = max(0, first - radius), first + radius + 1
        shown = [repr(list(actual[start:end])), repr(list(expected[start:end]))]
        if max(map(len, shown)) <= width:
            label = f"positions {start}-{min(end, max(len(actual), len(expected))) - 1}:"
            return [f"{label} returned {shown[0]}", f"{' ' * len(label)} expected {shown[1]}"]
    return []  # items too long to show neighbours: the first difference says it all


# ---------------------------------------------------------------- any value


def difference(actual: Any, expected: Any, *, tolerance: float = 0.0, context: Callable[[int], str] | None = None) -> str | None:
    """``None`` when ``actual`` agrees with ``expected``; else a short explanation of the difference.

    Numbers, tensors and arrays agree within ``tolerance`` (absolute); sequences item by item;
    a dict of tensors key by key; anything else with ``==``.
    """
    if isinstance(expected, numbers.Number) and not isinstance(expected, bool):
        return number_difference(actual, expected, tolerance=tolerance)
    if _is_array(expected):
        return tensor_difference(actual, expected, tolerance=tolerance)
    if isinstance(expected, Mapping) and expected and all(_is_array(value) for value in expected.values()):
        return state_dict_difference(actual, expected, tolerance=tolerance)
    if isinstance(expected, (list, tuple)):
        return sequence_difference(actual, expected, tolerance=tolerance, context=context)
    return None if actual == expected else f"returned {_one_line(actual, 300)}, expected {_one_line(expected, 300)}"


# ---------------------------------------------------------------- optimizer parameter groups


def parameter_names(*models: Any) -> dict[int, str]:
    """``id(parameter) -> name`` for the parameters of ``models``: reports name parameters, not tensors."""
    return {id(parameter): name for model in models for name, parameter in model.named_parameters()}


def parameter_groups_difference(actual: Any, expected: Sequence[Mapping], names: Mapping[int, str]) -> str | None:
    """``None`` when every parameter is in the same group (by weight decay) as expected; else which are not.

    Groups are compared parameter by parameter (their order does not matter), and each
    misplaced parameter is named with its shape (and ``requires_grad=False`` if frozen).
    """
    if not isinstance(actual, (list, tuple)) or not all(isinstance(group, Mapping) and "params" in group for group in actual):
        return f"returned {_one_line(actual)}: expected a list of dicts, each with 'params' and 'weight_decay'"
    got, wanted = _decays(actual), _decays(expected)
    parameters = {id(p): p for groups in (actual, expected) for group in groups for p in group["params"]}
    describe = lambda key: _parameter(parameters[key], names)  # noqa: E731
    problems = {
        "should be in no group": [key for key in got if key not in wanted],
        "should be in a group": [key for key in wanted if key not in got],
        "should be in only one group": [key for key, decays in got.items() if len(decays) > 1],
    }
    for (decay, should), keys in _wrong_decays(got, wanted).items():
        problems[f"should have weight_decay {should}, not {decay}"] = keys
    lines = []
    for problem, keys in problems.items():
        lines += _listed(f"{_count(len(keys), 'parameter')} {problem}:", [describe(key) for key in keys])
    return "\n".join(lines) or None


def _decays(groups: Sequence[Mapping]) -> dict[int, list]:
    decays: dict[int, list] = {}
    for group in groups:
        for parameter in group["params"]:
            decays.setdefault(id(parameter), []).append(group.get("weight_decay"))
    return decays


def _wrong_decays(got: Mapping[int, list], wanted: Mapping[int, list]) -> dict[tuple, list[int]]:
    wrong: dict[tuple, list[int]] = {}
    for key, decays in got.items():
        if key in wanted and len(decays) == 1 and decays != wanted[key]:
            wrong.setdefault((decays[0], wanted[key][0]), []).append(key)
    return wrong


def _parameter(parameter: Any, names: Mapping[int, str]) -> str:
    frozen = "" if getattr(parameter, "requires_grad", True) else ", frozen (requires_grad=False)"
    return f"{names.get(id(parameter), 'an unnamed parameter')}: shape {tuple(parameter.shape)}{frozen}"


# ---------------------------------------------------------------- dictionaries and entities


def mapping_difference(actual: Any, expected: Mapping) -> str | None:
    """``None`` when two dicts are equal; else the keys missing, not expected, or with another value (a few of each)."""
    if not isinstance(actual, Mapping):
        return f"returned {_one_line(actual)} (a {type(actual).__name__}), expected a dict of {_count(len(expected), 'key')}"
    changed = [key for key in expected if key in actual and actual[key] != expected[key]]
    lines = [f"returned {_count(len(actual), 'key')}, expected {len(expected)}"] if len(actual) != len(expected) else []
    lines += _key_lines(actual, expected, _one_line) + _listed(
        f"{_count(len(changed), 'key')} with another value:",
        [f"{_one_line(key)}: returned {_one_line(actual[key])}, expected {_one_line(expected[key])}" for key in changed],
    )
    return "\n".join(lines) or None


ENTITY_PROBLEMS = {
    "missed": "not marked: {gold}",
    "spurious": "marked, but not an entity: {predicted}",
    "boundary": "other boundaries: {predicted} where the answer is {gold}",
    "type": "other type: {predicted} where the answer is {gold}",
    "boundary+type": "other boundaries and type: {predicted} where the answer is {gold}",
}


def entity_difference(words: Sequence[str], actual_tags: Any, expected_tags: Sequence[str]) -> str | None:
    """``None`` when two tag sequences of ``words`` mark the same entities; else each entity they disagree on, in words.

    Tags are compared as entities (``'breast and ovarian cancer' (Disease)``), not position by
    position, with the categories of :func:`biobert_ner.evaluation.classify_errors`.
    """
    from .evaluation import classify_errors
    from .schemes import spans_from_tags

    if not isinstance(actual_tags, (list, tuple)) or len(actual_tags) != len(expected_tags):
        return sequence_difference(actual_tags, list(expected_tags))
    text = lambda span: f"{' '.join(words[span.start : span.end])!r} ({span.type})" if span else ""  # noqa: E731
    problems = [
        ENTITY_PROBLEMS[category].format(gold=text(gold), predicted=text(predicted))
        for category, gold, predicted in classify_errors(spans_from_tags(expected_tags), spans_from_tags(actual_tags))
        if category != "correct"
    ]
    return "\n".join(problems) or None


# ---------------------------------------------------------------- running the cases


def check_against(
    student: Callable,
    reference: Callable,
    cases: Iterable[tuple],
    *,
    name: str | None = None,
    describe: Callable[[tuple], str] | None = None,
    compare: Callable[[Any, Any], bool] | None = None,
    explain: Callable[[Any, Any], str | None] | None = None,
    context: Context | None = None,
    tolerance: float = 0.0,
    against: str | None = None,
) -> int:
    """Call ``student(*case)`` and ``reference(*case)`` for every case; raise on the first difference.

    First the student's code is read: if it uses what the exercise ``name`` is checked against
    (:data:`biobert_ner.answer_guard.FORBIDDEN_CALLS`), it is refused without running. What it returns is compared as
    plain data (:func:`biobert_ner.answer_guard.plain_value`). ``against`` names the reference in the line printed on
    success (default: its module and name).

    The ``AssertionError`` names the function and the input (``describe(case)``, default: the
    arguments), then explains the difference: ``explain(actual, expected)`` (``None`` when they
    agree) or, by default, :func:`difference` with ``tolerance`` and ``context(case, position)``
    (what the input holds at an output position). ``compare``, if given, decides pass or fail
    and the explanation only explains. A function that still raises ``NotImplementedError``
    gets a message saying so. Returns the number of cases checked (and prints it).
    """
    name = name or getattr(student, "__name__", "your function")
    refused = forbidden_call(student, name)
    if refused:
        raise RefusedAnswer(refused)
    describe = describe or (lambda case: ", ".join(map(_one_line, case)))
    count = 0
    for case in cases:
        expected = reference(*case)
        actual = plain_value(_call(student, case, name, lambda: f"{name}({describe(case)})"), name=name)
        at = (lambda i, case=case: context(case, i)) if context else None
        problem = _explain(actual, expected, compare, explain or (lambda a, e: difference(a, e, tolerance=tolerance, context=at)))
        if problem is not None:
            raise AssertionError(f"{name}({describe(case)})\n" + "\n".join("  " + line for line in problem.splitlines()))
        count += 1
    reference_name = against or f"{getattr(reference, '__module__', '')}.{getattr(reference, '__qualname__', reference)}".lstrip(".")
    print(f"ok: {name} agrees with {reference_name} on {count} inputs")
    return count


def check_answers(student: Callable, answers: Sequence[tuple[tuple, Any]], **options: Any) -> int:
    """:func:`check_against` with the expected results written out: ``[(arguments, expected), ...]``.

    For hidden tests: their answers are data in the test cell, so nothing the notebook does to
    the library can change them.
    """
    expected = iter([answer for _, answer in answers])
    options.setdefault("against", "the hidden answers")
    return check_against(student, lambda *case: next(expected), [tuple(case) for case, _ in answers], **options)


def _call(student: Callable, case: tuple, name: str, call: Callable[[], str]) -> Any:
    """``student(*case)``, with any exception turned into a report naming the call (and the failing line)."""
    try:
        return student(*case)
    except NotImplementedError:
        raise AssertionError(f"{name} is not written yet: replace `raise NotImplementedError()` with your code") from None
    except AssertionError as error:  # a check inside the call: its message is the feedback
        raise AssertionError(f"{call()}\n  {error}") from None
    except Exception as error:
        raise AssertionError(f"{call()}\n  raised {type(error).__name__}: {error}{_where(error)}") from None


def _where(error: BaseException) -> str:
    """The last line of the student's own code in the traceback (not library code), if any."""
    library = (str(Path(__file__).parent), "site-packages", "<frozen")
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not any(part in frame.filename for part in library)]
    if not frames or not frames[-1].line:
        return ""
    return f"\n  in {frames[-1].name}, line {frames[-1].lineno}: {frames[-1].line.strip()}"


def _explain(actual: Any, expected: Any, compare: Callable | None, explain: Callable[[Any, Any], str | None]) -> str | None:
    if compare is None:
        return explain(actual, expected)
    if compare(actual, expected):
        return None
    return explain(actual, expected) or f"returned {_one_line(actual, 300)}\nexpected {_one_line(expected, 300)}"


# ---------------------------------------------------------------- annotations in the corpus's markup


def _read_markup(actual: Any, count: int) -> tuple[list[tuple[int, list[str], list[str]]], list[str]]:
    """``(number, words, tags)`` of each readable line, and a problem line for each line that is not."""
    from .course_corpus import CorpusMarkupError, parse_markup_line

    if not isinstance(actual, (list, tuple)) or len(actual) != count:
        return [], [f"expected a list of {count} lines of markup, one per sentence of to_annotate"]
    read, problems = [], []
    for number, line in enumerate(actual, start=1):
        try:
            words, tags = parse_markup_line(str(line))
        except CorpusMarkupError as error:
            problems.append(f"sentence {number}: the markup cannot be read: {error}")
            continue
        read.append((number, words, tags))
    return read, problems


def markup_difference(actual: Any, texts: Sequence[str]) -> str | None:
    """``None`` when every line of ``actual`` is readable markup of the sentence ``texts`` holds at its place."""
    from .pretokenize import split_words

    read, problems = _read_markup(actual, len(texts))
    for number, words, _ in read:
        expected = split_words(texts[number - 1])
        if words != expected:
            problems.append(f"sentence {number}: the words changed: {sequence_difference(words, expected).splitlines()[0]}")
    return "\n".join(problems) or None


def annotation_difference(actual: Any, gold_lines: Sequence[str], rules: Sequence[str]) -> str | None:
    """Entity by entity, where each line of ``actual`` differs from the gold markup, with the rule that decides it."""
    from .course_corpus import parse_markup_line
    from .evaluation import evaluate_tags

    gold = [parse_markup_line(line) for line in gold_lines]
    read, lines = _read_markup(actual, len(gold))
    compared = []
    for number, words, tags in read:
        gold_words, gold_tags = gold[number - 1]
        if words != gold_words:
            lines.append(f"sentence {number}: the words changed: {sequence_difference(words, gold_words).splitlines()[0]}")
            continue
        compared.append((gold_tags, tags))
        problems = entity_difference(words, tags, gold_tags)
        if problems:
            lines += [f"sentence {number}: {problem}" for problem in problems.splitlines()] + [f"  the deciding rule: {rules[number - 1]}"]
    if lines and compared:
        agreement = evaluate_tags(*zip(*compared)).entity_f1
        lines.insert(0, f"agreement with the annotators (entity F1) on the {len(compared)} sentences read: {agreement:.2f}")
    return "\n".join(lines) or None
