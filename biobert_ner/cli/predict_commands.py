"""``predict`` (flags from :class:`~biobert_ner.inference.InferenceConfig`) and ``export`` (from :class:`~biobert_ner.export.ExportConfig`)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..export import ExportConfig
from ..inference import InferenceConfig
from ..precision import Precision, parse_precision
from .core import EXIT_FAILURE, EXIT_OK, register
from .errors import UsageError
from .flags import add_device_flags, add_model_dir, existing_folder, make_settings, typed_settings

# ---------------------------------------------------------------- predict


def add_predict(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    add_model_dir(source)
    source.add_argument("--bundle", type=existing_folder, metavar="DIR",
                        help="a bundle written by 'export', run with ONNX Runtime on the CPU (same entities, faster)")
    add_device_flags(parser, with_bundle=True)
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="UTF-8 text files, one text per line ('-' or none: standard input)")
    parser.add_argument("--output", metavar="FILE.jsonl", default=None, help="write JSON lines here instead of stdout")
    parser.epilog = (
        'Output: one JSON object per input line, in order (blank lines included): '
        '{"text": ..., "entities": [{"type", "text", "start", "end", "score"}]}, '
        "offsets are half-open character offsets into text. "
        "With --bundle, the windows are the bundle's own (window length and stride). The decoding is the one "
        "the model was scored with (its ner_settings.json, or the bundle's bundle.json); --decoding overrides it, "
        "and says so."
    )


def load_pipeline(args: argparse.Namespace):
    """A :class:`NerPipeline` from the flags; its messages go to stderr (stdout may carry results)."""
    if args.bundle is not None:
        return load_bundle_pipeline(args)
    import torch

    from ..inference import NerPipeline

    typed = typed_settings(args, InferenceConfig)
    make_settings(InferenceConfig, typed)  # settings that make no sense together: a usage error before the model loads
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    with contextlib.redirect_stdout(sys.stderr):  # the model's own decoding unless --decoding says otherwise
        return NerPipeline.from_pretrained(args.model_dir, device=args.device, **typed)


def load_bundle_pipeline(args: argparse.Namespace):
    """``--bundle``: the ONNX Runtime backend; settings a bundle fixes are refused rather than ignored."""
    from ..inference import NerPipeline

    typed = typed_settings(args, InferenceConfig)
    fixed = [f"--{name.replace('_', '-')}" for name in ("window_length", "stride") if name in typed]
    if fixed:
        raise UsageError(f"{' and '.join(fixed)}: a bundle runs with the window length and stride it was exported with")
    precision = parse_precision(typed.get("precision", Precision.FP32), resolved=True)
    if precision is not Precision.FP32:
        raise UsageError(f"--precision {precision.value}: a bundle runs in fp32 (bf16 is for --model-dir)")
    if args.device not in (None, "cpu"):
        raise UsageError(f"--device {args.device}: a bundle runs on the CPU (ONNX Runtime); use --model-dir for other devices")
    batch_size = typed.get("batch_size", InferenceConfig.batch_size)
    with contextlib.redirect_stdout(sys.stderr):  # the bundle's own decoding unless --decoding says otherwise
        return NerPipeline.from_bundle(args.bundle, batch_size=batch_size, threads=args.num_threads, decoding=typed.get("decoding"))


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
    for texts in chunks(read_lines(args.files), pipeline.config.batch_size * 8):
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
        from ..files import atomic_write_text

        atomic_write_text(args.output, "".join(lines))
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------- export


def add_export(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    add_model_dir(source)
    source.add_argument("--tiny", action="store_true", help="export a tiny random BERT instead (test bundles)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="bundle folder to write (replaced as a whole)")
    parser.add_argument("--texts", help="extra fixture texts for golden.json, one per line (added to the built-in ones)")


def export_settings(args: argparse.Namespace) -> ExportConfig:
    """The export's settings: the flags typed, the class defaults for the rest."""
    return make_settings(ExportConfig, typed_settings(args, ExportConfig))


def run_export(args: argparse.Namespace) -> int:
    """0 when the bundle was written and is in parity, 1 otherwise."""
    import tempfile

    from ..export import ExportParityError, export_bundle
    from ..golden import GOLDEN_TEXTS, GoldenText, tiny_model_texts
    from ..modelling import save_tiny_test_model

    config = export_settings(args)
    texts: list[GoldenText] = list(GOLDEN_TEXTS)
    if args.texts:
        lines = Path(args.texts).read_text(encoding="utf-8").splitlines()
        texts += [GoldenText(f"given-{i + 1}", line, f"line {i + 1} of {args.texts}") for i, line in enumerate(lines)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            model_dir = save_tiny_test_model(Path(scratch) / "tiny", tiny_model_texts()) if args.tiny else args.model_dir
            export_bundle(model_dir, args.output, config, fixture_texts=texts, model_name="tiny-random-bert" if args.tiny else None)
    except ExportParityError as error:
        print(error)
        print("export: no bundle written (ONNX Runtime and PyTorch disagree)")
        return EXIT_FAILURE
    return EXIT_OK


register("predict", "entities in raw text, as JSON lines", add_predict, run_predict,
         "Find entities in raw text (one text per line, from files or stdin) and write one JSON object per line, "
         "with a model folder (PyTorch) or an exported bundle (ONNX Runtime).", settings=(InferenceConfig,))
register("export", "an ONNX bundle for the Java appendix, with parity checks", add_export, run_export,
         "Export a fine-tuned model folder to model.onnx + tokenizer.json + labels.json + golden fixtures, "
         "and check ONNX Runtime against PyTorch (logits and entities).", settings=(ExportConfig,))
