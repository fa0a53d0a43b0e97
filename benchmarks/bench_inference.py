"""Inference speed and parity: ``NerPipeline`` (fp32, bf16) vs transformers' token-classification pipeline.

    python benchmarks/bench_inference.py                   # trains MiniLM for 1 epoch first (cached)
    python benchmarks/bench_inference.py --model-dir runs/ncbi/model --threads 2

Everything runs in one process on the same model, the same texts and the same number of CPU
threads, and the result is printed as one JSON object:

* **texts**: the bundled corpus sentences (test, dev, then train) turned back into raw text
  (:func:`detokenize`: no space before ``.``/``,``/``)``, none around ``-``/``/``, ...), so the
  pipelines meet text as a user would give it. Gold entities get character offsets on the way.
* **speed**: texts per second of each pipeline, the median of ``--repeats`` timed passes after
  a warm-up on a few texts, the pipelines taking turns. transformers' pipeline runs at its defaults (``batch_size`` 1, one text per
  forward pass) and, for reference, with ``batch_size=32``.
* **agreement**: transformers' pipeline is given the *pre-tokenized* text re-joined with single
  spaces, so both pipelines see the same words (BERT's own pre-tokenizer leaves ``±5`` or
  ``10°C`` glued together where ours splits them); its offsets into that joined text are mapped
  back to the raw text through the word index. Entities are compared as ``(type, start, end)``.
* **F1** vs gold on the held-out sentences (test + dev), for fp32, bf16 and transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
NO_SPACE_BEFORE = set(".,;:!?)]}%")
NO_SPACE_AFTER = set("([{")
GLUE_BOTH_SIDES = set("-/'’")


def detokenize(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Corpus words -> raw-looking text, and each word's ``[start, end)`` character offsets in it."""
    text, offsets = "", []
    previous = None
    for word in words:
        glue = previous is None or word in NO_SPACE_BEFORE or word in GLUE_BOTH_SIDES or previous in NO_SPACE_AFTER or previous in GLUE_BOTH_SIDES
        if not glue:
            text += " "
        offsets.append((len(text), len(text) + len(word)))
        text += word
        previous = word
    return text, offsets


def load_texts(limit: int | None) -> tuple[list[str], list[set], int]:
    """Raw texts, gold entity sets ``{(type, start, end)}`` and how many are held out (test + dev come first)."""
    from biobert_ner.data import label_names, load_bundled_corpus
    from biobert_ner.pretokenize import split_words
    from biobert_ner.schemes import spans_from_tags

    corpus = load_bundled_corpus()
    names = label_names(corpus)
    texts, gold, held_out = [], [], 0
    for split in ("test", "validation", "train"):
        for tokens, tags in zip(corpus[split]["tokens"], corpus[split]["ner_tags"]):
            text, offsets = detokenize(tokens)
            if split_words(text) != list(tokens):
                raise AssertionError(f"detokenized text does not pre-tokenize back to its words: {text!r}")
            texts.append(text)
            gold.append({(s.type, offsets[s.start][0], offsets[s.end - 1][1]) for s in spans_from_tags([names[t] for t in tags])})
        if split != "train":
            held_out = len(texts)
    if limit:
        texts, gold = texts[:limit], gold[:limit]
    return texts, gold, min(held_out, len(texts))


def fine_tuned_model(work_dir: Path, epochs: int) -> Path:
    """MiniLM fine-tuned on the bundled corpus (cached in ``work_dir``): realistic, confident predictions."""
    from biobert_ner.training import TrainingConfig, train

    folder = work_dir / f"minilm-{epochs}epoch"
    if not (folder / "model" / "model.safetensors").is_file():
        config = TrainingConfig(
            model="minilm", data="bundled", output_dir=str(folder), epochs=epochs, batch_size=8, learning_rate=1e-4,
            precision="fp32", checkpoint_every_epoch=False,
        )
        with contextlib.redirect_stdout(sys.stderr):  # library messages to stderr: stdout is the JSON
            train(config)
    return folder / "model"


Run = tuple[Callable[[list[str]], object], list[str]]  # a pipeline and the texts it is given


