"""The suite's families of slow tests (the repository's conftest.py): what ``-m FAMILY`` and ``-m "not slow"`` select."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = '''
import pytest

@pytest.mark.slow
def test_training_end_to_end():
    pass

@pytest.mark.java
def test_maven_build():
    pass

def test_unit():
    pass
'''


def selected(pytester: pytest.Pytester, expression: str) -> list[str]:
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "-m", expression)
    return sorted(line.split("::")[-1] for line in result.outlines if "::" in line)


def markers_of(pytester: pytest.Pytester) -> dict[str, set[str]]:
    items, _ = pytester.inline_genitems("-p", "no:cacheprovider")
    return {item.name: {marker.name for marker in item.iter_markers()} for item in items}


@pytest.fixture
def sample_suite(pytester: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    """A folder with the repository's conftest.py and markers, and one test of each kind (no other plugin: seconds, not minutes)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    markers = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]["markers"]
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n" + "".join(f"    {marker}\n" for marker in markers))
    pytester.makeconftest((REPO_ROOT / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def test_a_family_is_slow_and_a_slow_test_without_one_is_e2e(sample_suite):
    assert markers_of(sample_suite) == {
        "test_training_end_to_end": {"slow", "e2e"},
        "test_maven_build": {"java", "slow"},
        "test_unit": set(),
    }


def test_a_family_selects_before_deselection(sample_suite):
    """The markers are added before ``-m`` deselects, so ``-m e2e`` finds the slow test that names no family."""
    assert selected(sample_suite, "e2e") == ["test_training_end_to_end"]
