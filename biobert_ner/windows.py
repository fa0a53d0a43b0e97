"""Long texts in windows: text -> words -> sub-word ids -> overlapping windows of model inputs, and back.

The Python twin of the Java appendix's ``Windows`` and ``DocumentEncoding``, step for step:

1. :func:`encode_documents`: pre-tokenize each text with the project's one pre-tokenizer
   (:func:`biobert_ner.pretokenize.pretokenize`, which keeps character offsets), tokenize the
   word list (``is_split_into_words=True``) *without* special tokens and *without* truncation,
   and cut the sub-words into overlapping windows (:func:`plan_windows`) of at most
   ``window_length - 2`` tokens; each window becomes ``[CLS] + ids + [SEP]`` (a
   :class:`DocumentEncoding`, what the golden fixtures pin);
2. after the forward pass, :func:`merge_window_predictions` reads every token from the window where
   it sits farthest from an edge (most context on both sides), so each word gets exactly one tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .alignment import encode_words
from .pretokenize import Word, pretokenize

SPECIAL_TOKENS_PER_WINDOW = 2  # [CLS] in front, [SEP] at the end


@dataclass(frozen=True)
class DocumentEncoding:
    """Everything the model input of one text is made of (also what the golden fixtures pin)."""

    text: str
    words: list[Word]  # pre-tokenized words with character offsets into ``text``
    token_ids: list[int]  # sub-word ids of the whole text, no special tokens
    word_ids: list[int]  # for each sub-word, the index of its word
    windows: list[Window] = field(default_factory=list)  # token ranges, see plan_windows
    window_input_ids: list[list[int]] = field(default_factory=list)  # [CLS] + window tokens + [SEP]

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    def to_dict(self) -> dict:
        """Plain JSON-ready data (words as ``[text, start, end]``, windows as ``[start, end]``)."""
        return {
            "text": self.text,
            "words": [[word.text, word.start, word.end] for word in self.words],
            "token_ids": list(self.token_ids),
            "word_ids": list(self.word_ids),
            "windows": [[window.start, window.end] for window in self.windows],
            "window_input_ids": [list(ids) for ids in self.window_input_ids],
        }


def special_token_ids(tokenizer) -> tuple[int, int, int]:
    """``([CLS], [SEP], [PAD])`` ids of a BERT-style tokenizer; an error for tokenizers without them."""
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    if None in ids:
        raise ValueError(f"{type(tokenizer).__name__} has no [CLS]/[SEP]/[PAD] token: a BERT-style tokenizer is needed")
    return ids  # type: ignore[return-value]


def window_input_ids(token_ids: Sequence[int], windows: Sequence[Window], cls_id: int, sep_id: int) -> list[list[int]]:
    """The model input of each window: ``[CLS] + token_ids[start:end] + [SEP]``."""
    return [[cls_id, *token_ids[window.start : window.end], sep_id] for window in windows]


def encode_documents(tokenizer, texts: Sequence[str], *, window_length: int, stride: int) -> list[DocumentEncoding]:
    """Pre-tokenize, tokenize (one batched call) and window every text.

    A text without words, or whose words all tokenize to nothing (only control characters,
    say), gets no windows: there is nothing to send to the model.
    """
    cls_id, sep_id, _ = special_token_ids(tokenizer)
    all_words = [pretokenize(text) for text in texts]
    to_tokenize = [i for i, words in enumerate(all_words) if words]  # the tokenizer rejects an empty word list
    encodings = {}
    if to_tokenize:
        # no [CLS]/[SEP] (each window gets its own), never cut (long texts are windowed)
        batch = encode_words(tokenizer, [[word.text for word in all_words[i]] for i in to_tokenize], max_length=None)
        for row, i in enumerate(to_tokenize):
            encodings[i] = (batch["input_ids"][row], batch.word_ids(row))
    documents = []
    for i, (text, words) in enumerate(zip(texts, all_words)):
        token_ids, word_ids = encodings.get(i, ([], []))
        windows = plan_windows(len(token_ids), window_length - SPECIAL_TOKENS_PER_WINDOW, stride) if token_ids else []
        documents.append(
            DocumentEncoding(text, words, list(token_ids), list(word_ids), windows, window_input_ids(token_ids, windows, cls_id, sep_id))
        )
    return documents


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
