"""Trivial baselines: the scores a model must beat before it has learned anything.

Two taggers that need no model, scored like a model (:func:`biobert_ner.evaluation.evaluate_tags`):

* everything ``O`` (:func:`outside_tags`): on a corpus where most words are outside any entity,
  it gets a high word accuracy and an entity F1 of exactly zero, which is why NER is scored on
  entities;
* a dictionary of the training mentions (:func:`mention_dictionary`, :func:`dictionary_tags`),
  found again in new text by exact, lower-cased, longest match. Its recall says how much of a
  test set is names already seen in training; its precision what matching without context costs.

:func:`baseline_scores` scores all three (all-O, the dictionary of the model's training sentences,
the dictionary of the whole training split) on dev and test, for the table and plot that notebooks
04-06 and the model card put beside a model's scores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from .data import Sentence, sentences_from_dataset
from .evaluation import evaluate_tags
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


# ---------------------------------------------------------------- the baselines beside a model's scores


@dataclass(frozen=True)
class BaselineScore:
    """One baseline's entity F1 on the dev and test splits (``None``: the split is missing)."""

    name: str
    dev_f1: float | None
    test_f1: float | None


def _entity_f1(split, tagger: Callable[[Sequence[str]], list[str]]) -> float | None:
    if split is None:
        return None
    sentences = sentences_from_dataset(split)
    gold = [sentence.tags for sentence in sentences]
    return evaluate_tags(gold, [tagger(sentence.tokens) for sentence in sentences]).entity_f1


def baseline_scores(dataset, train_sentences: int | None = None) -> list[BaselineScore]:
    """All-O, the dictionary of the model's training sentences, the dictionary of all of them.

    ``dataset`` is a ``DatasetDict`` with ``train`` and (when present) ``validation`` and ``test``;
    ``train_sentences`` is how many of the first training sentences the model saw (``None``: all),
    as ``TrainingConfig.max_train_sentences``. A model trained on N sentences is compared with the
    dictionary of the same N (what those sentences alone teach by rote) and with the dictionary of
    the whole training split (the bar a model trained on part of the data still has to clear).
    """
    train = sentences_from_dataset(dataset["train"])
    seen = train[: train_sentences] if train_sentences else train
    dev, test = dataset.get("validation"), dataset.get("test")
    rows = [BaselineScore("all O", _entity_f1(dev, lambda words: [OUTSIDE] * len(words)),
                          _entity_f1(test, lambda words: [OUTSIDE] * len(words)))]
    for name, sentences in [(f"dictionary of the {len(seen):,} training sentences the model saw", seen),
                            (f"dictionary of all {len(train):,} training sentences", train)]:
        dictionary = mention_dictionary(sentences)
        rows.append(BaselineScore(name, _entity_f1(dev, lambda words: dictionary_tags(words, dictionary)),
                                  _entity_f1(test, lambda words: dictionary_tags(words, dictionary))))
    return rows


def _shown(f1: float | None) -> str:
    return "-" if f1 is None else f"{f1:.3f}"


def comparison_rows(model_name: str, dev_f1: float | None, test_f1: float | None,
                    baselines: Sequence[BaselineScore]) -> list[list[str]]:
    """Table rows ``[tagger, dev F1, test F1]``: the model first, then each baseline."""
    return [[model_name, _shown(dev_f1), _shown(test_f1)]] + [[b.name, _shown(b.dev_f1), _shown(b.test_f1)] for b in baselines]


COMPARISON_HEADER = ["tagger", "dev entity F1", "test entity F1"]


def plot_comparison(model_name: str, dev_f1: float | None, test_f1: float | None, baselines: Sequence[BaselineScore]):
    """A bar plot of the model's dev and test F1 beside each baseline's (a matplotlib ``Figure``)."""
    from matplotlib.figure import Figure

    names = [model_name] + [b.name for b in baselines]
    scores = {"dev": [dev_f1] + [b.dev_f1 for b in baselines], "test": [test_f1] + [b.test_f1 for b in baselines]}
    fig = Figure(figsize=(8, 0.55 * len(names) + 1.2), layout="constrained")
    axes = fig.subplots()
    for offset, (split, values) in zip((-0.2, 0.2), scores.items()):
        bars = axes.barh([i + offset for i in range(len(names))], [v or 0.0 for v in values], 0.4, label=f"{split} F1")
        axes.bar_label(bars, labels=[_shown(v) for v in values], fontsize=8, padding=2)
    axes.set_yticks(range(len(names)), names)
    axes.invert_yaxis()
    axes.set(xlim=(0, 1), xlabel="entity F1 (strict)", title="The model beside the baselines it must beat")
    axes.legend(loc="lower right")
    return fig


def card_lines(baselines: Sequence[BaselineScore]) -> list[str]:
    """The model card's baseline table (markdown)."""
    rows = ["| baseline | dev F1 | test F1 |", "|---|---|---|"]
    rows += [f"| {b.name} | {_shown(b.dev_f1)} | {_shown(b.test_f1)} |" for b in baselines]
    return rows
