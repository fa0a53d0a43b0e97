"""Every runtime is warmed up and timed alike (biobert_ner.timing, Java's Bench): counted calls, not clocks."""

from __future__ import annotations

from biobert_ner.timing import time_latency, time_throughput


def test_latency_warms_up_on_every_text_then_times_each_text_repeat_times() -> None:
    calls: list[str] = []
    result = time_latency(calls.append, ["a", "b", "c"], repeat=2)
    assert calls == ["a", "b", "c"] * 3  # one warm-up pass, then two timed passes
    assert set(result) == {"mean", "median", "p90"} and all(value >= 0 for value in result.values())


def test_throughput_is_one_warm_up_call_then_the_best_of_repeat_calls() -> None:
    calls: list[list[str]] = []
    rate = time_throughput(calls.append, ("a", "b"), repeat=3)
    assert calls == [["a", "b"]] * 4 and rate > 0
