"""The reference implementations the exercises are checked against.

Kept here, not in the test cells: a reference one line from the answer is an answer. The
exercises may not call them (:data:`biobert_ner.answer_guard.FORBIDDEN_CALLS`). Each reference
names the exercise it answers; the test cells compare with it through
:func:`biobert_ner.checks.check_against`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def entity_spans_reference(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Exercise 02.1: the entities of an IOB2 sequence as ``(start, end, type)`` tuples."""
    from .schemes import spans_from_tags

    return [(span.start, span.end, span.type) for span in spans_from_tags(tags)]


def pieces_per_word(tokens: Sequence[str], tokenizer: Any) -> list[int]:
    """Pieces of each word, counted from the tokenizer run on the whole sentence (not word by word)."""
    word_ids = tokenizer(list(tokens), is_split_into_words=True, add_special_tokens=False).word_ids()
    return [word_ids.count(i) for i in range(len(tokens))]


def fragmentation_reference(split: Any, tokenizer: Any, label_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Exercise 01.2: per entity type, its count and its mean words and pieces per entity and per word."""
    from .schemes import spans_from_tags

    entities: dict[str, int] = {}
    words: dict[str, int] = {}
    pieces: dict[str, int] = {}
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        counts = pieces_per_word(tokens, tokenizer)
        for span in spans_from_tags([label_names[tag] for tag in tags]):
            entities[span.type] = entities.get(span.type, 0) + 1
            words[span.type] = words.get(span.type, 0) + span.end - span.start
            pieces[span.type] = pieces.get(span.type, 0) + sum(counts[span.start : span.end])
    return {
        t: {"entities": entities[t], "words_per_entity": words[t] / entities[t],
            "pieces_per_word": pieces[t] / words[t], "pieces_per_entity": pieces[t] / entities[t]}
        for t in sorted(entities)
    }


def fragmentation_answers_reference(split: Any, tokenizer: Any, label_names: Sequence[str]) -> tuple[str, str]:
    """Exercise 01.2: the type with most pieces per entity, and which factor makes it so."""
    table = fragmentation_reference(split, tokenizer, label_names)
    most = max(table, key=lambda t: table[t]["pieces_per_entity"])
    longest = max(table, key=lambda t: table[t]["words_per_entity"])
    return most, "more words" if longest == most else "more pieces per word"


def scheduler_rate(step: int, warmup: int, total: int, peak: float) -> float:
    """Exercise 04.1: what transformers' linear schedule (the one ``training.train`` uses) says for update ``step``."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    for _ in range(step):
        optimizer.step()
        scheduler.step()
    return scheduler.get_last_lr()[0]


def train_epoch_reference(model, loader, optimizer, scheduler, *, labelled_per_batch, accumulation_steps=1, max_grad_norm=1.0) -> float:
    """Exercise 04.2's convention: each batch's loss is divided by the size of *its* accumulation group.

    So every update is the mean over the batches it adds up, the last, partial group of an epoch
    included. Returns the mean cross-entropy per labelled sub-word over the epoch.
    """
    import torch

    model.train()
    loss_sum = labelled = 0.0
    batches = len(loader)
    for number, batch in enumerate(loader, start=1):
        group_start = (number - 1) // accumulation_steps * accumulation_steps
        group_size = min(accumulation_steps, batches - group_start)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"].flatten()
        summed = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum")
        (summed / labelled_per_batch / group_size).backward()
        if number - group_start == group_size:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        loss_sum += summed.item()
        labelled += (labels != -100).sum().item()
    return loss_sum / labelled


def default_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """seqeval's default (conlleval) reading: ``(type, first word, last word)``."""
    from seqeval.metrics.sequence_labeling import get_entities

    return set(get_entities(list(tags)))


def strict_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """seqeval's strict IOB2 reading, in the default reading's terms (seqeval's strict end is excluded)."""
    from seqeval.scheme import IOB2, Entities

    return {(e.tag, e.start, e.end - 1) for e in Entities([list(tags)], IOB2).entities[0]}


def modes_disagree_reference(tags: Sequence[str]) -> bool:
    """Exercise 05.3b: whether the two readings differ."""
    return default_entities(tags) != strict_entities(tags)


def mode_disagreements_reference(tag_sequences: Sequence[Sequence[str]]) -> list[int]:
    """Exercise 05.3a: the indices of the sequences the two readings read differently."""
    return [i for i, tags in enumerate(tag_sequences) if modes_disagree_reference(tags)]


def f1_three_ways_reference(gold, predicted) -> tuple[float, float, float]:
    """Exercise 05.3c: F1 in seqeval's default mode, strict on the raw tags, strict after the repair."""
    from seqeval.metrics import f1_score

    from .evaluation import evaluate_tags
    from .schemes import repair_iob2

    return (
        f1_score(gold, predicted),
        evaluate_tags(gold, predicted, repair=False).entity_f1,
        evaluate_tags(gold, [repair_iob2(tags) for tags in predicted]).entity_f1,
    )


def seed_sd_reference(runs: Mapping[str, Sequence[float]]) -> float:
    """Exercise 06.3a: the pooled standard deviation over seeds (the root of the mean sample variance)."""
    return float(np.sqrt(np.mean([np.var(scores, ddof=1) for scores in runs.values()])))


def is_meaningful_reference(difference: float, sd: float) -> bool:
    """Exercise 06.3b: more than two standard deviations of the difference of two runs (sqrt(2) sd)."""
    return bool(abs(difference) > 2 * np.sqrt(2) * sd)


def seeds_needed_reference(difference: float, sd: float) -> int:
    """Exercise 06.3b: the smallest n with ``|difference| > 2 sqrt(2) sd / sqrt(n)``."""
    import math

    return math.floor((2 * math.sqrt(2) * sd / abs(difference)) ** 2) + 1


def seed_answers_reference(runs: Mapping[str, Sequence[float]]) -> tuple[float, bool, int, bool]:
    """Exercise 06.3c: sigma, whether 0.005 is real, seeds for 0.005, whether the best recipe's mean is meaningfully ahead."""
    sigma = seed_sd_reference(runs)
    means = {recipe: float(np.mean(scores)) for recipe, scores in runs.items()}
    gap = means["lr 2e-4, 5 epochs"] - means["lr 1e-4, 5 epochs"]
    return sigma, is_meaningful_reference(0.005, sigma), seeds_needed_reference(0.005, sigma), bool(abs(gap) > 2 * sigma)


def card_facts_from_files(folder: Path) -> dict[str, Any]:
    """Exercise 06.4: the facts of a model card, read from the files the training run wrote beside it."""
    import json

    folder = Path(folder)
    settings = json.loads((folder / "ner_settings.json").read_text(encoding="utf-8"))
    id2label = json.loads((folder / "config.json").read_text(encoding="utf-8"))["id2label"]
    metrics = json.loads((folder.parent / "metrics.json").read_text(encoding="utf-8"))
    return {
        "labels": [id2label[str(i)] for i in range(len(id2label))],
        "max_length": settings["max_length"],
        "label_strategy": settings["label_strategy"],
        "dev_f1": metrics["dev"]["entity_f1"],
        "test_f1": metrics["test"]["entity_f1"],
    }


def cut_entities_reference(word_ids: Sequence[int], windows: Sequence[Any], spans: Sequence[Any]) -> list[Any]:
    """Exercise 07.3a: the spans no window holds whole (a word is held when all its sub-words are)."""
    def whole_words(window):
        return set(word_ids[window.start : window.end]) - set(word_ids[: window.start]) - set(word_ids[window.end :])

    held = [whole_words(window) for window in windows]
    return [span for span in spans if not any(set(range(span.start, span.end)) <= words for words in held)]


def safe_stride_reference(tokenized: Sequence[tuple[Sequence[int], Sequence[Any]]], window_length: int) -> int:
    """Exercise 07.3b: the smallest stride at which no gold entity is cut."""
    from .windows import plan_windows

    def cut_anything(stride: int) -> bool:
        return any(cut_entities_reference(ids, plan_windows(len(ids), window_length - 2, stride), spans) for ids, spans in tokenized)

    return next(stride for stride in range(window_length - 2) if not cut_anything(stride))


def stride_answers_reference(tokenized: Sequence[tuple[Sequence[int], Sequence[Any]]]) -> tuple[int, int, int]:
    """Exercise 07.3c: entities cut at stride 0, the safe stride, the longest entity in sub-words (windows of 128)."""
    from .windows import plan_windows

    cut = sum(len(cut_entities_reference(ids, plan_windows(len(ids), 126, 0), spans)) for ids, spans in tokenized)
    pieces = [sum(1 for word in ids if span.start <= word < span.end) for ids, spans in tokenized for span in spans]
    return cut, safe_stride_reference(tokenized, 128), max(pieces)
