"""Inference speed and parity on raw text: ``NerPipeline`` (PyTorch, ONNX Runtime) vs transformers' pipeline.

    python -m benchmarks.bench_inference                       # NCBI-disease; MiniLM fine-tuned 1 epoch first (cached in build/)
    python -m benchmarks.bench_inference --model-dir runs/ncbi/model --threads 2
    python -m benchmarks.bench_inference --quick               # the course corpus: checks the script, not the numbers

Everything runs in one process on the same model, the same texts, the same number of CPU threads
and the same batch size; the result is printed as one JSON object and saved to
``benchmarks/results/inference.json`` (not with ``--quick``), with the commit and the machine
(:mod:`benchmarks.common`):

* **texts**: the first ``--texts`` test sentences of NCBI-disease (``--quick``: sentences of the
  course corpus, test split first), turned back into raw text (:func:`detokenize`: no space before ``.``/``,``/``)``, none around
  ``-``/``/``, ...), so the pipelines meet text as a user would give it. Gold entities get
  character offsets on the way.
* **model**: ``--model-dir``, or all-MiniLM-L6-v2 fine-tuned here on the corpus's training split
  (``training.train``, ``--epochs`` 1, cached in ``--work-dir``), exported once as a bundle with
  ONNX Runtime's fused kernels (``export.export_bundle``, cached next to it).
* **runs**: transformers' ``pipeline("token-classification", aggregation_strategy="first")`` at its
  defaults (``batch_size`` 1) and with ``batch_size=32``; ``NerPipeline`` with the PyTorch backend
  (fp32) and with the ONNX Runtime backend (``NerPipeline.from_bundle``), both at ``--batch-size``.
  Speed: texts per second, the median of ``--repeats`` timed passes after a warm-up, the runs
  taking turns (a burst of load on a shared machine hits them all).
* **agreement** with ``NerPipeline`` (PyTorch, fp32), entities compared as ``(type, start, end)``:
  texts with identical entities, and for a run that is not identical on every text, its F1 against
  gold on the whole test split and its change from the reference's (which is always reported).
  ``NerPipeline`` reads each word's label with Viterbi (its default); ``argmax_reference`` is the same
  PyTorch pipeline reading each word's best label, as transformers' pipeline does, not timed, to
  tell the decoding's share of the differences from the pipelines'. transformers' pipeline is given the
  *pre-tokenized* text re-joined with single spaces, so both see the same words (BERT's own
  pre-tokenizer leaves ``±5`` or ``10°C`` glued together where ours splits them); its offsets into
  that text are mapped back to the raw text through the word index.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record

REPO = Path(__file__).resolve().parents[1]
NO_SPACE_BEFORE = set(".,;:!?)]}%")
NO_SPACE_AFTER = set("([{")
GLUE_BOTH_SIDES = set("-/'’")
REFERENCE = "ner_pipeline_torch_fp32"


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


def load_texts(corpus_name: str) -> tuple[list[str], list[str], list[set]]:
    """Raw texts to time, and the test split's raw texts with their gold entities ``{(type, start, end)}``.

    NCBI-disease times test sentences; the course corpus (80 test sentences) times its test,
    validation and train sentences, in that order, to have as many.
    """
    from biobert_ner.data import label_names, load_data
    from biobert_ner.pretokenize import split_words
    from biobert_ner.schemes import spans_from_tags

    with logs_to_stderr():
        corpus = load_data(corpus_name)
    names = label_names(corpus)
    texts: dict[str, list[str]] = {}
    gold = []
    for split in ("test", "validation", "train"):
        texts[split] = []
        for tokens, tags in zip(corpus[split]["tokens"], corpus[split]["ner_tags"]):
            text, offsets = detokenize(tokens)
            if split_words(text) != list(tokens):
                raise AssertionError(f"detokenized text does not pre-tokenize back to its words: {text!r}")
            texts[split].append(text)
            if split == "test":
                gold.append({(s.type, offsets[s.start][0], offsets[s.end - 1][1]) for s in spans_from_tags([names[t] for t in tags])})
    timed = texts["test"] if corpus_name != "bundled" else texts["test"] + texts["validation"] + texts["train"]
    return timed, texts["test"], gold


def fine_tuned_model(work_dir: Path, corpus_name: str, epochs: int, threads: int) -> Path:
    """MiniLM fine-tuned on ``corpus_name`` (cached in ``work_dir``): realistic, confident predictions."""
    from biobert_ner.training import TrainingConfig, train

    folder = work_dir / f"minilm-{corpus_name}-{epochs}epoch"
    if not (folder / "model" / "model.safetensors").is_file():
        config = TrainingConfig(  # the course corpus is small (361 sentences): smaller batches, more updates
            model="minilm", data=corpus_name, output_dir=str(folder), epochs=epochs, batch_size=8 if corpus_name == "bundled" else 16,
            learning_rate=1e-4,
            checkpoint_every_epoch=False, num_threads=threads, seed=42,
        )
        with logs_to_stderr():  # library messages to stderr: stdout is the JSON
            train(config)
    return folder / "model"


def exported_bundle(model_dir: Path, work_dir: Path) -> Path:
    """The model's bundle with fused kernels, exported once (again when the model is newer)."""
    from biobert_ner.export import export_bundle

    bundle = work_dir / f"bundle-{model_dir.parent.name}-{model_dir.name}"
    stamp = bundle / "bundle.json"
    fresh = stamp.is_file() and stamp.stat().st_mtime >= (model_dir / "config.json").stat().st_mtime
    if not fresh or not json.loads(stamp.read_text(encoding="utf-8"))["export"]["fuse"]:
        with logs_to_stderr():
            export_bundle(model_dir, bundle, fuse=True)
    return bundle


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


