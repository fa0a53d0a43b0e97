"""The Java NER HTTP service under load: throughput and latency against concurrent clients, micro-batching on vs off.

    python -m benchmarks.bench_java_service                    # MiniLM with a random NER head, 2 threads, ~2-3 minutes
    python -m benchmarks.bench_java_service --seconds 3 --concurrency 1,16

For each setting of the service (``--max-batch 8``, the default here: up to 8 windows of concurrent
requests share a forward pass; ``--max-batch 1``: one window per forward pass, what a server without batching does) and each
number of clients (1, 4, 16, 64 threads, each with its own keep-alive HTTP/1.1 connection to
127.0.0.1, one ``{"text": ...}`` per request), the clients send requests for ``--seconds`` after a
warm-up second: texts per second, and latency p50/p90/p99 in milliseconds. Every answer is checked
against the first answer for its text (no error, no mixed-up answer). Beside them, the same model
without HTTP: ``NerModel`` called directly (``org.biobertner.cli.Bench``) and Python's ONNX Runtime
pipeline (``NerPipeline.from_bundle``), with the same ONNX Runtime threads: latency one text per call,
throughput all texts in one call, windows batched 1 or 32 at a time.

The clients run on the same cores as the service (the machine has 2): they take CPU from it, in both
settings alike. Load average, CPU, commit and date go into ``benchmarks/results/java_service.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_java import JAR, JAVA_DIR, REPO_ROOT, build_jar, corpus_texts, prepare_model
from biobert_ner.timing import time_latency, time_throughput
from benchmarks.common import add_output_argument, finish, result_path, start_record

HOST = "127.0.0.1"  # the service and its clients stay on this machine


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="fine-tuned model folder (default: MiniLM with a random NER head)")
    parser.add_argument("--work-dir", default=str(REPO_ROOT / "build" / "bench-java"), help="model and bundle cache")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (service, Java and Python alike)")
    parser.add_argument("--concurrency", default="1,4,16,64", help="numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per setting and concurrency")
    parser.add_argument("--max-requests", type=int, default=3000, help="at most this many requests per measurement")
    parser.add_argument("--texts", type=int, default=100, help="how many test sentences the clients cycle through")
    parser.add_argument("--max-batch", type=int, default=8, help="the batching service's --max-batch (windows per forward pass)")
    parser.add_argument("--max-delay-ms", type=int, default=2, help="the batching service's --max-delay-ms")
    parser.add_argument("--direct-texts", type=int, default=40, help="texts for the direct (no HTTP) baselines")
    add_output_argument(parser, result_path("java_service"))
    parser.add_argument("--markdown", action="store_true", help="also print the table for benchmarks/README.md")
    parser.add_argument("--no-fuse", dest="fuse", action="store_false", help=argparse.SUPPRESS)  # prepare_model reads it
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Service:
    """``java -jar biobert-ner-java.jar serve`` in a subprocess, ready when ``/health/ready`` says so."""

    def __init__(self, bundle: Path, threads: int, max_batch: int, max_delay_ms: int) -> None:
        self.port = free_port()
        self.settings = {"threads": threads, "max_batch": max_batch, "max_delay_ms": max_delay_ms}
        env = {**os.environ, "DJL_CACHE_DIR": str(JAVA_DIR / "target" / "djl-cache")}
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            ["java", "-jar", str(JAR), "serve", "--bundle", str(bundle), "--host", HOST, "--port", str(self.port),
             "--threads", str(threads), "--max-batch", str(max_batch), "--max-delay-ms", str(max_delay_ms),
             "--queue", "1024", "--http-threads", "96", "--timeout-ms", "30000"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited ({self.process.returncode}):\n{self.output()}")
            try:
                status, _ = request(http.client.HTTPConnection(HOST, self.port, timeout=2), "GET", "/health/ready")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the service was not ready within 120 s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def metrics(self) -> str:
        return request(http.client.HTTPConnection(HOST, self.port, timeout=10), "GET", "/metrics")[1]

    def stop(self) -> str:
        """SIGTERM (the graceful shutdown) and the service's last log line."""
        self.process.terminate()
        self.process.wait(timeout=60)
        return self.output().strip().splitlines()[-1]


