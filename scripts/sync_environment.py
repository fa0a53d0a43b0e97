"""Write environment.yml (for conda users) from pyproject.toml, so the two cannot drift.

    python scripts/sync_environment.py          # rewrite environment.yml
    python scripts/sync_environment.py --check  # exit 1 if environment.yml differs

Python packages are installed by pip inside the conda environment with exactly the
specifiers of pyproject.toml (runtime + every extra); conda provides Python, Java and Maven.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_PACKAGES = ["python=3.11", "pip", "openjdk=17", "maven"]


def pip_requirements(pyproject: dict) -> list[str]:
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += [r for r in extra if r not in requirements]
    return requirements


def render_environment(pyproject: dict) -> str:
    lines = [
        "# Generated from pyproject.toml by scripts/sync_environment.py; edit pyproject.toml, not this file.",
        "# conda env create -f environment.yml && conda activate biobert-ner",
        "name: biobert-ner",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        *[f"  - {package}" for package in CONDA_PACKAGES],
        "  - pip:",
        *[f'      - "{requirement}"' for requirement in pip_requirements(pyproject)],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when environment.yml is stale")
    args = parser.parse_args(argv)
    expected = render_environment(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    target = ROOT / "environment.yml"
    if args.check:
        if not target.exists() or target.read_text() != expected:
            print("environment.yml is out of date: run python scripts/sync_environment.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(expected)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
