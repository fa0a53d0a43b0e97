"""Flags: settings dataclasses turned into flags by transformers' ``HfArgumentParser``, and argparse types.

A settings class (``TrainingConfig``, ``InferenceConfig``, ``ExportConfig``) owns its defaults and
its documentation (the ``# comment`` next to each field). :func:`settings_flags` lets
``HfArgumentParser`` make one flag per field, then adjusts what the command line needs:

* a flag's default is "not given" (``argparse.SUPPRESS``): only the settings a user typed land
  in the parsed arguments, so they can override another source (a ``--config`` file, the
  settings saved in a model folder or a bundle) and the class defaults fill in the rest;
* the help is the comment next to the field, with the class default;
* one spelling per flag (``--max-length``, not also ``--max_length``), as for the other flags;
* ``none`` is accepted for an ``int | None`` setting.

``--max-length`` is the sentence length (training and evaluation) on every command; the
inference window is ``--window-length`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UsageError, one_line

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


def setting_names(cls: type) -> list[str]:
    """The fields of a settings class that a user can set (in declaration order)."""
    return [field.name for field in dataclasses.fields(cls) if field.init]


def settings_flags(cls: type) -> argparse.ArgumentParser:
    """A parent parser (for ``parents=[...]``) with one flag per field of the settings dataclass ``cls``."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(cls, add_help=False)
    helps, hints = field_help(cls), typing.get_type_hints(cls)
    defaults = {field.name: field_default(field) for field in dataclasses.fields(cls) if field.init}
    # HfArgumentParser offers no hook for flag spellings or help, so its actions are edited in place; a parent
    # parser's actions are copied by reference into the command's parser, so the edits carry over.
    for action in parser._actions:
        if action.dest not in defaults:
            continue
        # HfArgumentParser adds --max_length and --max-length; the command line spells flags with hyphens only
        action.option_strings = [option for option in action.option_strings if "_" not in option]
        action.default = argparse.SUPPRESS
        flag = f"--{action.dest.replace('_', '-')}"
        if action.option_strings == [f"--no-{flag[2:]}"]:
            action.help = f"turn {flag} off"
            continue
        action.help = f"{helps.get(action.dest, f'{cls.__name__}.{action.dest}')} (default: {defaults[action.dest]})".replace("%", "%%")
        if is_optional(hints[action.dest]) and callable(action.type):
            action.type = none_or(action.type)
    return parser


def field_default(field: dataclasses.Field) -> Any:
    """A field's default as a user types it (an enum by its value)."""
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = field.default_factory()  # type: ignore[misc]
    else:
        default = None if field.default is dataclasses.MISSING else field.default
    return default.value if isinstance(default, enum.Enum) else default


def is_optional(annotation: Any) -> bool:
    """``int | None`` -> True; ``int`` -> False."""
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return is_union and type(None) in typing.get_args(annotation)


def none_or(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse type for ``int | None`` settings: ``none`` means None."""

    def convert(value: str):
        return None if value.lower() in ("none", "null", "") else kind(value)

    convert.__name__ = getattr(kind, "__name__", "value")
    return convert


def typed_settings(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of ``cls`` that the user typed as flags (the others are absent from ``args``)."""
    return {name: getattr(args, name) for name in setting_names(cls) if hasattr(args, name)}


def settings_from_args(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """``--config FILE.json`` (if given) updated with the flags the user typed."""
    settings: dict[str, Any] = {}
    if getattr(args, "config", None):
        settings.update(read_settings_file(args.config, names))
    settings.update({name: getattr(args, name) for name in names if hasattr(args, name)})
    return settings


def read_settings_file(name: str, names: Sequence[str]) -> dict[str, Any]:
    """A JSON object of settings (e.g. a run's settings.json); anything else is a usage error naming the file."""
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--config {name}: no such file")
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UsageError(f"--config {name}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--config {name}: expected a JSON object of settings")
    unknown = sorted(set(loaded) - set(names))
    if unknown:
        raise UsageError(f"--config {name}: unknown settings {', '.join(unknown)}; known: {', '.join(names)}")
    return loaded


def make_settings(cls: type, values: dict[str, Any]):
    """``cls(**values)``; settings that make no sense together are a usage error (exit code 2)."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None


# ---------------------------------------------------------------- argparse types


def existing_model_dir(value: str) -> Path:
    """argparse type: a folder that holds a saved model."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"model folder {value} does not exist")
    if not (path / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{value} is not a model folder (no config.json in it)")
    return path


def existing_folder(value: str) -> Path:
    """argparse type: a folder that exists (what is in it is checked by whoever reads it)."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"folder {value} does not exist")
    return path


def positive_int(value: str) -> int:
    """argparse type: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def add_model_dir(parser: argparse.ArgumentParser | Any, **options: Any) -> None:
    """``--model-dir DIR``: the one spelling of "a fine-tuned model folder" for every command."""
    parser.add_argument("--model-dir", type=existing_model_dir, metavar="DIR",
                        help="a fine-tuned model folder (the 'model' folder that 'train' writes)", **options)


def add_device_flags(parser: argparse.ArgumentParser, *, with_bundle: bool = False) -> None:
    """``--device`` and ``--num-threads``: where a forward pass runs (``with_bundle``: also ONNX Runtime's threads)."""
    parser.add_argument("--device", default=None, help="torch device (cpu, cuda, cuda:1, mps); default: a GPU if there is one")
    threads = "CPU threads for torch, or ONNX Runtime's intra-op threads with --bundle" if with_bundle else "CPU threads for torch"
    parser.add_argument("--num-threads", type=positive_int, default=None, help=f"{threads} (default: the runtime's choice)")
