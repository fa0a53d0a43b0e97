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
    (:data:`FORBIDDEN_CALLS`), it is refused without running. What it returns is compared as
    plain data (:func:`plain_value`). ``against`` names the reference in the line printed on
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


# ---------------------------------------------------------------- what a student's answer may be and call


class RefusedAnswer(AssertionError):
    """An answer that is not graded: it calls what it is checked against, or returns an object of its own."""


# exercise function -> the callables that do its work: the first is what it is checked against.
# A class forbids its instances too, a module everything in it.
FORBIDDEN_CALLS: dict[str, tuple[str, ...]] = {
    "wordpiece": ("transformers.PreTrainedTokenizerBase", "tokenizers.Tokenizer"),
    "fragmentation": ("biobert_ner.checks.fragmentation_reference",),
    "fragmentation_answers": ("biobert_ner.checks.fragmentation_answers_reference", "biobert_ner.checks.fragmentation_reference"),
    "entity_spans": (
        "biobert_ner.schemes.spans_from_tags", "seqeval.metrics.sequence_labeling.get_entities", "seqeval.scheme.Entities",
        "biobert_ner.checks.entity_spans_reference",
    ),
    "iob1_to_iob2": ("biobert_ner.schemes.convert", "biobert_ner.schemes.repair_iob2", "biobert_ner.schemes.tags_from_spans"),
    "memorise_mentions": ("biobert_ner.baselines.mention_dictionary",),
    "dictionary_tags": ("biobert_ner.baselines.dictionary_tags",),
    "truncation_cost": ("biobert_ner.corpus_statistics.truncation_cost", "biobert_ner.alignment.count_cut_words"),
    "loss_label_counts": ("biobert_ner.corpus_statistics.loss_label_counts",),
    "merge_windows": ("biobert_ner.windows.merge_window_predictions", "biobert_ner.windows.best_window_per_token"),
    "learning_rate": ("transformers.get_linear_schedule_with_warmup", "biobert_ner.checks.scheduler_rate"),
    "train_epoch": ("biobert_ner.training.train", "biobert_ner.training.train_one_epoch", "accelerate.Accelerator",
                    "biobert_ner.checks.train_epoch_reference"),
    "predict_word_tags": ("biobert_ner.evaluation.predict_words", "biobert_ner.evaluation.predict_word_tags",
                          "biobert_ner.entities.word_label_ids"),
    "entity_scores": ("biobert_ner.evaluation.evaluate_tags", "seqeval.metrics.f1_score", "seqeval.metrics.precision_score",
                      "seqeval.metrics.recall_score", "seqeval.metrics.classification_report"),
    "classify_errors": ("biobert_ner.evaluation.classify_errors", "biobert_ner.evaluation.error_analysis"),
    "mode_disagreements": ("biobert_ner.checks.mode_disagreements_reference", "biobert_ner.checks.modes_disagree_reference"),
    "modes_disagree": ("biobert_ner.checks.modes_disagree_reference", "seqeval.metrics.sequence_labeling.get_entities",
                       "seqeval.scheme.Entities", "biobert_ner.checks.mode_disagreements_reference"),
    "f1_three_ways": ("biobert_ner.checks.f1_three_ways_reference", "biobert_ner.evaluation.evaluate_tags"),
    "padding_share": ("biobert_ner.batching.padding_fraction",),
    "to_bfloat16": ("torch", "ml_dtypes"),
    "seed_sd": ("biobert_ner.checks.seed_sd_reference",),
    "is_meaningful": ("biobert_ner.checks.is_meaningful_reference",),
    "seeds_needed": ("biobert_ner.checks.seeds_needed_reference",),
    "seed_answers": ("biobert_ner.checks.seed_answers_reference", "biobert_ner.checks.seed_sd_reference"),
    "card_facts": ("biobert_ner.checks.card_facts_from_files", "biobert_ner.course.trained_model"),
    "token_predictions": ("biobert_ner.entities.token_predictions", "biobert_ner.entities.token_probabilities",
                          "biobert_ner.entities.softmax"),
    "entities_with_offsets": ("biobert_ner.entities.entities_from_word_tags",),
    "cut_entities": ("biobert_ner.checks.cut_entities_reference",),
    "smallest_safe_stride": ("biobert_ner.checks.safe_stride_reference", "biobert_ner.checks.cut_entities_reference"),
    "stride_answers": ("biobert_ner.checks.stride_answers_reference", "biobert_ner.checks.safe_stride_reference",
                       "biobert_ner.checks.cut_entities_reference"),
}
_MISSING = object()