def micro_f1(gold: Sequence[set], predicted: Sequence[set]) -> float:
    correct = sum(len(g & p) for g, p in zip(gold, predicted))
    n_gold, n_predicted = sum(map(len, gold)), sum(map(len, predicted))
    return round(2 * correct / (n_gold + n_predicted), 4) if n_gold + n_predicted else 0.0


class Pipelines:
    """The four runs on one model: transformers' pipeline (defaults, batch 32) and NerPipeline (PyTorch, ONNX Runtime)."""

    def __init__(self, model_dir: Path, bundle: Path, batch_size: int, threads: int) -> None:
        from transformers import pipeline

        from biobert_ner.inference import NerPipeline

        with logs_to_stderr():  # library messages to stderr: stdout is the JSON
            self.torch = NerPipeline.from_pretrained(model_dir, device="cpu", batch_size=batch_size, precision="fp32")
            self.onnx = NerPipeline.from_bundle(bundle, batch_size=batch_size, threads=threads)
        self.hf = pipeline("token-classification", model=self.torch.model, tokenizer=self.torch.tokenizer,
                           aggregation_strategy="first", device="cpu")
        self.batch_sizes = {"hf_pipeline_defaults": getattr(self.hf, "_batch_size", None) or 1, "hf_pipeline_batch_size_32": 32,
                            REFERENCE: batch_size, "ner_pipeline_onnx": batch_size}

    def runs(self, texts: list[str]) -> dict[str, Run]:
        joined = [joined_text(text) for text in texts]  # same words as ours, see the module docstring
        return {
            "hf_pipeline_defaults": (self.hf, joined),
            "hf_pipeline_batch_size_32": (lambda inputs: self.hf(inputs, batch_size=32), joined),
            REFERENCE: (self.torch, texts),
            "ner_pipeline_onnx": (self.onnx, texts),
        }

    def entity_sets(self, name: str, texts: list[str], output) -> list[set]:
        """``{(type, start, end)}`` per text, in the raw text, whichever pipeline made ``output``."""
        from biobert_ner.pretokenize import pretokenize

        if name.startswith("hf_"):
            return [hf_entities(out, pretokenize(joined_text(text)), pretokenize(text)) for out, text in zip(output, texts)]
        return [{(e.type, e.start, e.end) for e in entities} for entities in output]


