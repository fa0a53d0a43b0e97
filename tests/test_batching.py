"""Length-grouped batches: every sentence once per epoch, similar lengths, deterministic, less padding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobert_ner.batching import (
    LengthGroupedBatchSampler,
    batch_lengths,
    compare_padding,
    make_collator,
    padding_fraction,
)


def corpus_like_lengths(n: int = 1000, seed: int = 0) -> list[int]:
    """Sentence lengths in sub-words, spread like a biomedical corpus (5 to ~100)."""
    rng = random.Random(seed)
    return [max(5, int(rng.lognormvariate(3.3, 0.5))) for _ in range(n)]


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 200), min_size=1, max_size=300),
    batch_size=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    epoch=st.integers(0, 5),
    group=st.booleans(),
)
def test_every_index_exactly_once_per_epoch(lengths, batch_size, seed, epoch, group):
    sampler = LengthGroupedBatchSampler(lengths, batch_size, seed=seed, group_by_length=group, chunk_batches=3)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert len(batches) == len(sampler)
    assert all(1 <= len(batch) <= batch_size for batch in batches)
    assert sum(len(batch) < batch_size for batch in batches) <= 1  # at most one partial batch


def test_deterministic_by_seed_and_epoch():
    lengths = corpus_like_lengths()
    a = LengthGroupedBatchSampler(lengths, 16, seed=1)
    b = LengthGroupedBatchSampler(lengths, 16, seed=1)
    assert a.batches(0) == b.batches(0)
    assert a.batches(0) != a.batches(1)  # a new shuffle each epoch
    assert a.batches(0) != LengthGroupedBatchSampler(lengths, 16, seed=2).batches(0)
    a.set_epoch(3)
    assert list(a) == b.batches(3)


def test_batches_hold_similar_lengths_and_longest_comes_first():
    lengths = corpus_like_lengths()
    sampler = LengthGroupedBatchSampler(lengths, 32, seed=0)
    spreads = [max(b) - min(b) for b in batch_lengths(sampler)]
    assert sorted(spreads)[len(spreads) // 2] <= 2  # the median batch is nearly rectangular
    assert max(batch_lengths(sampler)[0]) == max(lengths)  # out-of-memory shows up in the first step
    # ...and the batch order is still shuffled, not sorted by length
    maxima = [max(b) for b in batch_lengths(sampler)[1:]]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)


def test_grouping_pads_much_less_than_random_batches():
    padding = compare_padding(corpus_like_lengths(), batch_size=32)
    assert padding["random"] > 0.3
    assert padding["grouped"] < 0.1
    assert padding["grouped"] < padding["random"] / 5


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([[3, 5], [4, 4]], 2 / 18),
        ([[4, 4, 4]], 0.0),
        ([[1, 9]], 8 / 18),
        ([[10], [1]], 0.0),
        ([], 0.0),
    ],
)
def test_padding_fraction(batches, expected):
    assert padding_fraction(batches) == pytest.approx(expected)


def test_accelerate_shards_give_each_process_different_batches():
    """What Accelerate does with our batch sampler under two processes: disjoint shares, nothing lost."""
    from accelerate.data_loader import BatchSamplerShard

    lengths = corpus_like_lengths(200)
    sampler = LengthGroupedBatchSampler(lengths, 10, seed=3)  # 20 batches: 10 per process
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=rank)) for rank in range(2)]
    seen = [{i for batch in shard for i in batch} for shard in shards]
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == set(range(200))


def test_collator_pads_per_batch_with_minus_100_labels(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    collate = make_collator(tokenizer)
    batch = collate(
        [
            {"input_ids": [2, 10, 3], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100]},
            {"input_ids": [2, 10, 11, 12, 3], "attention_mask": [1] * 5, "labels": [-100, 1, 2, 0, -100]},
        ]
    )
    assert batch["input_ids"].shape == (2, 5)  # the batch's longest, not max_length
    assert batch["input_ids"][0].tolist() == [2, 10, 3, tokenizer.pad_token_id, tokenizer.pad_token_id]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert batch["labels"][0].tolist() == [-100, 1, -100, -100, -100]
