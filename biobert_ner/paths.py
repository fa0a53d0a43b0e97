"""Where the course's files are: the repository, ``build/`` and the shared models, and paths as notebooks print them.

Its own small module because the grader, the notebook runner and the course notebooks all
need these and nothing else of each other.
"""

from __future__ import annotations

import os
from pathlib import Path

BUILD_ENV = "BIOBERT_NER_BUILD"  # where build/ is; default: <repository>/build


def repository_root() -> Path:
    """The course repository (``$BIOBERT_NER_ROOT`` when set, else the folder above the package)."""
    root = os.environ.get("BIOBERT_NER_ROOT")
    return Path(root) if root else Path(__file__).resolve().parents[1]


def build_dir() -> Path:
    """``build/`` of the repository (``$BIOBERT_NER_BUILD`` overrides): generated files, never committed."""
    path = Path(os.environ.get(BUILD_ENV) or repository_root() / "build")
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return build_dir() / "models"


def solutions_dir() -> Path:
    """``solutions/``: the exercise notebooks with their answers, the source the exercises are made from."""
    return repository_root() / "solutions"


def exercises_dir() -> Path:
    """``exercises/``: the students' copies, generated from ``solutions/``."""
    return repository_root() / "exercises"


def relative(path: str | os.PathLike[str]) -> str:
    """A path as the notebooks print it: relative to the repository when inside it, else from ``~`` when under it.

    Printed paths end up in stored notebook outputs and logs that others read: the repository-relative
    form is the same text on every machine, and neither form shows whose machine it ran on.
    """
    path = Path(path).resolve()
    try:
        return path.relative_to(repository_root().resolve()).as_posix()
    except ValueError:
        pass
    try:
        return (Path("~") / path.relative_to(Path.home().resolve())).as_posix()
    except (ValueError, RuntimeError):  # RuntimeError: no home folder can be determined
        return str(path)