def joined_text(text: str) -> str:
    from biobert_ner.pretokenize import pretokenize

    return " ".join(word.text for word in pretokenize(text))


def argmax_entities(ner, texts: list[str]) -> list[set]:
    """``{(type, start, end)}`` per text from ``ner``'s model with each word's best label (no Viterbi)."""
    from biobert_ner.entities import decode_document

    encodings = ner.encode_batch(texts)
    decoded = [decode_document(encoding, logits, ner.label_names, "argmax") for encoding, logits in zip(encodings, ner.logits_batch(encodings))]
    return [{(e.type, e.start, e.end) for e in entities} for entities in decoded]


def compare_decodings(pipelines: Pipelines, sets: dict, texts: list[str], test_texts: list[str], gold: list[set], reference_f1: float) -> dict:
    """The reference's model read with argmax: how many texts it shares with the reference (Viterbi) and with
    transformers' pipeline (each word's best label), and its test F1: which differences the decoding explains."""
    argmax = argmax_entities(pipelines.torch, texts)
    f1 = micro_f1(gold, argmax_entities(pipelines.torch, test_texts))
    row = {"decoding": "argmax", "texts": len(texts),
           "identical_texts_with_" + REFERENCE: sum(a == b for a, b in zip(argmax, sets[REFERENCE])),
           "test_f1": f1, "test_f1_change": round(f1 - reference_f1, 4)}
    if "hf_pipeline_defaults" in sets:
        row["identical_texts_with_hf_pipeline_defaults"] = sum(a == b for a, b in zip(argmax, sets["hf_pipeline_defaults"]))
    return row


def compare(pipelines: Pipelines, outputs: dict, texts: list[str], test_texts: list[str], gold: list[set]) -> dict:
    """Per run: texts with the reference's entities; where not all, F1 against gold on the whole test split."""
    sets = {name: pipelines.entity_sets(name, texts, output) for name, output in outputs.items()}
    reference_f1 = micro_f1(gold, pipelines.entity_sets(REFERENCE, test_texts, pipelines.torch(test_texts)))
    result: dict = {"reference_test_f1": reference_f1, "reference_decoding": "viterbi", "test_sentences": len(test_texts),
                    "argmax_reference": compare_decodings(pipelines, sets, texts, test_texts, gold, reference_f1)}
    for name, predicted in sets.items():
        row = {"identical_texts": sum(a == b for a, b in zip(predicted, sets[REFERENCE])), "texts": len(texts),
               "entities": sum(map(len, predicted)), "entities_in_both": sum(len(a & b) for a, b in zip(predicted, sets[REFERENCE]))}
        if row["identical_texts"] < len(texts):
            run, given = pipelines.runs(test_texts)[name]
            f1 = micro_f1(gold, pipelines.entity_sets(name, test_texts, run(given)))
            row.update({"test_f1": f1, "test_f1_change": round(f1 - reference_f1, 4)})
        result[name] = row
    return result


def report(args, model_dir: Path, bundle: Path, pipelines: Pipelines, texts: list[str], seconds: dict, agreement: dict) -> dict:
    """The measurements (:func:`benchmarks.common.finish` adds the record of where they were made)."""
    speed = {
        name: {"batch_size": pipelines.batch_sizes[name], "seconds": round(value, 3), "texts_per_s": round(len(texts) / value, 1),
               "vs_hf_defaults": round(seconds["hf_pipeline_defaults"] / value, 2)}
        for name, value in seconds.items()
    }
    from biobert_ner.paths import relative  # stored JSON: paths relative to the repository, the same on every machine

    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    return {
        "machine": {"threads": args.threads},
        "model": {"dir": relative(model_dir), "type": pipelines.torch.model.config.model_type, "labels": pipelines.torch.label_names,
                  "parameters_millions": round(sum(p.numel() for p in pipelines.torch.model.parameters()) / 1e6, 1),
                  "bundle": relative(bundle), "fused_kernels": info["export"]["fused_kernels"]},
        "texts": {"corpus": args.corpus, "splits": "test" if args.corpus != "bundled" else "test, validation, train", "count": len(texts), "characters": sum(map(len, texts)),
                  "sub_words": sum(e.num_tokens for e in pipelines.torch.encode_batch(texts))},
        "repeats": args.repeats,
        "speed": speed,
        "onnx_vs_hf_defaults": speed["ner_pipeline_onnx"]["vs_hf_defaults"],
        "onnx_vs_torch": round(seconds[REFERENCE] / seconds["ner_pipeline_onnx"], 2),
        "agreement_with_" + REFERENCE: agreement,
    }


