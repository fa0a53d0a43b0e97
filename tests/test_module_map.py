"""The map of jobs to modules (the package docstring and the README's library table) names every module exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import biobert_ner

PACKAGE = Path(biobert_ner.__file__).parent
README = PACKAGE.parent / "README.md"


def modules() -> set[str]:
    """Every module of the package; ``cli`` (a sub-package) counts as one."""
    names = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    names |= {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    return names


def named_in(text: str) -> list[str]:
    """Backticked names that are modules of the package, in order (a name may appear more than once)."""
    known = modules()
    return [name for name in re.findall(r"`([A-Za-z_]+)`", text) if name in known]


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("| job | modules |")
    return text[start : text.index("\n\n", start)]


def test_the_package_docstring_maps_every_module_exactly_once() -> None:
    named = named_in(biobert_ner.__doc__)
    assert sorted(named) == sorted(modules()), f"missing: {modules() - set(named)}; twice: {[n for n in set(named) if named.count(n) > 1]}"


def test_the_readme_table_is_the_same_map() -> None:
    named = named_in(readme_table())
    assert sorted(named) == sorted(modules())
    rows = [line for line in readme_table().splitlines()[2:]]
    docstring_rows = [line[2:] for line in biobert_ner.__doc__.splitlines() if line.startswith("* ")]
    assert [row.strip("| ").replace(" | ", ": ", 1) for row in rows] == docstring_rows
