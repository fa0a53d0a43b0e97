"""Corpus statistics: what to look at before training on a data set.

How long sentences are decides ``max_length`` (and how much is truncated); how many entities
of each type there are, and how many sentences have none, says which F1 numbers will be noisy
and whether the splits look alike. These functions return plain data; the figure is drawn by
:func:`biobert_ner.plotting.plot_corpus_statistics`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence, Union

from .alignment import IGNORE_INDEX, count_cut_words, tokenize_and_align
from .data import Sentence, sentences_from_dataset
from .schemes import spans_from_tags, split_tag

if TYPE_CHECKING:
    import datasets

Sentences = Union[Iterable[Sentence], "datasets.Dataset"]


@dataclass
class CorpusStatistics:
    """Counts over one split. Entities are spans (a three-word disease name counts once)."""

    sentences: int
    tokens: int
    entities_per_type: dict[str, int]  # entity type -> number of entities, types sorted
    sentence_lengths: dict[int, int]  # words in a sentence -> number of such sentences (histogram data)
    label_counts: dict[str, int]  # tag -> number of words with it (label distribution)
    sentences_without_entities: int

    @property
    def entities(self) -> int:
        return sum(self.entities_per_type.values())

    @property
    def mean_sentence_length(self) -> float:
        return self.tokens / self.sentences if self.sentences else 0.0

    @property
    def max_sentence_length(self) -> int:
        return max(self.sentence_lengths, default=0)


def corpus_statistics(data: Sentences) -> CorpusStatistics:
    """Count sentences, words, entities per type, sentence lengths and labels of one split.

    ``data`` is a list of :class:`~biobert_ner.data.Sentence` or one split of a ``DatasetDict``.
    """
    sentences = sentences_from_dataset(data) if hasattr(data, "features") else list(data)  # type: ignore[arg-type]
    entities: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    labels: Counter[str] = Counter()
    without_entities = 0
    for sentence in sentences:
        spans = spans_from_tags(sentence.tags)
        entities.update(span.type for span in spans)
        lengths[len(sentence.tokens)] += 1
        labels.update(sentence.tags)
        without_entities += not spans
    return CorpusStatistics(
        sentences=len(sentences),
        tokens=sum(len(sentence.tokens) for sentence in sentences),
        entities_per_type=dict(sorted(entities.items())),
        sentence_lengths=dict(sorted(lengths.items())),
        label_counts={label: labels[label] for label in sorted(labels, key=_label_order)},
        sentences_without_entities=without_entities,
    )


def _label_order(tag: str) -> tuple[str, int]:
    """Sort key giving the order of a model's label list: ``O``, ``B-Chemical``, ``I-Chemical``, ``B-Disease``, ..."""
    prefix, entity_type = split_tag(tag)
    return entity_type or "", "OBIES".find(prefix)


def statistics_by_split(dataset_dict: Mapping[str, Sentences]) -> dict[str, CorpusStatistics]:
    """:func:`corpus_statistics` of every split of a ``DatasetDict`` (or of a dict of sentence lists)."""
    return {split: corpus_statistics(data) for split, data in dataset_dict.items()}


def statistics_table(dataset_dict: Mapping[str, Sentences]) -> list[dict[str, object]]:
    """One row per split, ready for ``pandas.DataFrame(rows)`` or printing.

    Keys: ``split``, ``sentences``, ``tokens``, ``entities``, ``entities:<type>`` for every
    type of any split (0 where a split has none), ``mean_length``, ``max_length``,
    ``without_entities``.
    """
    by_split = statistics_by_split(dataset_dict)
    types = sorted({entity_type for stats in by_split.values() for entity_type in stats.entities_per_type})
    return [
        {
            "split": split,
            "sentences": stats.sentences,
            "tokens": stats.tokens,
            "entities": stats.entities,
            **{f"entities:{t}": stats.entities_per_type.get(t, 0) for t in types},
            "mean_length": round(stats.mean_sentence_length, 1),
            "max_length": stats.max_sentence_length,
            "without_entities": stats.sentences_without_entities,
        }
        for split, stats in by_split.items()
    ]


@dataclass(frozen=True)
class TruncationCost:
    """What cutting sentences at ``max_length`` sub-words costs one split.

    A word is cut when none of its sub-words fits: it gets no prediction, so the model can
    never find an entity that contains it (a mention cut half-way is at best a boundary error).
    """

    sentences: int  # sentences that lose at least one word
    words: int  # words without any token left
    mentions: int  # gold entities with at least one word cut


def truncation_cost(tokenizer, data: Sentences, max_length: int) -> TruncationCost:
    """Tokenize ``data`` as training does (``truncation=True``, special tokens counted) and count what is cut."""
    sentences = sentences_from_dataset(data) if hasattr(data, "features") else list(data)  # type: ignore[arg-type]
    encodings = tokenizer([s.tokens for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length)
    cut_sentences = cut_words = cut_mentions = 0
    for i, sentence in enumerate(sentences):
        word_ids = encodings.word_ids(i)
        kept = {word_id for word_id in word_ids if word_id is not None}
        cut = count_cut_words(word_ids, len(sentence.tokens))
        cut_sentences += cut > 0
        cut_words += cut
        cut_mentions += sum(not kept.issuperset(range(span.start, span.end)) for span in spans_from_tags(sentence.tags))
    return TruncationCost(cut_sentences, cut_words, cut_mentions)


def loss_label_counts(tokenizer, data: Sentences, label_names: Sequence[str], strategy: str) -> dict[str, int]:
    """How many tokens carry each label when ``data`` is aligned with ``strategy`` (``-100`` not counted).

    Every labelled token is one term of the training loss, so these counts are the weight each
    label gets: under ``all`` a word counts once per sub-word. No truncation (the tokenizer's own
    maximum length), so the counts describe the corpus, not a ``max_length``.
    """
    sentences = sentences_from_dataset(data) if hasattr(data, "features") else list(data)  # type: ignore[arg-type]
    index = {name: i for i, name in enumerate(label_names)}
    encoded = tokenize_and_align(
        tokenizer,
        [sentence.tokens for sentence in sentences],
        [[index[tag] for tag in sentence.tags] for sentence in sentences],
        label_names,
        max_length=tokenizer.model_max_length,
        strategy=strategy,
    )
    counts = Counter(label for labels in encoded["labels"] for label in labels if label != IGNORE_INDEX)
    return {label_names[label]: counts[label] for label in sorted(counts)}
