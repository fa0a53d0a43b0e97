"""Where a training epoch's time goes on this machine: ``torch.profiler`` over ``training.train_one_epoch``.

    python -m benchmarks.profile_training_step                         # MiniLM, 320 NCBI-disease sentences (10 steps)
    python -m benchmarks.profile_training_step --sentences 640 --precision bf16 --threads 2

The epoch is the library's own (length-grouped batches of 32, fused AdamW, gradient clipping), run
on the first ``--sentences`` training sentences after one warm-up epoch. Each operator's *self* time
(time inside the operator, not in the operators it calls) is put in one category, so the shares add
up to 100%: matrix products, dropout (its random masks and their use), softmax, layer norm, GELU,
dtype casts, the optimizer, the embedding, the loss, and the rest. Prints one JSON object and writes
it to ``benchmarks/results/profile_training_step.json`` (``--output``) with the commit and the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record

# First match wins: operator-name fragments -> category.
CATEGORIES = (
    ("matmul", ("addmm", "aten::mm", "bmm", "baddbmm", "matmul", "linear", "mkldnn", "onednn")),
    ("dropout", ("bernoulli", "dropout", "rand")),
    ("softmax", ("softmax",)),
    ("layer_norm", ("layer_norm",)),
    ("gelu", ("gelu",)),
    ("dtype_casts", ("aten::to", "_to_copy", "copy_")),
    ("optimizer", ("adam", "foreach", "clip", "norm", "zero_")),
    ("embedding", ("embedding", "index_select", "index_add")),
    ("loss", ("cross_entropy", "nll_loss", "log_softmax")),
)


def category(operator: str) -> str:
    for name, fragments in CATEGORIES:
        if any(fragment in operator for fragment in fragments):
            return name
    return "other"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data", default="ncbi-disease")
    parser.add_argument("--sentences", type=int, default=320, help="training sentences profiled (batches of --batch-size)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (TrainingConfig.precision)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=12, help="operators listed by self time")
    add_output_argument(parser, result_path("profile_training_step"))
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    record = start_record("profile_training_step")
    from torch.profiler import ProfilerActivity, profile

    from biobert_ner.training import TrainingConfig, set_up_run, train_one_epoch

    with tempfile.TemporaryDirectory() as folder, logs_to_stderr():
        config = TrainingConfig(model=args.model, data=args.data, output_dir=folder, epochs=2, batch_size=args.batch_size,
                                max_train_sentences=args.sentences, precision=args.precision, num_threads=args.threads,
                                checkpoint_every_epoch=False)
        run = set_up_run(config, None, None, None)
        train_one_epoch(run, 0)  # warm-up: first-call allocations and kernel choices
        started = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            totals = train_one_epoch(run, 1)
        seconds = time.perf_counter() - started
    events = [event for event in profiler.key_averages() if event.self_cpu_time_total > 0]
    total = sum(event.self_cpu_time_total for event in events)
    shares: dict[str, float] = {}
    for event in events:
        shares[category(event.key)] = shares.get(category(event.key), 0.0) + event.self_cpu_time_total / total
    top = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[: args.top]
    report = {
        "what": "profile of one training epoch",
        "settings": {"model": args.model, "data": args.data, "sentences": totals["sentences"], "batch_size": args.batch_size,
                     "precision": run.accelerator.mixed_precision, "threads": __import__("torch").get_num_threads()},
        "epoch_seconds_profiled": seconds,
        "ms_per_step": 1000 * seconds / len(run.train_loader),
        "share_of_self_time": {name: round(share, 4) for name, share in sorted(shares.items(), key=lambda item: -item[1])},
        "top_operators": [{"operator": event.key, "share": round(event.self_cpu_time_total / total, 4),
                           "calls": event.count} for event in top],
    }
    finish(record, report, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
