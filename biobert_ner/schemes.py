"""Tagging schemes (IOB1, IOB2, IOBES, IO) as small tables read by a few functions.

A tag is ``O`` or ``<prefix>-<type>``, e.g. ``B-Disease``. Each scheme is described by data,
not by an ``if`` ladder:

* ``prefixes``: the prefixes the scheme may use;
* ``needs_same_type_before``: prefixes that are only valid right after a tag of the same type
  whose prefix is in the given set (IOB2's ``I`` must continue a ``B`` or ``I``);
* ``needs_same_type_after``: prefixes that must be followed by one of the given prefixes of the
  same type (IOBES's ``B`` must be followed by ``I`` or ``E``).

Entity spans are half-open word ranges ``[start, end)``, the one convention of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

OUTSIDE = "O"


@dataclass(frozen=True)
class Scheme:
    name: str
    prefixes: frozenset[str]
    needs_same_type_before: dict[str, frozenset[str]] = field(default_factory=dict)
    needs_same_type_after: dict[str, frozenset[str]] = field(default_factory=dict)


SCHEMES: dict[str, Scheme] = {
    "IO": Scheme("IO", frozenset("I")),
    "IOB1": Scheme("IOB1", frozenset("IB"), needs_same_type_before={"B": frozenset("IB")}),
    "IOB2": Scheme("IOB2", frozenset("BI"), needs_same_type_before={"I": frozenset("BI")}),
    "IOBES": Scheme(
        "IOBES",
        frozenset("BIES"),
        needs_same_type_before={"I": frozenset("BI"), "E": frozenset("BI")},
        needs_same_type_after={"B": frozenset("IE"), "I": frozenset("IE")},
    ),
}


@dataclass(frozen=True, order=True)
class Span:
    """An entity over words ``[start, end)``."""

    start: int
    end: int
    type: str


class TagError(ValueError):
    """A tag or tag sequence that does not follow its scheme."""


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name.upper()]
    except KeyError:
        raise TagError(f"unknown tagging scheme {name!r}; known: {', '.join(SCHEMES)}") from None


def split_tag(tag: str) -> tuple[str, str | None]:
    """``'B-Disease'`` -> ``('B', 'Disease')``; ``'O'`` -> ``('O', None)``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if not sep or len(prefix) != 1 or not entity_type:
        raise TagError(f"malformed tag {tag!r}: expected 'O' or '<prefix>-<type>' such as 'B-Disease'")
    return prefix, entity_type


def tag_problems(tags: Sequence[str], scheme: str = "IOB2") -> list[str]:
    """Every way ``tags`` break ``scheme``, as readable sentences (empty list: valid)."""
    table = get_scheme(scheme)
    problems: list[str] = []
    parsed: list[tuple[str, str | None]] = []
    for i, tag in enumerate(tags):
        try:
            prefix, entity_type = split_tag(tag)
        except TagError as error:
            problems.append(f"tag {i + 1}: {error}")
            prefix, entity_type = OUTSIDE, None
        if prefix != OUTSIDE and prefix not in table.prefixes:
            problems.append(f"tag {i + 1} {tag!r}: prefix {prefix!r} is not used in {table.name}")
        parsed.append((prefix, entity_type))
    for i, (prefix, entity_type) in enumerate(parsed):
        allowed_before = table.needs_same_type_before.get(prefix)
        if allowed_before is not None:
            before = parsed[i - 1] if i > 0 else (OUTSIDE, None)
            if before[1] != entity_type or before[0] not in allowed_before:
                problems.append(
                    f"tag {i + 1} {tags[i]!r} must follow {'/'.join(sorted(allowed_before))}-{entity_type}, "
                    f"not {tags[i - 1] if i > 0 else 'the sentence start'!r}"
                )
        allowed_after = table.needs_same_type_after.get(prefix)
        if allowed_after is not None:
            after = parsed[i + 1] if i + 1 < len(parsed) else (OUTSIDE, None)
            if after[1] != entity_type or after[0] not in allowed_after:
                problems.append(
                    f"tag {i + 1} {tags[i]!r} must be followed by {'/'.join(sorted(allowed_after))}-{entity_type}"
                )
    return problems