def timed_round_robin(runs: dict[str, Run], repeats: int, warm_up_texts: int = 16) -> tuple[dict[str, float], dict[str, object]]:
    """Median seconds of each run over ``repeats`` rounds, and each run's output (from its first round).

    Rounds interleave the runs (A B C, A B C, ...), so a noisy neighbour slows them all alike
    instead of whichever happened to run at the time. Each run first warms up on a few texts.
    """
    for pipeline, texts in runs.values():
        pipeline(texts[:warm_up_texts])
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, object] = {}
    for _ in range(repeats):
        for name, (pipeline, texts) in runs.items():
            start = time.perf_counter()
            output = pipeline(texts)
            seconds[name].append(time.perf_counter() - start)
            outputs.setdefault(name, output)
    return {name: statistics.median(values) for name, values in seconds.items()}, outputs


def hf_entities(hf_output: Sequence[dict], joined_words: Sequence, raw_words: Sequence) -> set:
    """transformers' entities (offsets into the space-joined text) as ``(type, start, end)`` in the raw text."""
    starts = {word.start: i for i, word in enumerate(joined_words)}
    ends = {word.end: i for i, word in enumerate(joined_words)}
    result = set()
    for entity in hf_output:
        first, last = starts.get(int(entity["start"])), ends.get(int(entity["end"]))
        if first is None or last is None:  # not on our word boundaries: keep it, unmapped, so it counts as a difference
            result.add((entity["entity_group"], -1 - int(entity["start"]), -1 - int(entity["end"])))
        else:
            result.add((entity["entity_group"], raw_words[first].start, raw_words[last].end))
    return result


def agreement(a: Sequence[set], b: Sequence[set]) -> dict:
    """How alike two entity predictions are: identical texts, and entities in both / in either."""
    both = sum(len(x & y) for x, y in zip(a, b))
    either = sum(len(x | y) for x, y in zip(a, b))
    return {
        "identical_texts": sum(x == y for x, y in zip(a, b)),
        "texts": len(a),
        "entities_a": sum(map(len, a)),
        "entities_b": sum(map(len, b)),
        "entities_in_both": both,
        "entity_jaccard": round(both / either, 4) if either else 1.0,
    }


