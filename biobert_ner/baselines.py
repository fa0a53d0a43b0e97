"""Trivial baselines: the scores a model must beat before it has learned anything.

Two taggers that need no model, scored like a model (:func:`biobert_ner.evaluation.evaluate_tags`):

* everything ``O`` (:func:`outside_tags`): on a corpus where most words are outside any entity,
  it gets a high word accuracy and an entity F1 of exactly zero, which is why NER is scored on
  entities;
* a dictionary of the training mentions (:func:`mention_dictionary`, :func:`dictionary_tags`),
  found again in new text by exact, lower-cased, longest match. Its recall says how much of a
  test set is names already seen in training; its precision what matching without context costs.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

from .data import Sentence
from .schemes import OUTSIDE, spans_from_tags

Dictionary = Mapping[tuple[str, ...], str]  # lower-cased words of a mention -> its entity type


def outside_tags(sentences_words: Iterable[Sequence[str]]) -> list[list[str]]:
    """``O`` for every word of every sentence: the prediction of a model that finds nothing."""
    return [[OUTSIDE] * len(words) for words in sentences_words]


def mention_key(words: Sequence[str]) -> tuple[str, ...]:
    """How the dictionary spells a mention: its words, lower-cased (``Breast Cancer`` = ``breast cancer``)."""
    return tuple(word.lower() for word in words)


def mention_dictionary(sentences: Iterable[Sentence]) -> dict[tuple[str, ...], str]:
    """Every entity of ``sentences``, keyed by :func:`mention_key`, with the type it has most often.

    A string annotated with two types (``insulin`` as Gene and as Chemical) keeps the more frequent
    one, the alphabetically first on a tie: a dictionary has one answer per string.
    """
    types: dict[tuple[str, ...], Counter[str]] = {}
    for sentence in sentences:
        for span in spans_from_tags(sentence.tags):
            types.setdefault(mention_key(sentence.tokens[span.start : span.end]), Counter())[span.type] += 1
    return {key: min(counts, key=lambda t: (-counts[t], t)) for key, counts in sorted(types.items())}


def dictionary_tags(words: Sequence[str], dictionary: Dictionary) -> list[str]:
    """IOB2 tags of ``words``: left to right, the longest dictionary mention starting at each word.

    A word inside a match is not looked at again, so matches never overlap; a word where no
    mention starts is ``O``.
    """
    longest = max(map(len, dictionary), default=0)
    keys = mention_key(words)
    tags = [OUTSIDE] * len(words)
    start = 0
    while start < len(words):
        for size in range(min(longest, len(words) - start), 0, -1):
            entity_type = dictionary.get(keys[start : start + size])
            if entity_type is not None:
                tags[start : start + size] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (size - 1)
                start += size
                break
        else:
            start += 1
    return tags
