"""What a student's answer may be and call, and the library as the grader found it.

An exercise is graded only if its answer does the work: :func:`forbidden_call` reads the
student's code (not runs it) for what the exercise is checked against (:data:`FORBIDDEN_CALLS`),
and :func:`plain_value` turns what it returns into plain data, refusing an object of a class the
notebook defines. The grader's first cell records the library (:func:`snapshot_library`) and every
test cell starts by checking that no cell replaced a part of it (:func:`verify_library`).

:func:`biobert_ner.checks.check_against` calls the first two on every answer; a refusal is a
:class:`RefusedAnswer`, whose message the grade report shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterable, Sequence

import numpy as np

MAX_REPLACED_NAMED = 3  # replaced library names listed in full in a refusal; the rest are counted


class RefusedAnswer(AssertionError):
    """An answer that is not graded: it calls what it is checked against, or returns an object of its own."""


# exercise function -> the callables that do its work: the first is what it is checked against.
# A class forbids its instances too, a module everything in it.
FORBIDDEN_CALLS: dict[str, tuple[str, ...]] = {
    "wordpiece": ("transformers.PreTrainedTokenizerBase", "tokenizers.Tokenizer"),
    "fragmentation": ("biobert_ner.exercise_references.fragmentation_reference",),
    "fragmentation_answers": ("biobert_ner.exercise_references.fragmentation_answers_reference",
                              "biobert_ner.exercise_references.fragmentation_reference"),
    "entity_spans": (
        "biobert_ner.schemes.spans_from_tags", "seqeval.metrics.sequence_labeling.get_entities", "seqeval.scheme.Entities",
        "biobert_ner.exercise_references.entity_spans_reference",
    ),
    "iob1_to_iob2": ("biobert_ner.schemes.convert", "biobert_ner.schemes.repair_iob2", "biobert_ner.schemes.tags_from_spans"),
    "memorise_mentions": ("biobert_ner.baselines.mention_dictionary",),
    "dictionary_tags": ("biobert_ner.baselines.dictionary_tags",),
    "truncation_cost": ("biobert_ner.corpus_statistics.truncation_cost", "biobert_ner.alignment.count_cut_words"),
    "loss_label_counts": ("biobert_ner.corpus_statistics.loss_label_counts",),
    "merge_windows": ("biobert_ner.windows.merge_window_predictions", "biobert_ner.windows.best_window_per_token"),
    "learning_rate": ("transformers.get_linear_schedule_with_warmup", "biobert_ner.exercise_references.scheduler_rate"),
    "train_epoch": ("biobert_ner.training.train", "biobert_ner.training.train_one_epoch", "accelerate.Accelerator",
                    "biobert_ner.exercise_references.train_epoch_reference"),
    "predict_word_tags": ("biobert_ner.evaluation.predict_words", "biobert_ner.evaluation.predict_word_tags",
                          "biobert_ner.entities.word_label_ids"),
    "entity_scores": ("biobert_ner.evaluation.evaluate_tags", "seqeval.metrics.f1_score", "seqeval.metrics.precision_score",
                      "seqeval.metrics.recall_score", "seqeval.metrics.classification_report"),
    "classify_errors": ("biobert_ner.evaluation.classify_errors", "biobert_ner.evaluation.error_analysis"),
    "mode_disagreements": ("biobert_ner.exercise_references.mode_disagreements_reference",
                           "biobert_ner.exercise_references.modes_disagree_reference"),
    "modes_disagree": ("biobert_ner.exercise_references.modes_disagree_reference", "seqeval.metrics.sequence_labeling.get_entities",
                       "seqeval.scheme.Entities", "biobert_ner.exercise_references.mode_disagreements_reference"),
    "f1_three_ways": ("biobert_ner.exercise_references.f1_three_ways_reference", "biobert_ner.evaluation.evaluate_tags"),
    "padding_share": ("biobert_ner.batching.padding_fraction",),
    "to_bfloat16": ("torch", "ml_dtypes"),
    "seed_sd": ("biobert_ner.exercise_references.seed_sd_reference",),
    "is_meaningful": ("biobert_ner.exercise_references.is_meaningful_reference",),
    "seeds_needed": ("biobert_ner.exercise_references.seeds_needed_reference",),
    "seed_answers": ("biobert_ner.exercise_references.seed_answers_reference", "biobert_ner.exercise_references.seed_sd_reference"),
    "card_facts": ("biobert_ner.exercise_references.card_facts_from_files", "biobert_ner.course.trained_model"),
    "token_predictions": ("biobert_ner.entities.token_predictions", "biobert_ner.entities.token_probabilities",
                          "biobert_ner.entities.softmax"),
    "entities_with_offsets": ("biobert_ner.entities.entities_from_word_tags",),
    "cut_entities": ("biobert_ner.exercise_references.cut_entities_reference",),
    "smallest_safe_stride": ("biobert_ner.exercise_references.safe_stride_reference",
                             "biobert_ner.exercise_references.cut_entities_reference"),
    "stride_answers": ("biobert_ner.exercise_references.stride_answers_reference",
                       "biobert_ner.exercise_references.safe_stride_reference",
                       "biobert_ner.exercise_references.cut_entities_reference"),
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

    The grader runs this in a first cell of its own, after importing the modules its test cells
    call (:data:`biobert_ner.restoration.TEST_MODULES`), so that theirs are recorded too;
    :func:`verify_library` then checks, at the start of every test cell, that nothing replaced
    them. Returns the number recorded.
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
        more = len(changed) - MAX_REPLACED_NAMED
        listed = ", ".join(changed[:MAX_REPLACED_NAMED]) + (f" and {more} more" if more > 0 else "")
        raise RefusedAnswer(f"a cell of this notebook replaced {listed}: the tests compare with the library as it is, "
                            "so none of them can be graded")