def micro_f1(gold: Sequence[set], predicted: Sequence[set]) -> float:
    correct = sum(len(g & p) for g, p in zip(gold, predicted))
    n_gold, n_predicted = sum(map(len, gold)), sum(map(len, predicted))
    return round(2 * correct / (n_gold + n_predicted), 4) if n_gold + n_predicted else 0.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a fine-tuned model folder (default: MiniLM fine-tuned here, cached in --work-dir)")
    parser.add_argument("--work-dir", default=str(REPO / "runs" / "bench-inference"), help="where the benchmark model is cached")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the MiniLM fine-tuning when no --model-dir is given")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads, the same for every pipeline")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per pipeline (the median is reported)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    parser.add_argument("--batch-size", type=int, default=32, help="NerPipeline windows per forward pass")
    args = parser.parse_args(argv)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from transformers import pipeline

    from biobert_ner.inference import NerPipeline
    from biobert_ner.pretokenize import pretokenize

    torch.set_num_threads(args.threads)
    model_dir = Path(args.model_dir) if args.model_dir else fine_tuned_model(Path(args.work_dir), args.epochs)
    texts, gold, held_out = load_texts(args.limit)
    with contextlib.redirect_stdout(sys.stderr):  # library messages to stderr: stdout is the JSON
        ours = NerPipeline.from_pretrained(model_dir, device="cpu", batch_size=args.batch_size)
        ours_bf16 = NerPipeline.from_pretrained(model_dir, device="cpu", batch_size=args.batch_size, precision="bf16")
    hf = pipeline("token-classification", model=ours.model, tokenizer=ours.tokenizer, aggregation_strategy="first", device="cpu")
    hf_defaults = {"batch_size": getattr(hf, "_batch_size", None) or 1}

    raw_words = [pretokenize(text) for text in texts]
    joined = [" ".join(word.text for word in words) for words in raw_words]
    joined_words = [pretokenize(text) for text in joined]

    def entity_sets(entities_per_text) -> list[set]:
        return [{(e.type, e.start, e.end) for e in entities} for entities in entities_per_text]

    runs: dict[str, Run] = {
        "ner_pipeline_fp32": (ours, texts),
        "ner_pipeline_bf16": (ours_bf16, texts),
        "hf_pipeline_defaults": (hf, joined),  # same words as ours, see the module docstring
        "hf_pipeline_batch_size_32": (lambda inputs: hf(inputs, batch_size=32), joined),
    }
    batch_sizes = {"ner_pipeline_fp32": args.batch_size, "ner_pipeline_bf16": args.batch_size,
                   "hf_pipeline_defaults": hf_defaults["batch_size"], "hf_pipeline_batch_size_32": 32}
    seconds, outputs = timed_round_robin(runs, args.repeats)
    results = {
        name: {"seconds": round(seconds[name], 3), "texts_per_s": round(len(texts) / seconds[name], 1), "batch_size": batch_sizes[name]}
        for name in runs
    }
    fp32_out, bf16_out = outputs["ner_pipeline_fp32"], outputs["ner_pipeline_bf16"]
    hf_out, hf_batched_out = outputs["hf_pipeline_defaults"], outputs["hf_pipeline_batch_size_32"]

    fp32 = entity_sets(fp32_out)
    bf16 = entity_sets(bf16_out)
    theirs = [hf_entities(out, jw, rw) for out, jw, rw in zip(hf_out, joined_words, raw_words)]
    theirs_batched = [hf_entities(out, jw, rw) for out, jw, rw in zip(hf_batched_out, joined_words, raw_words)]
    scores = {(i, e.type, e.start, e.end): e.score for i, entities in enumerate(fp32_out) for e in entities}
    hf_scores = {}
    for i, (out, jw, rw) in enumerate(zip(hf_out, joined_words, raw_words)):
        for entity in out:
            (key,) = hf_entities([entity], jw, rw)
            hf_scores[(i, *key)] = float(entity["score"])
    shared = scores.keys() & hf_scores.keys()
    report = {
        "benchmark": "inference",
        "date": datetime.date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "model": {"dir": str(model_dir), "type": ours.model.config.model_type, "labels": ours.label_names,
                  "parameters_millions": round(sum(p.numel() for p in ours.model.parameters()) / 1e6, 1)},
        "texts": {"count": len(texts), "held_out": held_out, "characters": sum(map(len, texts)),
                  "words": sum(map(len, raw_words)), "sub_words": sum(e.num_tokens for e in ours.encode_batch(texts))},
        "speed": results,
        "speedup_fp32_vs_hf_defaults": round(results["hf_pipeline_defaults"]["seconds"] / results["ner_pipeline_fp32"]["seconds"], 2),
        "speedup_fp32_vs_hf_batch_size_32": round(results["hf_pipeline_batch_size_32"]["seconds"] / results["ner_pipeline_fp32"]["seconds"], 2),
        "speedup_bf16_vs_fp32": round(results["ner_pipeline_fp32"]["seconds"] / results["ner_pipeline_bf16"]["seconds"], 2),
        "agreement_fp32_vs_hf": {**agreement(fp32, theirs),
                                 "scores_compared": len(shared),
                                 "max_score_difference": round(max((abs(scores[k] - hf_scores[k]) for k in shared), default=0.0), 6)},
        "agreement_hf_defaults_vs_hf_batched": agreement(theirs, theirs_batched),
        "agreement_bf16_vs_fp32": agreement(fp32, bf16),
        "f1_vs_gold_held_out": {
            "sentences": held_out,
            "ner_pipeline_fp32": micro_f1(gold[:held_out], fp32[:held_out]),
            "ner_pipeline_bf16": micro_f1(gold[:held_out], bf16[:held_out]),
            "hf_pipeline": micro_f1(gold[:held_out], theirs[:held_out]),
        },
    }
    report["f1_vs_gold_held_out"]["bf16_minus_fp32"] = round(
        report["f1_vs_gold_held_out"]["ner_pipeline_bf16"] - report["f1_vs_gold_held_out"]["ner_pipeline_fp32"], 4
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
