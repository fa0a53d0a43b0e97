"""Tagging schemes (IOB1, IOB2, IOBES, IO) as small tables read by a few functions.

A tag is ``O`` or ``<prefix>-<type>``, e.g. ``B-Disease``. Each scheme is described by data,
not by an ``if`` ladder:

* ``prefixes``: the prefixes the scheme may use;
* ``needs_same_type_before``: prefixes that are only valid right after a tag of the same type
  whose prefix is in the given set (IOB2's ``I`` must continue a ``B`` or ``I``);
* ``needs_same_type_after``: prefixes that must be followed by one of the given prefixes of the
  same type (IOBES's ``B`` must be followed by ``I`` or ``E``);
* ``writes``: the prefixes a span is written with (:class:`SpanPrefixes`).

Every other rule is read from these: :func:`may_follow` (may this tag follow that one?),
:func:`decoding_tables` (the allowed starts, transitions and ends of a label list: what the
Viterbi decoder searches, and what a bundle hands to Java), :func:`tag_problems`,
:func:`tags_from_spans` and :func:`repair_iob2`.

Entity spans are half-open word ranges ``[start, end)``, the one convention of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

OUTSIDE = "O"


@dataclass(frozen=True)
class SpanPrefixes:
    """How a scheme writes an entity: one word, or its first, inner and last words.

    ``first_after_same_type``: the first prefix when an entity of the same type ends right
    before (IOB1 marks only that boundary with ``B``); ``None``: always ``first``.
    """

    single: str
    first: str
    inside: str
    last: str
    first_after_same_type: str | None = None


@dataclass(frozen=True)
class Scheme:
    name: str
    prefixes: frozenset[str]
    writes: SpanPrefixes
    needs_same_type_before: dict[str, frozenset[str]] = field(default_factory=dict)
    needs_same_type_after: dict[str, frozenset[str]] = field(default_factory=dict)


SCHEMES: dict[str, Scheme] = {
    "IO": Scheme("IO", frozenset("I"), SpanPrefixes("I", "I", "I", "I")),
    "IOB1": Scheme("IOB1", frozenset("IB"), SpanPrefixes("I", "I", "I", "I", first_after_same_type="B"),
                   needs_same_type_before={"B": frozenset("IB")}),
    "IOB2": Scheme("IOB2", frozenset("BI"), SpanPrefixes("B", "B", "I", "I"), needs_same_type_before={"I": frozenset("BI")}),
    "IOBES": Scheme(
        "IOBES",
        frozenset("BIES"),
        SpanPrefixes("S", "B", "I", "E"),
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


def may_follow(previous: str | None, tag: str | None, scheme: str) -> bool:
    """Whether ``scheme`` lets ``tag`` follow ``previous`` (``None``: the sentence's start, or its end).

    Read from the scheme's table: ``tag`` may need a tag of its type before it, ``previous``
    may need one after it; the start and the end of a sentence count as ``O``.
    """
    table = get_scheme(scheme)
    before_prefix, before_type = split_tag(previous or OUTSIDE)
    after_prefix, after_type = split_tag(tag or OUTSIDE)
    needed_before = table.needs_same_type_before.get(after_prefix)
    if needed_before is not None and (before_type != after_type or before_prefix not in needed_before):
        return False
    needed_after = table.needs_same_type_after.get(before_prefix)
    return needed_after is None or (after_type == before_type and after_prefix in needed_after)


@dataclass(frozen=True)
class DecodingTables:
    """What a sequence decoder may choose, for a label list: ``starts[j]``, ``transitions[i][j]``, ``ends[i]``.

    A valid tag sequence starts with an allowed label, moves only along allowed transitions
    (label ``i`` followed by label ``j``) and ends with an allowed label. Written into a
    bundle, so the Java decoder searches exactly these tables.
    """

    labels: tuple[str, ...]
    prefixes: tuple[str, ...]  # the prefixes a label may have besides O (what a reader checks labels against)
    starts: tuple[bool, ...]
    transitions: tuple[tuple[bool, ...], ...]
    ends: tuple[bool, ...]

    def to_dict(self) -> dict:
        """The tables as bundle.json stores them (the labels are labels.json's, in label-id order)."""
        return {"prefixes": list(self.prefixes), "starts": list(self.starts),
                "transitions": [list(row) for row in self.transitions], "ends": list(self.ends)}


def decoding_tables(labels: Sequence[str], scheme: str) -> DecodingTables:
    """The allowed starts, transitions and ends of ``labels`` under ``scheme`` (see :func:`may_follow`)."""
    for label in labels:
        prefix, _ = split_tag(label)
        if prefix != OUTSIDE and prefix not in get_scheme(scheme).prefixes:
            raise TagError(f"label {label!r}: prefix {prefix!r} is not used in {get_scheme(scheme).name}")
    return DecodingTables(
        labels=tuple(labels),
        prefixes=tuple(sorted(get_scheme(scheme).prefixes)),
        starts=tuple(may_follow(None, label, scheme) for label in labels),
        transitions=tuple(tuple(may_follow(previous, label, scheme) for label in labels) for previous in labels),
        ends=tuple(may_follow(label, None, scheme) for label in labels),
    )


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
    """Write non-overlapping spans as a tag sequence of ``length`` words in ``scheme`` (its :class:`SpanPrefixes`)."""
    writes = get_scheme(scheme).writes
    tags = [OUTSIDE] * length
    previous: Span | None = None
    for span in sorted(spans):
        if span.start < 0 or span.end > length or span.start >= span.end:
            raise TagError(f"span {span} does not fit in {length} words")
        if previous is not None and span.start < previous.end:
            raise TagError(f"spans {previous} and {span} overlap")
        touches_same_type = previous is not None and previous.end == span.start and previous.type == span.type
        first = writes.first_after_same_type if touches_same_type and writes.first_after_same_type else writes.first
        size = span.end - span.start
        prefixes = [writes.single] if size == 1 else [first] + [writes.inside] * (size - 2) + [writes.last]
        if size == 1 and touches_same_type and writes.first_after_same_type:
            prefixes = [writes.first_after_same_type]
        tags[span.start : span.end] = [f"{prefix}-{span.type}" for prefix in prefixes]
        previous = span
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert a valid tag sequence from one scheme to another (through its spans)."""
    validate(tags, source)
    return tags_from_spans(spans_from_tags(tags), len(tags), target)


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """Make any tag sequence valid IOB2: a tag IOB2 does not allow where it stands starts an entity (``B-X``).

    Model predictions are read word by word, so ``O I-Disease`` or ``B-Chemical I-Disease`` can
    come out; the entity the model meant is clear, only its first prefix is wrong. ``E``/``S``
    tags are mapped to ``I``/``B`` first, and end their entity.
    """
    repaired: list[str] = []
    previous: str | None = None  # the repaired tag before, None after a sentence start or an entity's end
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        tag = OUTSIDE if prefix == OUTSIDE else f"{'B' if prefix == 'S' else 'I' if prefix == 'E' else prefix}-{entity_type}"
        if tag != OUTSIDE and not may_follow(previous, tag, "IOB2"):
            tag = f"B-{entity_type}"
        repaired.append(tag)
        previous = None if prefix in ("E", "S") else tag
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