def markdown(result: dict) -> str:
    """Table rows for benchmarks/README.md."""
    names = {"hf_pipeline_defaults": "HF pipeline, defaults", "hf_pipeline_batch_size_32": "HF pipeline, `batch_size=32`",
             REFERENCE: "`NerPipeline`, PyTorch fp32", "ner_pipeline_onnx": "`NerPipeline`, ONNX Runtime (fused bundle)"}
    agreement = result["agreement_with_" + REFERENCE]
    lines = ["| pipeline | batch | seconds | texts/s | vs HF defaults | identical entities | test F1 change |", "|---|---|---|---|---|---|---|"]
    for name, row in result["speed"].items():
        same = agreement[name]
        change = f"{same['test_f1_change']:+.4f}" if "test_f1_change" in same else "identical"
        lines.append(f"| {names[name]} | {row['batch_size']} | {row['seconds']} | {row['texts_per_s']} | {row['vs_hf_defaults']}x | "
                     f"{same['identical_texts']}/{same['texts']} | {change} |")
    argmax = agreement["argmax_reference"]
    lines.append(f"\nreference test F1 ({agreement['test_sentences']} sentences, Viterbi): {agreement['reference_test_f1']}")
    lines.append(f"the reference's model read with argmax: test F1 {argmax['test_f1']}; identical entities with the reference in "
                 f"{argmax['identical_texts_with_' + REFERENCE]}/{argmax['texts']} texts, with the HF pipeline in "
                 f"{argmax.get('identical_texts_with_hf_pipeline_defaults')}/{argmax['texts']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the course corpus (bundled) instead of NCBI-disease; nothing saved")
    parser.add_argument("--model-dir", help="a model fine-tuned on the corpus (default: MiniLM fine-tuned here, cached in --work-dir)")
    parser.add_argument("--work-dir", default=str(REPO / "build" / "bench-inference"), help="where the model and its bundle are cached")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the MiniLM fine-tuning when no --model-dir is given")
    parser.add_argument("--threads", type=int, default=2, help="torch threads = ONNX Runtime intra-op threads, for every run")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass of both NerPipeline backends")
    parser.add_argument("--texts", type=int, default=500, help="how many test sentences are timed (0: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per run (the median is reported)")
    add_output_argument(parser, result_path("inference"))
    parser.add_argument("--markdown", action="store_true", help="also print table rows for benchmarks/README.md (to stderr)")
    args = parser.parse_args(argv)
    args.corpus = "bundled" if args.quick else "ncbi-disease"
    if args.quick and "--output" not in (argv if argv is not None else sys.argv):
        args.output = None  # a smoke test: nothing kept
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    record = start_record("inference")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    work_dir = Path(args.work_dir)
    model_dir = Path(args.model_dir) if args.model_dir else fine_tuned_model(work_dir, args.corpus, args.epochs, args.threads)
    print(f"model: {model_dir}" + ("" if args.model_dir else f" (MiniLM fine-tuned {args.epochs} epoch(s) on {args.corpus})"), file=sys.stderr)
    bundle = exported_bundle(model_dir, work_dir)
    timed, test_texts, gold = load_texts(args.corpus)
    texts = timed[: args.texts] if args.texts else timed
    pipelines = Pipelines(model_dir, bundle, args.batch_size, args.threads)
    seconds, outputs = timed_round_robin(pipelines.runs(texts), args.repeats)
    agreement = compare(pipelines, outputs, texts, test_texts, gold)
    result = finish(record, report(args, model_dir, bundle, pipelines, texts, seconds, agreement), args.output)
    if args.markdown:
        print(markdown(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
