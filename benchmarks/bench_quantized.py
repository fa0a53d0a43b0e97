"""int8 vs fp32 bundles in ONNX Runtime: speed, entity agreement and test-F1 change on raw NCBI-disease text.

    python -m benchmarks.bench_quantized --threads 2            # the model and bundle bench_inference caches
    python -m benchmarks.bench_quantized --model-dir runs/ncbi/model --repeats 5

The model is ``bench_inference``'s (MiniLM fine-tuned 1 epoch on NCBI-disease, cached in
``build/bench-inference``, or ``--model-dir``), exported once with fused kernels; its int8 copy is
:func:`biobert_ner.quantize.quantize_bundle` (dynamic quantization, int8 weights). Both bundles run
in ``NerPipeline.from_bundle`` with the same threads, batch size and texts (the first ``--texts``
test sentences as raw text), taking turns; speed is the median of ``--repeats`` passes. Entities
are compared as ``(type, start, end)`` per text; F1 against gold is computed on the whole test
split under both decodings (Viterbi, the default, and argmax), each change on one decoding. Writes
``benchmarks/results/quantized.json`` with the commit and the machine (note its ``avx512_vnni``
and ``amx_int8`` flags: int8 matrix units decide how much int8 gains).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from benchmarks.bench_inference import REPO, argmax_entities, exported_bundle, fine_tuned_model, load_texts, micro_f1, timed_round_robin
from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a model fine-tuned on NCBI-disease (default: bench_inference's, cached in --work-dir)")
    parser.add_argument("--work-dir", default=str(REPO / "build" / "bench-inference"), help="where the model and its bundles are cached")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (and torch's, for the fine-tuning)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--texts", type=int, default=500, help="how many test sentences are timed")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per bundle (the median is reported)")
    parser.add_argument("--per-channel", action="store_true", help="one int8 scale per output column instead of per matrix")
    add_output_argument(parser, result_path("quantized"))
    return parser.parse_args(argv)


def int8_bundle(bundle: Path, per_channel: bool) -> Path:
    """The int8 copy of ``bundle`` beside it, made again when the fp32 bundle is newer."""
    from biobert_ner.quantize import quantize_bundle

    target = bundle.with_name(bundle.name + ("-int8-per-channel" if per_channel else "-int8"))
    stamp = target / "bundle.json"
    if not stamp.is_file() or stamp.stat().st_mtime < (bundle / "bundle.json").stat().st_mtime:
        quantize_bundle(bundle, target, per_channel=per_channel)
    return target


def entity_sets(output) -> list[set]:
    return [{(e.type, e.start, e.end) for e in entities} for entities in output]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    record = start_record("quantized")
    import torch

    from biobert_ner.inference import NerPipeline

    torch.set_num_threads(args.threads)
    work_dir = Path(args.work_dir)
    with logs_to_stderr():
        model_dir = Path(args.model_dir) if args.model_dir else fine_tuned_model(work_dir, "ncbi-disease", 1, args.threads)
        fp32_bundle = exported_bundle(model_dir, work_dir)
        quantized = int8_bundle(fp32_bundle, args.per_channel)
        timed, test_texts, gold = load_texts("ncbi-disease")
        pipelines = {name: NerPipeline.from_bundle(path, batch_size=args.batch_size, threads=args.threads, verbose=False)
                     for name, path in (("fp32", fp32_bundle), ("int8", quantized))}
    texts = timed[: args.texts]
    seconds, outputs = timed_round_robin({name: (pipeline, texts) for name, pipeline in pipelines.items()}, args.repeats)
    timed_sets = {name: entity_sets(output) for name, output in outputs.items()}
    f1 = {name: {"viterbi": micro_f1(gold, entity_sets(pipeline(test_texts))), "argmax": micro_f1(gold, argmax_entities(pipeline, test_texts))}
          for name, pipeline in pipelines.items()}
    report = {
        "machine": {"threads": args.threads},
        "model_dir": model_dir, "bundles": {"fp32": fp32_bundle, "int8": quantized},
        "model_bytes": {name: (path / "model.onnx").stat().st_size for name, path in (("fp32", fp32_bundle), ("int8", quantized))},
        "texts": len(texts), "test_sentences": len(test_texts), "repeats": args.repeats, "batch_size": args.batch_size,
        "speed": {name: {"seconds": round(value, 3), "texts_per_s": round(len(texts) / value, 1)} for name, value in seconds.items()},
        "int8_vs_fp32_speed": round(seconds["fp32"] / seconds["int8"], 2),
        "agreement": {"identical_texts": sum(a == b for a, b in zip(timed_sets["int8"], timed_sets["fp32"])), "texts": len(texts),
                      "entities_fp32": sum(map(len, timed_sets["fp32"])), "entities_int8": sum(map(len, timed_sets["int8"])),
                      "entities_in_both": sum(len(a & b) for a, b in zip(timed_sets["int8"], timed_sets["fp32"]))},
        "test_f1": f1,
        "test_f1_points_int8_minus_fp32": {decoding: round(100 * (f1["int8"][decoding] - f1["fp32"][decoding]), 2) for decoding in ("viterbi", "argmax")},
    }
    report["targets"] = {decoding: {"test_f1_within_half_a_point": abs(points) <= 0.5}
                         for decoding, points in report["test_f1_points_int8_minus_fp32"].items()}
    finish(record, report, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
