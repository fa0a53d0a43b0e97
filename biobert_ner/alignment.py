"""Sub-word label alignment for training: word tags -> token labels.

BERT's WordPiece splits ``nephrotoxicity`` into ``ne ##ph ##rot ##ox ##icity``, but the corpus
has one tag per *word*. A fast tokenizer's ``word_ids()`` tells which word each token came
from (``None`` for ``[CLS]``/``[SEP]``/padding), and that is all alignment needs:

* strategy ``first``: the first token of each word carries the word's label, every other token
  gets ``-100`` (PyTorch's cross-entropy ignores it);
* strategy ``all``: every token carries a label; continuation pieces of a ``B-X`` word get
  ``I-X`` (a word has one beginning).

The way back (a word's label is the one predicted for its first token, whatever the training
strategy, so entity F1 is always counted over words) is :mod:`biobert_ner.entities`; long
documents in windows are :mod:`biobert_ner.windows`. :func:`encode_words` is the one way words
become model inputs, for training, evaluation and inference alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from .schemes import split_tag

IGNORE_INDEX = -100  # the label id torch.nn.CrossEntropyLoss skips


class LabelStrategy(str, enum.Enum):
    """Which sub-word tokens carry a label during training."""

    FIRST = "first"  # first sub-word labelled, the rest IGNORE_INDEX (the BERT paper's choice)
    ALL = "all"  # every sub-word labelled, B-X continuation pieces as I-X


def parse_label_strategy(value: LabelStrategy | str) -> LabelStrategy:
    """``value`` as a :class:`LabelStrategy`; anything else is an error that lists the choices."""
    try:
        return LabelStrategy(value)
    except ValueError:
        choices = ", ".join(strategy.value for strategy in LabelStrategy)
        raise ValueError(f"label_strategy must be one of {choices}, not {value!r}") from None


def inside_label_ids(label_names: Sequence[str]) -> list[int]:
    """For each label id, the id a continuation piece gets under ``all``: B-X -> I-X, others unchanged."""
    index = {name: i for i, name in enumerate(label_names)}
    result = []
    for i, name in enumerate(label_names):
        prefix, entity_type = split_tag(name)
        inside = f"I-{entity_type}"
        result.append(index[inside] if prefix == "B" and inside in index else i)
    return result


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    strategy: LabelStrategy,
    inside_ids: Sequence[int] | None = None,
) -> list[int]:
    """Token labels for one encoded sentence.

    ``word_ids`` is ``encoding.word_ids()``; ``word_labels`` holds one label id per word.
    ``inside_ids`` (from :func:`inside_label_ids`) is needed for the ``all`` strategy.
    """
    strategy = parse_label_strategy(strategy)
    if strategy is LabelStrategy.ALL and inside_ids is None:
        raise ValueError("the 'all' strategy needs inside_ids (see inside_label_ids)")
    labels: list[int] = []
    previous_word: int | None = None
    for word_id in word_ids:
        if word_id is None:
            labels.append(IGNORE_INDEX)
        elif word_id != previous_word:
            labels.append(word_labels[word_id])
        elif strategy is LabelStrategy.ALL:
            labels.append(inside_ids[word_labels[word_id]])  # type: ignore[index]
        else:
            labels.append(IGNORE_INDEX)
        previous_word = word_id
    return labels


@dataclass
class TruncationReport:
    """How much a ``max_length`` cut away: reported, never silent."""

    sentences: int = 0  # sentences that lost at least one word
    words: int = 0  # words whose first sub-word did not fit

    def __str__(self) -> str:
        return f"truncation at max_length cut {self.words} words from {self.sentences} sentences"


def count_cut_words(word_ids: Sequence[int | None], num_words: int) -> int:
    """How many words of a sentence have no token in the (truncated) encoding."""
    kept = {word_id for word_id in word_ids if word_id is not None}
    return num_words - len(kept)


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], *, max_length: int | None):
    """Sub-word ids of pre-split sentences, with ``word_ids(i)``: the one way words become model inputs.

    Training, evaluation and inference all call this, so a word is split into the same
    sub-words everywhere. With ``max_length`` (training and evaluation): each sentence as
    training sees it, ``[CLS] ... [SEP]``, cut at ``max_length`` sub-words. With ``None``
    (inference): the whole text without special tokens and never cut; inference reads it
    through windows (:func:`plan_windows`), each with its own ``[CLS]``/``[SEP]``.
    """
    words = [list(sentence) for sentence in sentences]
    if max_length is None:
        # verbose=False: no "longer than the maximum" warning, that is what windows are for
        return tokenizer(words, is_split_into_words=True, add_special_tokens=False, truncation=False, verbose=False)
    return tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)


def tokenize_and_align(
    tokenizer,
    tokens: Sequence[Sequence[str]],
    word_labels: Sequence[Sequence[int]],
    label_names: Sequence[str],
    *,
    max_length: int,
    strategy: LabelStrategy,
    report: TruncationReport | None = None,
) -> dict[str, list]:
    """Tokenize a batch of pre-split sentences and align their labels (``datasets.map`` friendly).

    Returns ``input_ids``, ``attention_mask`` and ``labels``; no padding (the collator pads
    each batch to its own longest sentence). Words cut by ``max_length`` are added to ``report``.
    """
    encodings = encode_words(tokenizer, tokens, max_length=max_length)
    inside_ids = inside_label_ids(label_names)
    all_labels = []
    for i, sentence_labels in enumerate(word_labels):
        word_ids = encodings.word_ids(i)
        all_labels.append(align_labels(word_ids, sentence_labels, strategy, inside_ids))
        cut = count_cut_words(word_ids, len(sentence_labels))
        if cut and report is not None:
            report.sentences += 1
            report.words += cut
    return {"input_ids": encodings["input_ids"], "attention_mask": encodings["attention_mask"], "labels": all_labels}


def encode_dataset(dataset, tokenizer, *, max_length: int, strategy: LabelStrategy):
    """Tokenize and align every split of a ``DatasetDict`` (or one ``Dataset``) with ``tokens``/``ner_tags``.

    Prints one line per split when truncation cut words, so a too-small ``max_length`` is seen.
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        return datasets.DatasetDict(
            {name: encode_dataset(split, tokenizer, max_length=max_length, strategy=strategy) for name, split in dataset.items()}
        )
    label_names = dataset.features["ner_tags"].feature.names
    report = TruncationReport()
    encoded = dataset.map(
        lambda batch: tokenize_and_align(
            tokenizer, batch["tokens"], batch["ner_tags"], label_names, max_length=max_length, strategy=strategy, report=report
        ),
        batched=True,
        remove_columns=[c for c in dataset.column_names if c not in ("tokens", "ner_tags")],
        load_from_cache_file=False,
        desc="tokenize + align",
    )
    if report.words:  # one line, where the run's other messages go (a notebook cell, the training log)
        print(f"warning: {report} (max_length={max_length})")
    return encoded
