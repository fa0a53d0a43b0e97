"""Timing a predictor the way Java's ``org.biobertner.cli.Bench`` times ``NerModel``: one procedure for every runtime.

A speed table compares like with like only when every row was warmed up and timed alike. Both
functions first run the predictor once over every text (JIT compilation, ONNX Runtime's and
PyTorch's first-call set-up, caches), then time ``repeat`` passes; ``Bench`` does the same, so a
Python row and a Java row differ only in the runtime.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def time_latency(predict_one: Callable[[str], object], texts: Sequence[str], repeat: int) -> dict[str, float]:
    """Milliseconds per text, each text alone (batch 1), after a warm-up pass: mean, median and p90."""
    for text in texts:
        predict_one(text)
    per_text = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            predict_one(text)
            per_text.append((time.perf_counter() - start) * 1e3)
    per_text.sort()
    return {
        "mean": round(statistics.fmean(per_text), 3),
        "median": round(statistics.median(per_text), 3),
        "p90": round(per_text[max(0, int(0.9 * len(per_text)) - 1)], 3),
    }


def time_throughput(predict_all: Callable[[list[str]], object], texts: Sequence[str], repeat: int) -> float:
    """Texts per second of one call on all texts, the best of ``repeat`` runs after a warm-up run."""
    texts = list(texts)
    predict_all(texts)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        predict_all(texts)
        best = min(best, time.perf_counter() - start)
    return round(len(texts) / best, 2)
