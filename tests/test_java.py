"""The Java appendix end to end: Maven build and tests, then the Java and Python command lines side by side.

Needs Java 17+ and Maven on PATH; dependencies are resolved once into ``~/.m2`` (outside the clone).
Maven builds and tests once per run (``mvn package``, the ``jar`` fixture); the golden tests on a fresh
bundle then run on those compiled classes (``mvn surefire:test``: no second build), and notebook 08
reuses the jar while it is newer than its sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from biobert_ner.export import export_bundle
from biobert_ner.golden import GOLDEN_TEXTS

pytestmark = pytest.mark.java

REPO_ROOT = Path(__file__).resolve().parents[1]
JAVA_DIR = REPO_ROOT / "java"
JAR = JAVA_DIR / "target" / "biobert-ner-java.jar"
MAX_LENGTH, STRIDE = 32, 8  # small windows: the corpus sentences below need several


def run(command: list[str], *, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, the assertion shows the end of its output."""
    env = {**os.environ, "DJL_CACHE_DIR": str(JAVA_DIR / "target" / "djl-cache")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-6000:]}"
    return result


@pytest.fixture(scope="session")
def maven() -> str:
    found = shutil.which("mvn")
    assert found and shutil.which("java"), "the Java appendix needs Java 17+ and Maven (mvn) on PATH"
    return found


@pytest.fixture(scope="session")
def jar(maven: str) -> Path:
    """``mvn package``, once per run: compiles, runs every JUnit test (golden parity against the committed bundle), builds the jar."""
    run([maven, "-B", "-q", "package"], cwd=JAVA_DIR)
    assert JAR.is_file()
    return JAR


@pytest.fixture(scope="module")
def fresh_bundle(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """A bundle exported now from the tiny test model (vocabulary from the bundled corpus)."""
    bundle = tmp_path_factory.mktemp("java") / "bundle"
    export_bundle(tiny_model_dir, bundle, window_length=MAX_LENGTH, stride=STRIDE, verbose=False)
    return bundle


def test_junit_parity_on_a_freshly_exported_bundle(jar: Path, maven: str, fresh_bundle: Path) -> None:
    """The JUnit golden tests again, on fixtures the current Python code just wrote: surefire alone, on the classes ``jar`` compiled."""
    result = run([maven, "-B", "surefire:test", f"-Dbundle.dir={fresh_bundle}", "-Dtest=GoldenParityTest,BundleTest"], cwd=JAVA_DIR)
    summary = [line for line in result.stdout.splitlines() if "Tests run:" in line]
    assert summary and "Skipped: 0" in summary[-1], summary  # not silently skipped for want of a bundle


def input_lines() -> list[str]:
    """The single-line golden texts and the raw text of the bundled corpus's test sentences."""
    from biobert_ner.data import load_bundled_corpus

    lines = [g.text for g in GOLDEN_TEXTS if "\n" not in g.text and "\r" not in g.text]
    test_split = load_bundled_corpus()["test"]
    lines += [" ".join(tokens) for tokens in test_split["tokens"][:60]]
    return lines


def python_lines(model_dir: Path, lines: list[str]) -> list[str]:
    """What ``biobert-ner predict`` prints: NerPipeline + ``Entity.to_dict``, one JSON line per text."""
    from biobert_ner.inference import NerPipeline

    pipeline = NerPipeline.from_pretrained(model_dir, device="cpu", window_length=MAX_LENGTH, stride=STRIDE, verbose=False)
    return [
        json.dumps({"text": text, "entities": [entity.to_dict() for entity in entities]}, ensure_ascii=False)
        for text, entities in zip(lines, pipeline(lines))
    ]


def test_java_and_python_command_lines_print_the_same_entities(jar: Path, fresh_bundle: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    lines = input_lines()
    source = tmp_path / "input.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    java = run(["java", "-jar", str(jar), "predict", "--bundle", str(fresh_bundle), "--input", str(source)]).stdout
    java_lines = java.splitlines()
    expected = python_lines(tiny_model_dir, lines)
    assert len(java_lines) == len(expected) == len(lines)
    identical = 0
    for want_line, got_line in zip(expected, java_lines):
        want, got = json.loads(want_line), json.loads(got_line)
        assert got["text"] == want["text"]
        strip = lambda entities: [{k: e[k] for k in ("type", "text", "start", "end")} for e in entities]  # noqa: E731
        assert strip(got["entities"]) == strip(want["entities"]), want["text"]
        for a, b in zip(got["entities"], want["entities"]):
            assert abs(a["score"] - b["score"]) <= 1.01e-4  # rounded to 4 decimals on both sides
        identical += got_line == want_line
    # Byte-identical lines, except where a probability sits on a rounding edge of the 4th decimal.
    assert identical >= 0.9 * len(lines), f"only {identical} of {len(lines)} lines byte-identical"
    assert sum(len(json.loads(line)["entities"]) for line in expected) > 0


def test_java_cli_reads_stdin_and_reports_a_bad_bundle(jar: Path, fresh_bundle: Path, tmp_path: Path) -> None:
    result = run(["java", "-jar", str(jar), "predict", "--bundle", str(fresh_bundle)], input="aspirin\n\nTNF-α\n")
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["aspirin", "", "TNF-α"]
    broken = tmp_path / "broken"
    shutil.copytree(fresh_bundle, broken)
    (broken / "labels.json").write_text("[\"O\", \"B-Gene\"", encoding="utf-8")
    failed = subprocess.run(
        ["java", "-jar", str(jar), "predict", "--bundle", str(broken)], input="x\n", capture_output=True, text=True, timeout=300
    )
    assert failed.returncode == 1
    assert "labels.json" in failed.stderr and "not valid JSON" in failed.stderr


def test_a_model_scored_with_argmax_is_exported_and_served_from_java_with_argmax(jar: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """No flag anywhere: the decoding saved beside the model (ner_settings.json) reaches bundle.json and Java."""
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (model / "ner_settings.json").write_text(json.dumps({"decoding": "argmax"}), encoding="utf-8")
    bundle = tmp_path / "bundle"
    export_bundle(model, bundle, window_length=MAX_LENGTH, stride=STRIDE, verbose=False)
    assert json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))["decoding"] == "argmax"

    lines = input_lines()
    source = tmp_path / "input.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    java = run(["java", "-jar", str(jar), "predict", "--bundle", str(bundle), "--input", str(source)]).stdout.splitlines()
    spans = lambda line: [(e["type"], e["start"], e["end"]) for e in json.loads(line)["entities"]]  # noqa: E731
    argmax = python_lines(model, lines)  # the model folder's own decoding: argmax
    viterbi = python_lines(tiny_model_dir, lines)  # no ner_settings.json: the default, Viterbi
    assert [spans(line) for line in java] == [spans(line) for line in argmax]
    assert [spans(line) for line in argmax] != [spans(line) for line in viterbi]  # the random tiny head: the two readings differ