def request(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8")


def load(port: int, texts: list[str], clients: int, seconds: float, max_requests: int, expected: dict[str, str]) -> dict:
    """``clients`` threads sending requests for ``seconds`` (after a warm-up second): rate, latency, errors."""
    bodies = [json.dumps({"text": text}, ensure_ascii=False).encode("utf-8") for text in texts]
    latencies: list[float] = []
    errors = [0, 0]  # [not 200, answer differs from the first one seen for its text]
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)
    measure_from = [0.0]
    stop_at = [0.0]
    sent = [0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        start_barrier.wait()
        i = index
        while True:
            now = time.perf_counter()
            if now >= stop_at[0]:
                break
            with lock:
                if now >= measure_from[0]:
                    if sent[0] >= max_requests:
                        break
                    sent[0] += 1
            k = i % len(texts)
            i += clients
            begin = time.perf_counter()
            status, body = request(connection, "POST", "/v1/entities", bodies[k])
            elapsed = time.perf_counter() - begin
            with lock:
                if status != 200:
                    errors[0] += 1
                elif expected.setdefault(texts[k], body) != body:
                    errors[1] += 1
                if begin >= measure_from[0]:
                    latencies.append(elapsed * 1e3)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    measure_from[0], stop_at[0] = now + 1.0, now + 1.0 + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join()
    measured = min(time.perf_counter(), stop_at[0]) - measure_from[0]
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else float("nan")

    return {"clients": clients, "requests": len(latencies), "seconds": round(measured, 2),
            "texts_per_s": round(len(latencies) / measured, 1), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
            "errors": errors[0], "mismatched_answers": errors[1]}


def batch_stats(metrics: str) -> dict:
    """Mean windows per forward pass, from the service's Prometheus histogram."""
    values = {}
    for line in metrics.splitlines():
        for name in ("biobertner_batch_windows_sum", "biobertner_batch_windows_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    count = values.get("biobertner_batch_windows_count", 0)
    return {"forward_passes": int(count), "mean_windows_per_pass": round(values.get("biobertner_batch_windows_sum", 0) / count, 2) if count else 0}


def direct_baselines(bundle: Path, texts: list[str], threads: int) -> dict:
    """The model without HTTP: NerModel from Java (Bench) and NerPipeline.from_bundle from Python, same threads."""
    from biobert_ner.inference import NerPipeline

    onnx = NerPipeline.from_bundle(bundle, threads=threads, verbose=False)
    python = {"latency_ms": time_latency(lambda t: onnx([t]), texts, 2),
              "throughput_texts_per_s": {"1": time_throughput(onnx.with_config(batch_size=1), texts, 2),
                                         "32": time_throughput(onnx.with_config(batch_size=32), texts, 2)}}
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "texts.txt"
        source.write_text("\n".join(texts) + "\n", encoding="utf-8")
        env = {**os.environ, "DJL_CACHE_DIR": str(JAVA_DIR / "target" / "djl-cache")}
        completed = subprocess.run(
            ["java", "-cp", str(JAR), "org.biobertner.cli.Bench", "--bundle", str(bundle), "--input", str(source),
             "--threads", str(threads), "--batch-sizes", "1,32", "--repeat", "2"],
            capture_output=True, text=True, env=env, check=True, timeout=300,
        )
    java = json.loads(completed.stdout)
    return {"java-nermodel": {"latency_ms": java["latency_ms"], "throughput_texts_per_s": java["throughput_texts_per_s"]},
            "python-onnxruntime": python}


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    record = start_record("java_service")
    results: dict = {"threads": args.threads, "seconds_per_measurement": args.seconds}
    _, bundle = prepare_model(args)
    results["model"] = json.loads((bundle / "bundle.json").read_text(encoding="utf-8")).get("model_name")
    texts = corpus_texts(args.texts)
    results["texts"] = len(texts)
    build_jar()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    expected: dict[str, str] = {}  # first answer per text, shared by both settings: batching must not change it
    results["service"] = {}
    for name, max_batch in (("batching", args.max_batch), ("no-batching", 1)):
        service = Service(bundle, args.threads, max_batch, args.max_delay_ms)
        try:
            runs = [load(service.port, texts, clients, args.seconds, args.max_requests, expected) for clients in concurrency]
            stats = batch_stats(service.metrics())
        finally:
            last_line = service.stop()
        results["service"][name] = {"settings": service.settings, "runs": runs, **stats, "shutdown_log": last_line.split("] ", 1)[-1]}
        print(f"{name}: {runs}", file=sys.stderr)
    results["direct"] = direct_baselines(bundle, texts[: args.direct_texts], args.threads)
    by_clients = {name: {run["clients"]: run for run in setting["runs"]} for name, setting in results["service"].items()}
    if 16 in concurrency:
        on, off = by_clients["batching"][16], by_clients["no-batching"][16]
        results["batching_speedup_at_16_clients"] = round(on["texts_per_s"] / off["texts_per_s"], 2)
        results["p99_over_p50_at_16_clients_batching"] = round(on["p99_ms"] / on["p50_ms"], 2)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    finish(record, results, args.output)
    if args.markdown:
        print("\n| clients | batching: texts/s | p50 ms | p99 ms | no batching: texts/s | p50 ms | p99 ms | speed-up |")
        print("|---|---|---|---|---|---|---|---|")
        for clients in concurrency:
            on, off = by_clients["batching"][clients], by_clients["no-batching"][clients]
            print(f"| {clients} | {on['texts_per_s']} | {on['p50_ms']} | {on['p99_ms']} | {off['texts_per_s']} | {off['p50_ms']} | "
                  f"{off['p99_ms']} | {on['texts_per_s'] / off['texts_per_s']:.2f}x |")
    failures = sum(run["errors"] + run["mismatched_answers"] for setting in results["service"].values() for run in setting["runs"])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
