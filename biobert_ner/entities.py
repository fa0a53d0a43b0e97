"""From sub-word scores to entities: word tags, then spans with character offsets (the Java ``Decoder``).

Every step is a function of data, no model needed (hand-written logits work):

1. :func:`token_probabilities`: softmax over each window's logits, ``[CLS]``/``[SEP]`` rows left out;
2. :func:`word_predictions`: the windows stitched together
   (:func:`biobert_ner.windows.merge_window_predictions`), each word read from its first sub-word
   (:func:`word_label_ids`, whatever the training strategy), the text's tags decoded together
   (:mod:`biobert_ner.decoding`: Viterbi over the scheme's tables, or argmax);
3. :func:`entities_from_word_tags`: tags repaired to valid IOB2, spans, character offsets into the
   text; an entity's score is the mean of its words' probabilities. :func:`decode_document` is the
   three in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .decoding import Decoding, decode_word_tags
from .pretokenize import Word
from .schemes import repair_iob2, spans_from_tags
from .windows import DocumentEncoding, merge_window_predictions

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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (shifted by the maximum, so large logits do not overflow)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def token_probabilities(window_logits: np.ndarray) -> np.ndarray:
    """Label probabilities of each window token, shape (tokens, labels), ``[CLS]``/``[SEP]`` rows left out."""
    return softmax(np.asarray(window_logits, dtype=np.float32))[1:-1]


def token_predictions(window_logits: np.ndarray) -> list[tuple[int, float]]:
    """``(label id, probability)`` of each window token's best label, ``[CLS]``/``[SEP]`` left out."""
    probabilities = token_probabilities(window_logits)
    best = probabilities.argmax(axis=-1)
    return [(int(label), float(probabilities[i, label])) for i, label in enumerate(best)]


def word_predictions(
    encoding: DocumentEncoding,
    window_logits: Sequence[np.ndarray],
    label_names: Sequence[str],
    decoding: Decoding,
) -> tuple[list[str], list[float]]:
    """One tag and its probability per word, decoded from the label probabilities of each word's first sub-word.

    The tags of the text are decoded together (:mod:`biobert_ner.decoding`): ``"viterbi"``, the most
    probable valid IOB2 sequence, or ``"argmax"``, which takes each word's best label on its own
    (which may break IOB2; :func:`decode_document` repairs it). A word's score is the probability
    of its tag. A word with no sub-word at all (a lone control character, which the tokenizer
    drops) is ``O`` with probability 1: the model never saw it.
    """
    if len(window_logits) != len(encoding.windows):
        raise ValueError(f"{len(encoding.windows)} windows but {len(window_logits)} logit arrays")
    per_window = [token_probabilities(logits) for logits in window_logits]
    per_token = merge_window_predictions(encoding.windows, per_window, encoding.num_tokens) if encoding.num_tokens else []
    # word_label_ids reads "the value at each word's first token"; given token positions as the
    # values, it says where each word's first token is.
    first_tokens = word_label_ids(encoding.word_ids, range(encoding.num_tokens), len(encoding.words))
    word_probabilities = [None if t is None else per_token[t] for t in first_tokens]
    with np.errstate(divide="ignore"):  # a probability of exactly 0 is a log-probability of minus infinity
        word_log_probs = [None if p is None else np.log(p.astype(np.float64)) for p in word_probabilities]
    tags = decode_word_tags(word_log_probs, label_names, decoding)
    label_ids = {label: i for i, label in enumerate(label_names)}
    scores = [1.0 if p is None else float(p[label_ids[tag]]) for p, tag in zip(word_probabilities, tags)]
    return tags, scores


def decode_document(
    encoding: DocumentEncoding,
    window_logits: Sequence[np.ndarray],
    label_names: Sequence[str],
    decoding: Decoding,
) -> list[Entity]:
    """Entities of one text from its windows' logits (no model needed: hand-written logits work)."""
    tags, scores = word_predictions(encoding, window_logits, label_names, decoding)
    return entities_from_word_tags(encoding.text, encoding.words, tags, scores)
