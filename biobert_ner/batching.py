"""Batches of sentences of similar length, padded per batch.

A batch is a rectangle: every sentence is padded to the longest one in it, and the model
spends as much time on a pad token as on a real one. Sentences of a biomedical corpus range
from 5 to 80+ sub-words, so random batches are often half padding. Two cheap fixes:

* **dynamic padding**: pad each batch to its own longest sentence, not to ``max_length``
  (transformers' ``DataCollatorForTokenClassification`` does this, labels included);
* **length grouping**: put sentences of similar length in the same batch.

Sorting the whole training set by length would make every epoch see the same batches in the
same order (short ones first), which hurts training. The usual compromise, also used by
Hugging Face's ``group_by_length``: shuffle, cut into *mega-chunks* of ``chunk_batches``
batches, sort by length inside each chunk only, cut the chunk into batches, then shuffle the
order of all batches. Batches stay random in content and order, yet are nearly rectangular.

The sampler yields lists of indices (a ``batch_sampler`` for ``DataLoader``), seeded by
``seed`` and the epoch, so every process of a multi-GPU run computes the same batches and
Accelerate hands each process a different subset of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from .alignment import IGNORE_INDEX

if TYPE_CHECKING:
    from .training_config import TrainingConfig


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Index batches of similar-length sentences; deterministic given ``seed`` and the epoch.

    ``lengths[i]`` is the token count of example ``i``. With ``group_by_length=False`` the
    batches are plain random batches (same seeding), for comparison.

    Deliberately no ``batch_size`` attribute: batches vary in size (one partial batch), and
    Accelerate then shards them as whole batches instead of topping them up with repeats.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int = 42,
        group_by_length: bool = True,
        chunk_batches: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.chunk_batches = chunk_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Each epoch gets its own shuffle; the same epoch always gets the same batches."""
        self.epoch = epoch

    def __len__(self) -> int:
        # Chunks hold a whole number of batches, so only the very last batch can be partial.
        return math.ceil(len(self.lengths) / self.max_batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches(self.epoch))

    def batches(self, epoch: int) -> list[list[int]]:
        """All batches of one epoch, in the order they are trained on."""
        rng = np.random.default_rng([self.seed, epoch])  # own generator: the global RNGs stay untouched
        order = rng.permutation(len(self.lengths))
        if not self.group_by_length:
            return [order[i : i + self.max_batch_size].tolist() for i in range(0, len(order), self.max_batch_size)]
        chunk_size = self.chunk_batches * self.max_batch_size
        batches = []
        for start in range(0, len(order), chunk_size):
            chunk = order[start : start + chunk_size]
            # Longest first inside the chunk; a stable sort keeps the shuffle among equal lengths.
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.max_batch_size].tolist() for i in range(0, len(chunk), self.max_batch_size)]
        batch_order = rng.permutation(len(batches))
        # The batch with the longest sentence goes first: if memory runs out, it does so in
        # the first second of training instead of twenty minutes in.
        longest = int(np.argmax([self.lengths[batches[b]].max() for b in batch_order]))
        batch_order[[0, longest]] = batch_order[[longest, 0]]
        return [batches[b] for b in batch_order]


def padding_fraction(batches: Iterable[Sequence[int]]) -> float:
    """The share of pad tokens when each batch (a list of sentence lengths) is padded to its longest.

    ``[[3, 5], [4, 4]]`` -> 2 pad tokens out of 18 positions -> 0.111.
    """
    padded = real = 0
    for lengths in batches:
        lengths = list(lengths)
        if lengths:
            padded += max(lengths) * len(lengths)
            real += sum(lengths)
    return (padded - real) / padded if padded else 0.0


def batch_lengths(sampler: LengthGroupedBatchSampler, epoch: int = 0) -> list[list[int]]:
    """The sentence lengths of each batch of one epoch (the input of :func:`padding_fraction`)."""
    return [[int(sampler.lengths[i]) for i in batch] for batch in sampler.batches(epoch)]


def compare_padding(lengths: Sequence[int], batch_size: int, seed: int = 42) -> dict[str, float]:
    """Padding fraction of random batches versus length-grouped batches of the same sentences."""
    return {
        "random": padding_fraction(batch_lengths(LengthGroupedBatchSampler(lengths, batch_size, seed=seed, group_by_length=False))),
        "grouped": padding_fraction(batch_lengths(LengthGroupedBatchSampler(lengths, batch_size, seed=seed))),
    }


def make_collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Pads ``input_ids``/``attention_mask`` with the tokenizer's pad id and ``labels`` with -100, per batch.

    ``pad_to_multiple_of=8`` helps tensor cores on a GPU; on a CPU it only adds padding.
    """
    from transformers import DataCollatorForTokenClassification

    from .alignment import IGNORE_INDEX

    return DataCollatorForTokenClassification(
        tokenizer, padding="longest", pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE_INDEX, return_tensors="pt"
    )


def make_train_loader(train_split, tokenizer, config: "TrainingConfig", *, pad_to_multiple_of: int | None = None):
    """Tokenized, label-aligned training sentences in (length-grouped) batches: ``(loader, sampler)``."""
    from torch.utils.data import DataLoader

    from .alignment import encode_dataset

    if config.max_train_sentences:
        train_split = train_split.select(range(min(config.max_train_sentences, len(train_split))))
    encoded = encode_dataset(train_split, tokenizer, max_length=config.max_length, strategy=config.label_strategy)
    # Plain Python lists: on a fast GPU, reading Arrow rows one at a time costs more than the model.
    examples = encoded.select_columns(["input_ids", "attention_mask", "labels"]).to_list()
    lengths = [len(example["input_ids"]) for example in examples]
    sampler = LengthGroupedBatchSampler(lengths, config.batch_size, seed=config.seed, group_by_length=config.group_by_length)
    collate = make_collator(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
    return DataLoader(examples, batch_sampler=sampler, collate_fn=collate), sampler


def labelled_per_batch(examples, batches: int) -> float:
    """Mean labelled sub-words per batch over the whole training set (see :func:`biobert_ner.training.train_one_epoch`)."""
    labelled = sum(label != IGNORE_INDEX for example in examples for label in example["labels"])
    return labelled / batches