def _shown(dotted: str) -> str:
    return dotted.removeprefix("biobert_ner.")


def _resolve(dotted: str) -> Any:
    """The object a dotted name points to, importing its module; ``_MISSING`` when it is not installed."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            target = getattr(target, part, _MISSING)
        return target
    return _MISSING


def _forbidden_match(value: Any, forbidden: Sequence[tuple[str, Any]]) -> str | None:
    """The forbidden name ``value`` is, belongs to, or is an instance or method of; None when it is none of them."""
    import types

    function = getattr(value, "__func__", value)  # a bound method: its function
    for dotted, target in forbidden:
        if target is _MISSING:
            continue
        if isinstance(target, types.ModuleType):
            module = value.__name__ if isinstance(value, types.ModuleType) else getattr(type(value), "__module__", "")
            own = getattr(value, "__module__", None) if callable(value) else None
            if any(name and (name == target.__name__ or name.startswith(target.__name__ + ".")) for name in (module, own)):
                return dotted
        elif value is target or function is target:
            return dotted
        elif isinstance(target, type) and (isinstance(value, target) or (isinstance(value, type) and issubclass(value, target))):
            return dotted
    return None


def _code_references(code, namespace: Mapping[str, Any]) -> Iterable[tuple[Any, str]]:
    """What a code object (and the functions, lambdas and comprehensions inside it) reads: ``(object, name)`` pairs.

    Globals are looked up in ``namespace``, attributes on the module or class read before them,
    names imported inside the function in the already imported modules. An attribute of a
    local variable cannot be looked up: it comes as ``(_MISSING, name)``.
    """
    import builtins
    import dis
    import sys
    import types

    current: Any = _MISSING
    for instruction in dis.get_instructions(code):
        operation, name = instruction.opname, instruction.argval
        if operation in ("LOAD_GLOBAL", "LOAD_NAME"):
            current = namespace.get(name, getattr(builtins, name, _MISSING))
        elif operation in ("LOAD_ATTR", "LOAD_METHOD"):
            readable = isinstance(current, (types.ModuleType, type))
            current = getattr(current, name, _MISSING) if readable else _MISSING
        elif operation == "IMPORT_NAME":
            current = sys.modules.get(name, _MISSING)
        elif operation == "IMPORT_FROM":
            current = getattr(current, name, _MISSING) if isinstance(current, types.ModuleType) else _MISSING
        else:
            if isinstance(instruction.argval, types.CodeType):
                yield from _code_references(instruction.argval, namespace)
            current = _MISSING
            continue
        yield current, name
        if operation == "IMPORT_NAME" and current is not _MISSING:
            current = sys.modules.get(name, current)  # `from a.b import c` reads c from a.b


def _student_objects(value: Any, seen: set[int]) -> Iterable[tuple[Any, str]]:
    """Everything a student's callable reads, followed into the notebook's own functions and classes."""
    import functools
    import types

    if id(value) in seen:
        return
    seen.add(id(value))
    yield value, getattr(value, "__name__", "")
    if isinstance(value, functools.partial):
        for part in (value.func, *value.args, *value.keywords.values()):
            yield from _student_objects(part, seen)
        return
    if isinstance(value, types.MethodType):
        yield from _student_objects(value.__func__, seen)
        return
    if isinstance(value, type) or (callable(value) and not isinstance(value, (types.FunctionType, types.BuiltinFunctionType))):
        cls = value if isinstance(value, type) else type(value)
        if cls.__module__ == "__main__":
            for member in vars(cls).values():
                yield from _student_objects(getattr(member, "__func__", member), seen)
        return
    if not isinstance(value, types.FunctionType):
        return
    parts = [*(value.__defaults__ or ()), *(value.__kwdefaults__ or {}).values()]
    parts += [cell.cell_contents for cell in value.__closure__ or () if _cell_is_set(cell)]
    for part in parts:
        yield from _student_objects(part, seen)
    for referenced, name in _code_references(value.__code__, value.__globals__):
        yield referenced, name
        if _is_notebook_code(referenced):
            yield from _student_objects(referenced, seen)


def _cell_is_set(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return False
    return True


def _is_notebook_code(value: Any) -> bool:
    """A function or class written in the notebook (not imported): its code is read too."""
    import functools
    import types

    if isinstance(value, (functools.partial, types.MethodType)):
        return True
    module = getattr(value, "__module__", None) if isinstance(value, (types.FunctionType, type)) else getattr(type(value), "__module__", None)
    return module == "__main__" and (isinstance(value, (types.FunctionType, type)) or callable(value))


def forbidden_call(student: Callable, name: str) -> str | None:
    """Why ``student`` may not be graded as ``name``: the line a student reads; None when it calls nothing forbidden.

    The student's code (and the notebook functions it calls) is read, not run: a reference to a
    callable that :data:`FORBIDDEN_CALLS` lists for ``name``, by its value or by its name, is
    refused.
    """
    listed = FORBIDDEN_CALLS.get(name, ())
    if not listed:
        return None
    forbidden = [(dotted, _resolve(dotted)) for dotted in listed]
    # by name only where the object cannot be looked up (an attribute of a local variable), and only
    # names no student would give a method of their own (model.train() is not training.train)
    names = {dotted.rsplit(".", 1)[-1]: dotted for dotted, target in forbidden
             if callable(target) and not isinstance(target, type) and "_" in dotted.rsplit(".", 1)[-1]}
    for value, attribute in _student_objects(student, set()):
        found = _forbidden_match(value, forbidden) if value is not _MISSING else names.get(attribute)
        if found:
            checked_against = _shown(listed[0])
            if found == listed[0]:
                return f"write {name} yourself; {checked_against} is what it is checked against"
            return f"write {name} yourself; it uses {_shown(found)}, which does the exercise for it ({checked_against} is what it is checked against)"
    return None


def plain_value(value: Any, *, name: str = "your function") -> Any:
    """``value`` with every subclass of a built-in type turned into that type; an object of a notebook class refused.

    An answer is data (lists, tuples, dicts, strings, numbers, arrays): an object whose class
    the notebook defines could answer ``==`` with ``True`` whatever it is compared with.
    """
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, bool):
        return bool(value)
    for base in (str, bytes, int, float):
        if isinstance(value, base):
            return {str: str.__str__, bytes: bytes.__bytes__, int: int.__int__, float: float.__float__}[base](value)
    if isinstance(value, list):
        return [plain_value(item, name=name) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return tuple(plain_value(item, name=name) for item in tuple.__iter__(value))
    if isinstance(value, dict):
        return {plain_value(key, name=name): plain_value(item, name=name) for key, item in dict.items(value)}
    if isinstance(value, frozenset):
        return frozenset(plain_value(item, name=name) for item in frozenset.__iter__(value))
    if isinstance(value, set):
        return {plain_value(item, name=name) for item in set.__iter__(value)}
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        return np.asarray(value)
    if getattr(type(value), "__module__", "") == "__main__":
        raise RefusedAnswer(f"{name} returned an object of {type(value).__name__}, a class of your own: return plain values "
                            "(lists, tuples, dicts, strings, numbers, arrays)")
    return value


# ---------------------------------------------------------------- the library, as the grader found it

_LIBRARY: dict[tuple[str, str], Any] = {}  # (module, name) -> the function or class it held when the grading kernel started
GUARDED_PACKAGES = ("biobert_ner", "seqeval")
GUARDED_IMPORTS = (
    "biobert_ner.schemes", "biobert_ner.evaluation", "biobert_ner.baselines", "biobert_ner.corpus_statistics",
    "biobert_ner.alignment", "biobert_ner.batching", "biobert_ner.inference", "biobert_ner.data", "biobert_ner.course_corpus",
    "biobert_ner.windows", "biobert_ner.entities",
    "seqeval.metrics", "seqeval.metrics.sequence_labeling", "seqeval.scheme",
)


def _guarded_members() -> dict[tuple[str, str], Any]:
    import builtins
    import sys
    import types

    members = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "builtins" or module_name.split(".")[0] in GUARDED_PACKAGES):
            continue
        for name, value in list(vars(module).items()):
            kept = (types.BuiltinFunctionType, type) if module is builtins else (
                types.FunctionType, type, types.BuiltinFunctionType, types.ModuleType)  # a module too: biobert_ner.checks = a fake
            if isinstance(value, kept):
                members[module_name, name] = value
    return members


def snapshot_library() -> int:
    """Record the library's functions and classes (and Python's built-ins) before any student code runs.

    The grader runs this in a first cell of its own; :func:`verify_library` then checks, at the
    start of every test cell, that nothing replaced them. Returns the number recorded.
    """
    import importlib

    for module in GUARDED_IMPORTS:
        importlib.import_module(module)
    if not _LIBRARY:
        _LIBRARY.update(_guarded_members())
    return len(_LIBRARY)


def verify_library() -> None:
    """Raise :class:`RefusedAnswer` naming every library function or class a notebook cell replaced or deleted."""
    if not _LIBRARY:
        raise RefusedAnswer("the library was not recorded before the student's cells ran: grade with biobert-ner grade")
    now = _guarded_members()
    changed = sorted(f"{_shown(module)}.{name}" for (module, name), value in _LIBRARY.items() if now.get((module, name)) is not value)
    if changed:
        listed = ", ".join(changed[:MAX_NAMED]) + (f" and {len(changed) - MAX_NAMED} more" if len(changed) > MAX_NAMED else "")
        raise RefusedAnswer(f"a cell of this notebook replaced {listed}: the tests compare with the library as it is, "
                            "so none of them can be graded")


# ---------------------------------------------------------------- the references the exercises are checked against
# Kept here, not in the test cells: a reference one line from the answer is an answer. The
# exercises may not call them (FORBIDDEN_CALLS).


def entity_spans_reference(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Exercise 02.1: the entities of an IOB2 sequence as ``(start, end, type)`` tuples."""
    from .schemes import spans_from_tags

    return [(span.start, span.end, span.type) for span in spans_from_tags(tags)]


