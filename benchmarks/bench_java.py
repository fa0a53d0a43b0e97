"""Java (ONNX Runtime) vs Python (eager PyTorch) on the same texts, same model, same number of threads.

    python -m benchmarks.bench_java                      # MiniLM with a random NER head, 2 threads
    python -m benchmarks.bench_java --model-dir runs/ncbi/model --threads 4

What is measured, on the raw text of the bundled corpus's test sentences:

* latency: one text at a time (batch 1), milliseconds per text (mean, median, p90);
* throughput: all texts in one call, windows batched ``batch size`` at a time (longest first), texts
  per second, for each of ``--batch-sizes``, and the best of them (on a CPU a big batch is not always
  the fastest: its activations fall out of the caches).

Runtimes: ``python-torch`` (``NerPipeline``, eager PyTorch, ``torch.set_num_threads``), ``python-onnxruntime``
(``NerPipeline.from_bundle``: the same ONNX model from Python, to tell the runtime's share from the language's)
and ``java-onnxruntime`` (``org.biobertner.cli.Bench`` in the jar, ONNX Runtime intra-op threads). The entities of
the Java run are compared with PyTorch's. Prints one JSON object and writes it to
``benchmarks/results/java.json`` (``java-unfused.json`` with ``--no-fuse``; ``--output``) with the
commit and the machine; ``--markdown`` also prints table rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from biobert_ner.timing import time_latency, time_throughput
from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record

REPO_ROOT = Path(__file__).resolve().parents[1]
JAVA_DIR = REPO_ROOT / "java"
JAR = JAVA_DIR / "target" / "biobert-ner-java.jar"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="fine-tuned model folder (default: MiniLM with a random NER head)")
    parser.add_argument("--work-dir", default=str(REPO_ROOT / "build" / "bench-java"), help="model and bundle cache")
    parser.add_argument("--threads", type=int, default=2, help="torch threads = ONNX Runtime intra-op threads")
    parser.add_argument("--batch-sizes", default="1,8,32", help="windows per forward pass for the throughput runs")
    parser.add_argument("--texts", type=int, default=100, help="how many test sentences")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (after one warm-up pass)")
    parser.add_argument("--no-fuse", dest="fuse", action="store_false", help="export without ONNX Runtime's fused kernels")
    parser.add_argument("--markdown", action="store_true", help="also print rows for benchmarks/README.md")
    add_output_argument(parser, result_path("java"))
    args = parser.parse_args(argv)
    if not args.fuse and args.output == result_path("java"):  # the unfused bundle's numbers are kept beside the fused ones
        args.output = result_path("java-unfused")
    return args


def prepare_model(args: argparse.Namespace) -> tuple[Path, Path]:
    """The model folder and its bundle (exported once, cached in ``--work-dir``)."""
    from biobert_ner.export import export_bundle
    from biobert_ner.modelling import load_model_and_tokenizer, save_model
    from biobert_ner.schemes import iob2_labels

    work = Path(args.work_dir)
    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        model_dir = work / "minilm-random-head"
        if not (model_dir / "config.json").is_file():
            import torch

            torch.manual_seed(0)  # the random head: same model on every run
            model, tokenizer = load_model_and_tokenizer("minilm", iob2_labels(("Chemical", "Disease")), device="cpu")
            save_model(model, tokenizer, model_dir)
    bundle = work / (f"bundle-{model_dir.name}" + ("" if args.fuse else "-unfused"))
    stamp = bundle / "bundle.json"
    if not stamp.is_file() or stamp.stat().st_mtime < (model_dir / "config.json").stat().st_mtime or bundle_settings(bundle).get("fuse") != args.fuse:
        export_bundle(model_dir, bundle, fuse=args.fuse)
    return model_dir, bundle


def bundle_settings(bundle: Path) -> dict:
    """The ``export`` section of a bundle's ``bundle.json`` (empty for an old bundle)."""
    return json.loads((bundle / "bundle.json").read_text(encoding="utf-8")).get("export", {})


def corpus_texts(count: int) -> list[str]:
    from biobert_ner.data import load_bundled_corpus

    corpus = load_bundled_corpus()
    sentences = [" ".join(tokens) for split in ("test", "validation", "train") for tokens in corpus[split]["tokens"]]
    return sentences[:count]


def python_lines(texts, entities) -> list[str]:
    return [json.dumps({"text": t, "entities": [e.to_dict() for e in found]}, ensure_ascii=False) for t, found in zip(texts, entities)]


