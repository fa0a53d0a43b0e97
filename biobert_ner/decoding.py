"""From label scores per word to IOB2 tags: the best label of each word, or the best valid sequence.

A token-classification model scores every label for every word *independently*. Reading each
word's best label (``argmax``) can give a sequence IOB2 forbids, such as ``O I-Disease``: the model
was unsure where the entity starts. There are two ways out:

* ``argmax``: take the best label of each word, then repair the sequence afterwards
  (:func:`biobert_ner.schemes.repair_iob2`: the stray ``I-X`` becomes ``B-X``). The model's doubt
  about the first word is ignored; the repair always keeps the entity.
* ``viterbi`` (the default): among the sequences IOB2 allows, find the one with the highest total
  log-probability. ``O I-Disease`` is not allowed, so the search weighs ``O O`` against
  ``B-Disease I-Disease`` with the model's own probabilities of both words and keeps the likelier.
  The allowed starts, moves and ends are tables read from the scheme
  (:func:`biobert_ner.schemes.decoding_tables`; an exported bundle carries the same tables for
  Java), the search is the Viterbi algorithm: for each word and label, the best-scoring valid
  path that ends there.

It is the decoding step of a CRF tagger with transitions fixed to "allowed" or "not allowed"
instead of learned: no training, no new weights, and the output is valid IOB2 by construction.
Scores are log-probabilities, so a path's score is a sum and the best path is the most probable
valid sequence under the model's per-word probabilities.
"""

from __future__ import annotations

from enum import Enum
from typing import Sequence

import numpy as np

from .schemes import OUTSIDE, DecodingTables, decoding_tables


class Decoding(str, Enum):
    """How word tags are read from the model's label scores."""

    VITERBI = "viterbi"  # the most probable sequence that is valid IOB2
    ARGMAX = "argmax"  # each word's best label (may break IOB2: repaired later)


DEFAULT_DECODING = Decoding.VITERBI
DECODINGS = tuple(decoding.value for decoding in Decoding)


def parse_decoding(value: Decoding | str) -> Decoding:
    """``value`` as a :class:`Decoding`; anything else is an error that lists the choices."""
    try:
        return Decoding(value)
    except ValueError:
        raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, not {value!r}") from None


def iob2_tables(labels: Sequence[str]) -> DecodingTables:
    """The decoding tables of ``labels`` in IOB2, the scheme every model of this library predicts."""
    return decoding_tables(labels, "IOB2")


def allowed_transitions(labels: Sequence[str]) -> np.ndarray:
    """``allowed[previous, next]``: whether IOB2 lets label ``next`` follow label ``previous`` (``I-X`` only after ``B-X``/``I-X``)."""
    return np.array(iob2_tables(labels).transitions, dtype=bool)


def allowed_starts(labels: Sequence[str]) -> np.ndarray:
    """Whether a sentence may start with each label: anything but an ``I-`` (it has nothing to continue)."""
    return np.array(iob2_tables(labels).starts, dtype=bool)


def viterbi_path(log_probs: np.ndarray, tables: DecodingTables) -> list[int]:
    """The label ids of the most probable valid sequence, from ``log_probs`` of shape (words, labels).

    ``best[j]`` is the score of the best valid path over the words so far that ends in label ``j``;
    ``came_from[t][j]`` remembers that path's previous label, so the winner is read back at the end.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2 or log_probs.shape[1] != len(tables.labels):
        raise ValueError(f"log_probs must have shape (words, {len(tables.labels)}), got {log_probs.shape}")
    if len(log_probs) == 0:
        return []
    never = lambda allowed: np.where(np.array(allowed, dtype=bool), 0.0, -np.inf)  # noqa: E731 (a forbidden move never wins)
    forbidden = never(tables.transitions)
    best = never(tables.starts) + log_probs[0]
    came_from = []
    for word_scores in log_probs[1:]:
        candidates = best[:, None] + forbidden  # (previous, next): the path so far, then one allowed move
        came_from.append(candidates.argmax(axis=0))
        best = candidates.max(axis=0) + word_scores
    path = [int((best + never(tables.ends)).argmax())]
    for previous in reversed(came_from):
        path.append(int(previous[path[-1]]))
    return path[::-1]


def decode_word_labels(log_probs: np.ndarray, labels: Sequence[str], decoding: Decoding) -> list[int]:
    """One label id per word from (words, labels) log-probabilities (or logits, for ``argmax``)."""
    if parse_decoding(decoding) is Decoding.ARGMAX:
        return [int(label) for label in np.asarray(log_probs).argmax(axis=-1)] if len(log_probs) else []
    return viterbi_path(log_probs, iob2_tables(labels))


def decode_word_tags(word_log_probs: Sequence[np.ndarray | None], labels: Sequence[str], decoding: Decoding) -> list[str]:
    """One tag per word; ``None`` marks a word the model never saw (cut off, or no sub-word): tagged ``O``.

    An unseen word is certainly ``O`` in the search (log-probability 0 for ``O``, minus infinity
    for the rest), so the word after it cannot continue an entity across it.
    """
    certainly_outside = np.array([0.0 if label == OUTSIDE else -np.inf for label in labels])
    rows = [certainly_outside if row is None else np.asarray(row, dtype=np.float64) for row in word_log_probs]
    if not rows:
        return []
    return [labels[label] for label in decode_word_labels(np.stack(rows), labels, decoding)]
