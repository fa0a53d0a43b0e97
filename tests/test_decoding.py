"""Decoding word tags: the IOB2 transition table, Viterbi against brute force, unseen words."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobert_ner.decoding import allowed_starts, allowed_transitions, decode_word_tags, iob2_tables, viterbi_path
from biobert_ner.schemes import get_scheme, is_valid

LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


def test_allowed_transitions_is_the_iob2_rule():
    allowed = allowed_transitions(LABELS)
    # rows: previous label; columns: next label. Only I-X is restricted: after B-X or I-X.
    assert allowed.tolist() == [
        [True, True, False, True, False],  # after O
        [True, True, True, True, False],  # after B-Chemical
        [True, True, True, True, False],  # after I-Chemical
        [True, True, False, True, True],  # after B-Disease
        [True, True, False, True, True],  # after I-Disease
    ]
    assert allowed_starts(LABELS).tolist() == [True, True, False, True, False]


def brute_force(log_probs: np.ndarray) -> tuple[float, list[str]]:
    """The best valid sequence by trying them all: the reference Viterbi must agree with."""
    best = max(
        (sum(log_probs[i, LABELS.index(tag)] for i, tag in enumerate(tags)), list(tags))
        for tags in itertools.product(LABELS, repeat=len(log_probs))
        if is_valid(tags)
    )
    return best


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), words=st.integers(1, 5))
def test_viterbi_finds_the_best_valid_sequence(seed, words):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(words, len(LABELS)))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tags = [LABELS[i] for i in viterbi_path(log_probs, iob2_tables(LABELS))]
    best_score, _ = brute_force(log_probs)
    assert is_valid(tags)
    assert sum(log_probs[i, LABELS.index(tag)] for i, tag in enumerate(tags)) == pytest.approx(best_score)


def test_viterbi_is_argmax_when_argmax_is_valid():
    log_probs = np.log([[0.1, 0.7, 0.1, 0.05, 0.05], [0.1, 0.1, 0.6, 0.1, 0.1], [0.8, 0.05, 0.05, 0.05, 0.05]])
    assert viterbi_path(log_probs, iob2_tables(LABELS)) == [1, 2, 0]
    assert decode_word_tags(list(log_probs), LABELS, "argmax") == ["B-Chemical", "I-Chemical", "O"]


def test_an_inside_tag_that_breaks_iob2_is_weighed_not_kept():
    # argmax says "O I-Disease": the entity's start is missing. Viterbi compares the valid readings.
    probable_start = np.log([[0.55, 0.001, 0.001, 0.40, 0.048], [0.2, 0.001, 0.001, 0.1, 0.698]])
    assert decode_word_tags(list(probable_start), LABELS, "argmax") == ["O", "I-Disease"]
    assert decode_word_tags(list(probable_start), LABELS, "viterbi") == ["B-Disease", "I-Disease"]  # 0.40 x 0.698 > 0.55 x 0.2
    unlikely_start = np.log([[0.9, 0.001, 0.001, 0.05, 0.048], [0.35, 0.001, 0.001, 0.05, 0.598]])
    assert decode_word_tags(list(unlikely_start), LABELS, "viterbi") == ["O", "O"]  # 0.9 x 0.35 > 0.05 x 0.598 and 0.9 x 0.05


def test_an_unseen_word_is_outside_and_breaks_an_entity():
    inside = np.log([0.05, 0.001, 0.001, 0.048, 0.9])
    start = np.log([0.05, 0.001, 0.001, 0.9, 0.048])
    # a word cut off (None) between an entity start and a confident I-Disease: no entity crosses it
    tags = decode_word_tags([start, None, inside], LABELS, "viterbi")
    assert tags[1] == "O" and is_valid(tags)
    assert decode_word_tags([None, None], LABELS, "viterbi") == ["O", "O"]
    assert decode_word_tags([], LABELS, "viterbi") == []


def test_viterbi_checks_the_shape():
    with pytest.raises(ValueError, match=r"shape \(words, 5\)"):
        viterbi_path(np.zeros((3, 4)), iob2_tables(LABELS))


def test_an_unknown_decoding_is_refused_naming_the_choices():
    from biobert_ner.evaluation import EvaluationConfig
    from biobert_ner.training_config import TrainingConfig

    for make in (lambda: EvaluationConfig(decoding="crf"), lambda: TrainingConfig(decoding="crf"), lambda: decode_word_tags([None], LABELS, "crf")):
        with pytest.raises(ValueError, match="decoding must be one of viterbi, argmax, not 'crf'"):
            make()


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "IOBES", "IO"])
def test_viterbi_over_any_scheme_gives_a_valid_sequence(scheme: str) -> None:
    """The tables come from the scheme's own table, so Viterbi decodes IOB1 and IOBES too."""
    from biobert_ner.schemes import decoding_tables, is_valid

    prefixes = sorted(get_scheme(scheme).prefixes)
    labels = ["O"] + [f"{prefix}-{kind}" for kind in ("Chemical", "Disease") for prefix in prefixes]
    rng = np.random.default_rng(7)
    tables = decoding_tables(labels, scheme)
    for _ in range(200):
        log_probs = np.log(rng.dirichlet(np.ones(len(labels)), size=int(rng.integers(1, 7))))
        assert is_valid([labels[i] for i in viterbi_path(log_probs, tables)], scheme)