def pieces_per_word(tokens: Sequence[str], tokenizer: Any) -> list[int]:
    """Pieces of each word, counted from the tokenizer run on the whole sentence (not word by word)."""
    word_ids = tokenizer(list(tokens), is_split_into_words=True, add_special_tokens=False).word_ids()
    return [word_ids.count(i) for i in range(len(tokens))]


def fragmentation_reference(split: Any, tokenizer: Any, label_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Exercise 01.2: per entity type, its count and its mean words and pieces per entity and per word."""
    from .schemes import spans_from_tags

    entities: dict[str, int] = {}
    words: dict[str, int] = {}
    pieces: dict[str, int] = {}
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        counts = pieces_per_word(tokens, tokenizer)
        for span in spans_from_tags([label_names[tag] for tag in tags]):
            entities[span.type] = entities.get(span.type, 0) + 1
            words[span.type] = words.get(span.type, 0) + span.end - span.start
            pieces[span.type] = pieces.get(span.type, 0) + sum(counts[span.start : span.end])
    return {
        t: {"entities": entities[t], "words_per_entity": words[t] / entities[t],
            "pieces_per_word": pieces[t] / words[t], "pieces_per_entity": pieces[t] / entities[t]}
        for t in sorted(entities)
    }


def fragmentation_answers_reference(split: Any, tokenizer: Any, label_names: Sequence[str]) -> tuple[str, str]:
    """Exercise 01.2: the type with most pieces per entity, and which factor makes it so."""
    table = fragmentation_reference(split, tokenizer, label_names)
    most = max(table, key=lambda t: table[t]["pieces_per_entity"])
    longest = max(table, key=lambda t: table[t]["words_per_entity"])
    return most, "more words" if longest == most else "more pieces per word"


def scheduler_rate(step: int, warmup: int, total: int, peak: float) -> float:
    """Exercise 04.1: what transformers' linear schedule (the one ``training.train`` uses) says for update ``step``."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    for _ in range(step):
        optimizer.step()
        scheduler.step()
    return scheduler.get_last_lr()[0]


def train_epoch_reference(model, loader, optimizer, scheduler, *, labelled_per_batch, accumulation_steps=1, max_grad_norm=1.0) -> float:
    """Exercise 04.2's convention: each batch's loss is divided by the size of *its* accumulation group.

    So every update is the mean over the batches it adds up, the last, partial group of an epoch
    included. Returns the mean cross-entropy per labelled sub-word over the epoch.
    """
    import torch

    model.train()
    loss_sum = labelled = 0.0
    batches = len(loader)
    for number, batch in enumerate(loader, start=1):
        group_start = (number - 1) // accumulation_steps * accumulation_steps
        group_size = min(accumulation_steps, batches - group_start)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"].flatten()
        summed = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum")
        (summed / labelled_per_batch / group_size).backward()
        if number - group_start == group_size:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        loss_sum += summed.item()
        labelled += (labels != -100).sum().item()
    return loss_sum / labelled


def default_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """seqeval's default (conlleval) reading: ``(type, first word, last word)``."""
    from seqeval.metrics.sequence_labeling import get_entities

    return set(get_entities(list(tags)))


def strict_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """seqeval's strict IOB2 reading, in the default reading's terms (seqeval's strict end is excluded)."""
    from seqeval.scheme import IOB2, Entities

    return {(e.tag, e.start, e.end - 1) for e in Entities([list(tags)], IOB2).entities[0]}


def modes_disagree_reference(tags: Sequence[str]) -> bool:
    """Exercise 05.3b: whether the two readings differ."""
    return default_entities(tags) != strict_entities(tags)


def mode_disagreements_reference(tag_sequences: Sequence[Sequence[str]]) -> list[int]:
    """Exercise 05.3a: the indices of the sequences the two readings read differently."""
    return [i for i, tags in enumerate(tag_sequences) if modes_disagree_reference(tags)]


def f1_three_ways_reference(gold, predicted) -> tuple[float, float, float]:
    """Exercise 05.3c: F1 in seqeval's default mode, strict on the raw tags, strict after the repair."""
    from seqeval.metrics import f1_score

    from .evaluation import evaluate_tags
    from .schemes import repair_iob2

    return (
        f1_score(gold, predicted),
        evaluate_tags(gold, predicted, repair=False).entity_f1,
        evaluate_tags(gold, [repair_iob2(tags) for tags in predicted]).entity_f1,
    )


def seed_sd_reference(runs: Mapping[str, Sequence[float]]) -> float:
    """Exercise 06.3a: the pooled standard deviation over seeds (the root of the mean sample variance)."""
    return float(np.sqrt(np.mean([np.var(scores, ddof=1) for scores in runs.values()])))


def is_meaningful_reference(difference: float, sd: float) -> bool:
    """Exercise 06.3b: more than two standard deviations of the difference of two runs (sqrt(2) sd)."""
    return bool(abs(difference) > 2 * np.sqrt(2) * sd)


def seeds_needed_reference(difference: float, sd: float) -> int:
    """Exercise 06.3b: the smallest n with ``|difference| > 2 sqrt(2) sd / sqrt(n)``."""
    import math

    return math.floor((2 * math.sqrt(2) * sd / abs(difference)) ** 2) + 1


def seed_answers_reference(runs: Mapping[str, Sequence[float]]) -> tuple[float, bool, int, bool]:
    """Exercise 06.3c: sigma, whether 0.005 is real, seeds for 0.005, whether the best recipe's mean is meaningfully ahead."""
    sigma = seed_sd_reference(runs)
    means = {recipe: float(np.mean(scores)) for recipe, scores in runs.items()}
    gap = means["lr 2e-4, 5 epochs"] - means["lr 1e-4, 5 epochs"]
    return sigma, is_meaningful_reference(0.005, sigma), seeds_needed_reference(0.005, sigma), bool(abs(gap) > 2 * sigma)


def card_facts_from_files(folder: Path) -> dict[str, Any]:
    """Exercise 06.4: the facts of a model card, read from the files the training run wrote beside it."""
    import json

    folder = Path(folder)
    settings = json.loads((folder / "ner_settings.json").read_text(encoding="utf-8"))
    id2label = json.loads((folder / "config.json").read_text(encoding="utf-8"))["id2label"]
    metrics = json.loads((folder.parent / "metrics.json").read_text(encoding="utf-8"))
    return {
        "labels": [id2label[str(i)] for i in range(len(id2label))],
        "max_length": settings["max_length"],
        "label_strategy": settings["label_strategy"],
        "dev_f1": metrics["dev"]["entity_f1"],
        "test_f1": metrics["test"]["entity_f1"],
    }


def cut_entities_reference(word_ids: Sequence[int], windows: Sequence[Any], spans: Sequence[Any]) -> list[Any]:
    """Exercise 07.3a: the spans no window holds whole (a word is held when all its sub-words are)."""
    def whole_words(window):
        return set(word_ids[window.start : window.end]) - set(word_ids[: window.start]) - set(word_ids[window.end :])

    held = [whole_words(window) for window in windows]
    return [span for span in spans if not any(set(range(span.start, span.end)) <= words for words in held)]


def safe_stride_reference(tokenized: Sequence[tuple[Sequence[int], Sequence[Any]]], window_length: int) -> int:
    """Exercise 07.3b: the smallest stride at which no gold entity is cut."""
    from .windows import plan_windows

    def cut_anything(stride: int) -> bool:
        return any(cut_entities_reference(ids, plan_windows(len(ids), window_length - 2, stride), spans) for ids, spans in tokenized)

    return next(stride for stride in range(window_length - 2) if not cut_anything(stride))


def stride_answers_reference(tokenized: Sequence[tuple[Sequence[int], Sequence[Any]]]) -> tuple[int, int, int]:
    """Exercise 07.3c: entities cut at stride 0, the safe stride, the longest entity in sub-words (windows of 128)."""
    from .windows import plan_windows

    cut = sum(len(cut_entities_reference(ids, plan_windows(len(ids), 126, 0), spans)) for ids, spans in tokenized)
    pieces = [sum(1 for word in ids if span.start <= word < span.end) for ids, spans in tokenized for span in spans]
    return cut, safe_stride_reference(tokenized, 128), max(pieces)


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
