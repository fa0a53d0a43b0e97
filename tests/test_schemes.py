"""Tagging schemes: validity tables per scheme, conversions, repair, spans (checked against seqeval)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from biobert_ner.schemes import (
    SCHEMES,
    Span,
    TagError,
    convert,
    entity_types,
    get_scheme,
    iob2_labels,
    is_valid,
    repair_iob2,
    spans_from_tags,
    split_tag,
    tag_problems,
    tags_from_spans,
    validate,
)

# (scheme, tags) that follow the scheme.
VALID = [
    ("IOB2", []),
    ("IOB2", ["O", "O"]),
    ("IOB2", ["B-Disease"]),
    ("IOB2", ["B-Disease", "I-Disease", "I-Disease", "O"]),
    ("IOB2", ["B-Disease", "B-Disease"]),
    ("IOB2", ["B-Chemical", "B-Disease", "I-Disease"]),
    ("IOB1", ["I-Disease", "I-Disease", "O"]),
    ("IOB1", ["I-Disease", "B-Disease"]),
    ("IOB1", ["I-Chemical", "I-Disease"]),
    ("IOBES", ["S-Disease", "O", "B-Gene", "I-Gene", "E-Gene"]),
    ("IOBES", ["B-Gene", "E-Gene", "S-Gene"]),
    ("IO", ["I-Disease", "I-Disease", "O", "I-Gene"]),
]

# (scheme, tags, substring of the first problem).
INVALID = [
    ("IOB2", ["O", "I-Disease"], "tag 2 'I-Disease' must follow B/I-Disease, not 'O'"),
    ("IOB2", ["I-Disease"], "tag 1 'I-Disease' must follow B/I-Disease, not 'the sentence start'"),
    ("IOB2", ["B-Chemical", "I-Disease"], "tag 2 'I-Disease' must follow B/I-Disease, not 'B-Chemical'"),
    ("IOB2", ["S-Disease"], "prefix 'S' is not used in IOB2"),
    ("IOB2", ["E-Disease"], "prefix 'E' is not used in IOB2"),
    ("IOB2", ["BDisease"], "malformed tag 'BDisease'"),
    ("IOB2", ["B-"], "malformed tag 'B-'"),
    ("IOB2", ["-Disease"], "malformed tag '-Disease'"),
    ("IOB2", ["Bx-Disease"], "malformed tag 'Bx-Disease'"),
    ("IOB1", ["B-Disease"], "tag 1 'B-Disease' must follow B/I-Disease"),
    ("IOB1", ["O", "B-Disease"], "must follow B/I-Disease, not 'O'"),
    ("IOB1", ["I-Chemical", "B-Disease"], "must follow B/I-Disease, not 'I-Chemical'"),
    ("IOBES", ["B-Gene"], "tag 1 'B-Gene' must be followed by E/I-Gene"),
    ("IOBES", ["B-Gene", "O"], "tag 1 'B-Gene' must be followed by E/I-Gene"),
    ("IOBES", ["B-Gene", "I-Gene"], "tag 2 'I-Gene' must be followed by E/I-Gene"),
    ("IOBES", ["E-Gene"], "tag 1 'E-Gene' must follow B/I-Gene"),
    ("IOBES", ["S-Gene", "I-Gene", "E-Gene"], "tag 2 'I-Gene' must follow B/I-Gene, not 'S-Gene'"),
    ("IO", ["B-Disease"], "prefix 'B' is not used in IO"),
]


@pytest.mark.parametrize(("scheme", "tags"), VALID)
def test_valid_sequences(scheme: str, tags: list[str]) -> None:
    assert tag_problems(tags, scheme) == []
    assert is_valid(tags, scheme)
    validate(tags, scheme)


@pytest.mark.parametrize(("scheme", "tags", "problem"), INVALID)
def test_invalid_sequences(scheme: str, tags: list[str], problem: str) -> None:
    problems = tag_problems(tags, scheme)
    assert problem in problems[0]
    assert not is_valid(tags, scheme)
    with pytest.raises(TagError, match=re.escape(problem)):
        validate(tags, scheme)


@pytest.mark.parametrize(("scheme", "tags", "problem"), INVALID)
def test_problems_name_the_tag_number(scheme: str, tags: list[str], problem: str) -> None:
    """biobert_ner.data turns "tag <n>" into the file line of the offending tag: keep that shape."""
    assert all(re.match(r"tag \d+", p) for p in tag_problems(tags, scheme))


def test_scheme_names_are_case_insensitive_and_unknown_ones_fail() -> None:
    assert get_scheme("iobes") is SCHEMES["IOBES"]
    with pytest.raises(TagError, match="unknown tagging scheme 'BILOU'"):
        get_scheme("BILOU")


@pytest.mark.parametrize(
    ("tag", "parts"),
    [("O", ("O", None)), ("B-Disease", ("B", "Disease")), ("I-Gene-or-protein", ("I", "Gene-or-protein"))],
)
def test_split_tag(tag: str, parts: tuple[str, str | None]) -> None:
    assert split_tag(tag) == parts


# (tags, spans): read leniently, any scheme.
SPANS = [
    ([], []),
    (["O", "O"], []),
    (["B-D", "I-D", "O", "B-C"], [Span(0, 2, "D"), Span(3, 4, "C")]),
    (["B-D", "B-D"], [Span(0, 1, "D"), Span(1, 2, "D")]),
    (["B-D", "I-C"], [Span(0, 1, "D"), Span(1, 2, "C")]),
    (["O", "I-D", "I-D"], [Span(1, 3, "D")]),  # IOB1 / broken IOB2: I starts an entity
    (["I-D", "B-D", "I-D"], [Span(0, 1, "D"), Span(1, 3, "D")]),  # IOB1
    (["S-D", "B-G", "I-G", "E-G", "O"], [Span(0, 1, "D"), Span(1, 4, "G")]),
    (["B-G", "E-G", "I-G"], [Span(0, 2, "G"), Span(2, 3, "G")]),
    (["I-D", "I-D", "O", "I-G"], [Span(0, 2, "D"), Span(3, 4, "G")]),  # IO
    (["B-D", "I-D"], [Span(0, 2, "D")]),  # entity at the end of the sentence
]


@pytest.mark.parametrize(("tags", "spans"), SPANS)
def test_spans_from_tags(tags: list[str], spans: list[Span]) -> None:
    assert spans_from_tags(tags) == spans


@pytest.mark.parametrize(
    ("spans", "scheme", "tags"),
    [
        ([Span(0, 1, "D"), Span(1, 3, "D")], "IOB2", ["B-D", "B-D", "I-D", "O"]),
        ([Span(0, 1, "D"), Span(1, 3, "D")], "IOB1", ["I-D", "B-D", "I-D", "O"]),
        ([Span(0, 1, "D"), Span(1, 3, "D")], "IOBES", ["S-D", "B-D", "E-D", "O"]),
        ([Span(0, 3, "D")], "IOBES", ["B-D", "I-D", "E-D", "O"]),
        ([Span(1, 3, "C"), Span(0, 1, "D")], "IO", ["I-D", "I-C", "I-C", "O"]),
    ],
)
def test_tags_from_spans(spans: list[Span], scheme: str, tags: list[str]) -> None:
    assert tags_from_spans(spans, 4, scheme) == tags


@pytest.mark.parametrize(
    ("spans", "problem"),
    [
        ([Span(0, 2, "D"), Span(1, 3, "D")], "overlap"),
        ([Span(3, 5, "D")], "does not fit"),
        ([Span(2, 2, "D")], "does not fit"),
    ],
)
def test_tags_from_spans_rejects_bad_spans(spans: list[Span], problem: str) -> None:
    with pytest.raises(TagError, match=problem):
        tags_from_spans(spans, 4)


# (tags, repaired): an I that starts an entity becomes B; E/S map to I/B.
REPAIRS = [
    (["O", "I-D"], ["O", "B-D"]),
    (["I-D", "I-D"], ["B-D", "I-D"]),
    (["B-C", "I-D", "I-D"], ["B-C", "B-D", "I-D"]),
    (["I-C", "O", "I-C"], ["B-C", "O", "B-C"]),
    (["B-D", "I-D", "B-D"], ["B-D", "I-D", "B-D"]),  # already valid: unchanged
    (["S-D", "I-D"], ["B-D", "B-D"]),  # S ends its entity, so the I after it starts a new one
    (["B-D", "E-D", "I-D"], ["B-D", "I-D", "B-D"]),
    (["O"], ["O"]),
    ([], []),
]


@pytest.mark.parametrize(("tags", "repaired"), REPAIRS)
def test_repair_iob2(tags: list[str], repaired: list[str]) -> None:
    assert repair_iob2(tags) == repaired
    assert is_valid(repaired, "IOB2")


def test_labels_helpers() -> None:
    assert entity_types(["O", "B-Gene", "I-Disease", "B-Disease"]) == ["Disease", "Gene"]
    assert iob2_labels(["Gene", "Disease", "Chemical", "Gene"]) == [
        "O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene",
    ]


def test_convert_rejects_invalid_input() -> None:
    with pytest.raises(TagError, match="must follow"):
        convert(["O", "I-D"], "IOB2", "IOBES")


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@st.composite
def sentences_with_spans(draw: st.DrawFn) -> tuple[int, list[Span]]:
    """A sentence length and non-overlapping spans in it (adjacent spans allowed)."""
    length = draw(st.integers(0, 12))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=length + 1)))
    spans = [
        Span(start, end, draw(st.sampled_from(["C", "D"])))
        for start, end in zip(cuts, cuts[1:])
        if draw(st.booleans())
    ]
    return length, spans


def _touching_same_type(spans: list[Span]) -> bool:
    return any(a.end == b.start and a.type == b.type for a, b in zip(spans, spans[1:]))


@settings(deadline=None)  # shared CI machines: time per example varies
@given(sentences_with_spans(), st.sampled_from(sorted(SCHEMES)), st.sampled_from(sorted(SCHEMES)))
def test_convert_round_trip_keeps_spans(sentence: tuple[int, list[Span]], source: str, target: str) -> None:
    length, spans = sentence
    if "IO" in (source, target):
        assume(not _touching_same_type(spans))  # IO cannot tell two touching entities of one type apart
    tags = tags_from_spans(spans, length, source)
    assert is_valid(tags, source), tag_problems(tags, source)
    converted = convert(tags, source, target)
    assert is_valid(converted, target), tag_problems(converted, target)
    assert spans_from_tags(converted) == spans
    assert convert(converted, target, source) == tags


TAGS = st.lists(st.sampled_from(["O", "B-C", "I-C", "B-D", "I-D"]), max_size=12)


@settings(deadline=None)  # shared CI machines: time per example varies
@given(TAGS)
def test_spans_agree_with_seqeval(tags: list[str]) -> None:
    """seqeval's get_entities reads IOB2 like conlleval, with inclusive ends: ours are exclusive."""
    expected = [Span(start, end + 1, entity_type) for entity_type, start, end in get_entities(tags)]
    assert spans_from_tags(tags) == sorted(expected)


@settings(deadline=None)  # shared CI machines: time per example varies
@given(TAGS)
def test_repair_keeps_the_entities_a_lenient_reader_sees(tags: list[str]) -> None:
    repaired = repair_iob2(tags)
    assert is_valid(repaired, "IOB2")
    assert spans_from_tags(repaired) == spans_from_tags(tags)
    assert repair_iob2(repaired) == repaired
