"""Sub-word label alignment: word tags -> token labels for training, and back for prediction.

BERT's WordPiece splits ``nephrotoxicity`` into ``ne ##ph ##rot ##ox ##icity``, but the corpus
has one tag per *word*. A fast tokenizer's ``word_ids()`` tells which word each token came
from (``None`` for ``[CLS]``/``[SEP]``/padding), and that is all alignment needs:

* training, strategy ``first``: the first token of each word carries the word's label, every
  other token gets ``-100`` (PyTorch's cross-entropy ignores it);
* training, strategy ``all``: every token carries a label; continuation pieces of a ``B-X``
  word get ``I-X`` (a word has one beginning);
* prediction: the label of a word is the label predicted for its first token, whatever the
  training strategy, so entity F1 is always counted over words.

Documents longer than the model window are cut into overlapping token windows; every token is
read from the window where it sits farthest from an edge (most context on both sides), so each
word gets exactly one tag. The Java appendix implements the same plan
(``Windows.java``), pinned by shared golden fixtures.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from .pretokenize import Word
from .schemes import OUTSIDE, repair_iob2, spans_from_tags, split_tag

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


# ---------------------------------------------------------------- back from tokens to words


def word_label_ids(word_ids: Sequence[int | None], token_label_ids: Sequence[int], num_words: int) -> list[int | None]:
    """One label id per word: the label of the word's first token (``None`` if the word has no token)."""
    per_word: list[int | None] = [None] * num_words
    previous_word: int | None = None
    for word_id, label_id in zip(word_ids, token_label_ids):
        if word_id is not None and word_id != previous_word:
            per_word[word_id] = int(label_id)
        previous_word = word_id
    return per_word


@dataclass(frozen=True)
class Entity:
    """An entity found in raw text; ``text == source[start:end]`` (half-open character offsets)."""

    type: str
    text: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return {"type": self.type, "text": self.text, "start": self.start, "end": self.end, "score": round(self.score, 4)}


def entities_from_word_tags(
    text: str, words: Sequence[Word], tags: Sequence[str], word_scores: Sequence[float] | None = None
) -> list[Entity]:
    """Word tags -> repaired IOB2 -> spans -> entities with character offsets into ``text``.

    An entity's score is the mean of its words' scores (the probability of each word's tag).
    """
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} words but {len(tags)} tags")
    scores = word_scores if word_scores is not None else [1.0] * len(words)
    entities = []
    for span in spans_from_tags(repair_iob2(tags)):
        start, end = words[span.start].start, words[span.end - 1].end
        score = sum(scores[span.start : span.end]) / (span.end - span.start)
        entities.append(Entity(span.type, text[start:end], start, end, float(score)))
    return entities


# ---------------------------------------------------------------- long documents: windows


@dataclass(frozen=True)
class Window:
    """Tokens ``[start, end)`` of a document's sub-word sequence (special tokens not counted)."""

    start: int
    end: int


def plan_windows(num_tokens: int, max_tokens: int, stride: int) -> list[Window]:
    """Overlapping windows of at most ``max_tokens`` sub-words covering ``num_tokens``.

    Consecutive windows overlap by ``stride`` tokens (``stride < max_tokens``). The last window
    is shifted left to end exactly at the document's end, so it is full-sized too.
    """
    if max_tokens <= 0 or not 0 <= stride < max_tokens:
        raise ValueError(f"need 0 <= stride < max_tokens, got stride={stride}, max_tokens={max_tokens}")
    if num_tokens <= max_tokens:
        return [Window(0, num_tokens)]
    step = max_tokens - stride
    windows = []
    start = 0
    while start + max_tokens < num_tokens:
        windows.append(Window(start, start + max_tokens))
        start += step
    windows.append(Window(num_tokens - max_tokens, num_tokens))
    return windows


def best_window_per_token(windows: Sequence[Window], num_tokens: int) -> list[int]:
    """For each token, the index of the window where it has the most context on its worse side.

    Ties go to the earlier window. This is the merge rule: a word's tag is read from the
    window chosen for its first token.
    """
    choice = [0] * num_tokens
    best_margin = [-1] * num_tokens
    for index, window in enumerate(windows):
        for position in range(window.start, window.end):
            margin = min(position - window.start, window.end - 1 - position)
            if margin > best_margin[position]:
                best_margin[position], choice[position] = margin, index
    return choice


def merge_window_predictions(
    windows: Sequence[Window], window_predictions: Sequence[Sequence], num_tokens: int
) -> list:
    """Stitch per-window token predictions (without special tokens) into one per document token."""
    choice = best_window_per_token(windows, num_tokens)
    return [window_predictions[w][position - windows[w].start] for position, w in enumerate(choice)]