def is_valid(tags: Sequence[str], scheme: str = "IOB2") -> bool:
    return not tag_problems(tags, scheme)


def validate(tags: Sequence[str], scheme: str = "IOB2") -> None:
    """Raise :class:`TagError` listing the problems when ``tags`` break ``scheme``."""
    problems = tag_problems(tags, scheme)
    if problems:
        raise TagError("; ".join(problems))


def spans_from_tags(tags: Sequence[str]) -> list[Span]:
    """Entity spans of a tag sequence in any of the schemes (read leniently, like conlleval).

    An entity starts at ``B``/``S``, or at ``I``/``E`` that does not continue the entity before
    it; it ends at ``E``/``S``, or where the next tag does not continue it. Reading leniently is
    what lets one function serve all four schemes and also model output that is not yet valid.
    """
    spans: list[Span] = []
    start: int | None = None
    current_type: str | None = None
    for i, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        continues = start is not None and prefix in ("I", "E") and entity_type == current_type
        if not continues and start is not None:
            spans.append(Span(start, i, current_type))  # type: ignore[arg-type]
            start, current_type = None, None
        if prefix != OUTSIDE and start is None:
            start, current_type = i, entity_type
        if prefix in ("E", "S") and start is not None:
            spans.append(Span(start, i + 1, current_type))  # type: ignore[arg-type]
            start, current_type = None, None
    if start is not None:
        spans.append(Span(start, len(tags), current_type))  # type: ignore[arg-type]
    return spans


def tags_from_spans(spans: Iterable[Span], length: int, scheme: str = "IOB2") -> list[str]:
    """Write non-overlapping spans as a tag sequence of ``length`` words in ``scheme``."""
    name = get_scheme(scheme).name
    tags = [OUTSIDE] * length
    previous: Span | None = None
    for span in sorted(spans):
        if span.start < 0 or span.end > length or span.start >= span.end:
            raise TagError(f"span {span} does not fit in {length} words")
        if previous is not None and span.start < previous.end:
            raise TagError(f"spans {previous} and {span} overlap")
        size = span.end - span.start
        if name == "IO":
            inner = ["I"] * size
        elif name == "IOB2":
            inner = ["B"] + ["I"] * (size - 1)
        elif name == "IOBES":
            inner = ["S"] if size == 1 else ["B"] + ["I"] * (size - 2) + ["E"]
        else:  # IOB1: B only where an entity of the same type ends right before this one
            touches_same_type = previous is not None and previous.end == span.start and previous.type == span.type
            inner = (["B"] if touches_same_type else ["I"]) + ["I"] * (size - 1)
        tags[span.start : span.end] = [f"{prefix}-{span.type}" for prefix in inner]
        previous = span
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert a valid tag sequence from one scheme to another (through its spans)."""
    validate(tags, source)
    return tags_from_spans(spans_from_tags(tags), len(tags), target)


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """Make any tag sequence valid IOB2: an ``I-X`` that starts an entity becomes ``B-X``.

    Model predictions are read word by word, so ``O I-Disease`` or ``B-Chemical I-Disease`` can
    come out; the entity the model meant is clear, only its first prefix is wrong. ``E``/``S``
    tags are mapped to ``I``/``B`` first.
    """
    repaired: list[str] = []
    previous_type: str | None = None
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == OUTSIDE:
            repaired.append(OUTSIDE)
        elif prefix in ("B", "S") or entity_type != previous_type:
            repaired.append(f"B-{entity_type}")
        else:
            repaired.append(f"I-{entity_type}")
        previous_type = entity_type if prefix not in ("E", "S") else None
        if prefix == OUTSIDE:
            previous_type = None
    return repaired


def entity_types(labels: Iterable[str]) -> list[str]:
    """The sorted entity types that appear in a label list."""
    return sorted({split_tag(label)[1] for label in labels if label != OUTSIDE})  # type: ignore[type-var]


def iob2_labels(types: Iterable[str]) -> list[str]:
    """The label list of a model for these entity types: ``O`` first, then ``B-``/``I-`` pairs."""
    labels = [OUTSIDE]
    for entity_type in sorted(set(types)):
        labels += [f"B-{entity_type}", f"I-{entity_type}"]
    return labels