def build_jar() -> None:
    """``mvn package`` without the tests (incremental: seconds when nothing changed)."""
    # Maven's output goes to stderr: stdout is the JSON document only.
    subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "package", "-DskipTests"], cwd=JAVA_DIR, check=True, stdout=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from biobert_ner.inference import NerPipeline

    record = start_record("java")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    with logs_to_stderr():
        model_dir, bundle = prepare_model(args)
    texts = corpus_texts(args.texts)
    results: dict = {"machine": {"threads": args.threads}, "model": model_dir.name, "threads": args.threads,
                     "texts": len(texts), "repeat": args.repeat, "runtimes": {}}

    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    pipeline = NerPipeline.from_pretrained(model_dir, device="cpu", precision="fp32", verbose=False)
    onnx = NerPipeline.from_bundle(bundle, threads=args.threads, verbose=False)
    results["max_length"], results["stride"] = pipeline.config.window_length, pipeline.config.stride
    results["onnx_fused_kernels"] = bundle_settings(bundle).get("fused_kernels", {})

    def torch_with(batch_size: int) -> NerPipeline:
        return pipeline.with_config(batch_size=batch_size)

    def onnx_with(batch_size: int) -> NerPipeline:
        return onnx.with_config(batch_size=batch_size)

    # The two Python runtimes take turns, so a burst of load on a shared machine hits both.
    reference = python_lines(texts, pipeline(texts))
    onnx_lines = python_lines(texts, onnx(texts))
    runs = {"python-torch": {"throughput_texts_per_s": {}}, "python-onnxruntime": {"throughput_texts_per_s": {}}}
    runs["python-torch"]["latency_ms"] = time_latency(lambda t: pipeline([t]), texts, args.repeat)
    runs["python-onnxruntime"]["latency_ms"] = time_latency(lambda t: onnx([t]), texts, args.repeat)
    for batch_size in batch_sizes:
        runs["python-torch"]["throughput_texts_per_s"][str(batch_size)] = time_throughput(torch_with(batch_size), texts, args.repeat)
        runs["python-onnxruntime"]["throughput_texts_per_s"][str(batch_size)] = time_throughput(onnx_with(batch_size), texts, args.repeat)
    runs["python-onnxruntime"]["identical_entities"] = all(_same_entities(a, b) for a, b in zip(onnx_lines, reference))
    for run in runs.values():
        run["best_throughput_texts_per_s"] = max(run["throughput_texts_per_s"].values())
    results["runtimes"].update(runs)

    build_jar()
    with tempfile.TemporaryDirectory() as scratch:
        source, out = Path(scratch) / "texts.txt", Path(scratch) / "entities.jsonl"
        source.write_text("\n".join(texts) + "\n", encoding="utf-8")
        env = {**os.environ, "DJL_CACHE_DIR": str(JAVA_DIR / "target" / "djl-cache")}
        completed = subprocess.run(
            ["java", "-cp", str(JAR), "org.biobertner.cli.Bench", "--bundle", str(bundle), "--input", str(source),
             "--threads", str(args.threads), "--batch-sizes", args.batch_sizes, "--repeat", str(args.repeat),
             "--entities-out", str(out)],
            capture_output=True, text=True, env=env, check=True,
        )
        java = json.loads(completed.stdout)
        java_lines = out.read_text(encoding="utf-8").splitlines()
    same = [_same_entities(a, b) for a, b in zip(java_lines, reference)]
    results["runtimes"]["java-onnxruntime"] = {
        "latency_ms": java["latency_ms"],
        "throughput_texts_per_s": java["throughput_texts_per_s"],
        "best_throughput_texts_per_s": java["best_throughput_texts_per_s"],
        "identical_entities": all(same) and len(java_lines) == len(reference),
        "byte_identical_lines": sum(a == b for a, b in zip(java_lines, reference)),
        "onnxruntime": java["onnxruntime"],
        "java": java["java"],
    }
    base = results["runtimes"]["python-torch"]
    results["speedup_vs_python_torch"] = {
        name: {
            "latency": round(base["latency_ms"]["median"] / run["latency_ms"]["median"], 2),  # median: robust to a busy machine
            "throughput": round(run["best_throughput_texts_per_s"] / base["best_throughput_texts_per_s"], 2),
            **{
                f"throughput_batch_{size}": round(run["throughput_texts_per_s"][size] / base["throughput_texts_per_s"][size], 2)
                for size in base["throughput_texts_per_s"]
            },
        }
        for name, run in results["runtimes"].items() if name != "python-torch"
    }
    finish(record, results, args.output)
    if args.markdown:
        sizes = list(base["throughput_texts_per_s"])
        print("\n| runtime | latency median (ms) | latency mean (ms) | " + " | ".join(f"texts/s, batch {s}" for s in sizes)
              + " | identical entities |")
        print("|---" * (4 + len(sizes)) + "|")
        for name, run in results["runtimes"].items():
            cells = " | ".join(f"{run['throughput_texts_per_s'][s]:.1f}" for s in sizes)
            print(f"| {name} | {run['latency_ms']['median']:.1f} | {run['latency_ms']['mean']:.1f} | {cells} | "
                  f"{run.get('identical_entities', 'reference')} |")
    return 0 if results["runtimes"]["java-onnxruntime"]["identical_entities"] else 1


def _same_entities(java_line: str, python_line: str) -> bool:
    java, python = json.loads(java_line), json.loads(python_line)
    key = lambda e: (e["type"], e["text"], e["start"], e["end"])  # noqa: E731
    return java["text"] == python["text"] and [key(e) for e in java["entities"]] == [key(e) for e in python["entities"]] and all(
        abs(a["score"] - b["score"]) <= 1.01e-4 for a, b in zip(java["entities"], python["entities"])
    )


if __name__ == "__main__":
    sys.exit(main())
