"""The project's set-up files agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_has_exactly_the_pyproject_dependencies():
    project = _pyproject()["project"]
    expected = {str(Requirement(r)) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        expected |= {str(Requirement(r)) for r in extra}
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    declared = {str(Requirement(r)) for r in pip_section if not r.startswith("-e")}
    assert declared == expected, f"missing: {expected - declared}, extra: {declared - expected}"
    assert any(str(d).startswith("python=3.") for d in environment["dependencies"])
    assert "openjdk=17" in environment["dependencies"], "the Java appendix needs Java 17"


def test_environment_yml_is_what_the_generator_writes():
    result = subprocess.run([sys.executable, "scripts/sync_environment.py", "--check"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lock_file_pins_every_declared_dependency():
    """requirements.lock (what set-up installs) must pin each package pyproject asks for, at an allowed version."""
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    project = _pyproject()["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra]
    for requirement in requirements:
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is declared in pyproject.toml but not pinned in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {requirement}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "./test.sh" in readme and "./course.sh" in readme
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec \./test\.sh$", ci, re.MULTILINE)


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    """Files the project writes (exercises, TSV, bundles) are readable by others, like any other file."""
    import os

    from biobert_ner.files import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "shared.txt", "hello\n")
    finally:
        os.umask(mask)
    assert path.read_text() == "hello\n"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"], "no temporary file left behind"
