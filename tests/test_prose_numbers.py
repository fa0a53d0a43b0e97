"""Every number in a notebook's prose is computed or cited.

A number typed into a markdown cell drifts the day the code changes, and nbval cannot see it. So
each number in the markdown cells of the lesson notebooks (``notebooks/``) and the solutions
(``solutions/``) must either

* **appear in one of that notebook's stored outputs** (stream text, ``text/plain``, ``text/html``
  or ``text/markdown``), at the precision the prose gives it: ``0.484`` matches an output
  ``0.4836``, ``48%`` matches ``0.483`` (a share printed as a fraction) and ``48.3%``, ``5,424`` matches ``5424``;
  a notebook stored without outputs (the solutions) is checked against its code cells instead,
  which print or compute its numbers when it runs; or
* **be cited**: the sentence holding it carries a citation marker, a markdown link
  (``[benchmarks/README.md](../benchmarks/README.md)``) or ``source:`` followed by where the
  number was measured or published (``(source: benchmarks/README.md, "On a GPU")``).

Not counted as numbers (the rule is kept simple on purpose):

* anything in a code span or code block (`` `max_length=128` `` is code, not a claim);
* digits glued to letters or to a dot-version (``BRCA1``, ``bf16``, ``H200``, ``v1.2``, ``IOB2``,
  ``L6``), and the numbers in names of things: ``notebook 04``, ``notebooks 05 to 08``,
  ``exercise 2``, ``cell 3``, ``step 2``, ``part 1``, ``section 3``, ``layer 6``, ``epoch 2``, and
  versions after a product's name (``Java 17``, ``Python 3.11``);
* list numbering (``1.`` at the start of a line) and years (four digits from 1900 to 2099);
* the integers 0 to 10 written alone: small counts a reader checks by eye (``two``/``2`` words);
  a decimal, a percentage or a multiple (``0.5``, ``5%``, ``3.58x``) is always checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKED = sorted([*(REPO_ROOT / "notebooks").glob("*.ipynb"), *(REPO_ROOT / "solutions").glob("*.ipynb")])

CITATION = re.compile(r"\[[^\]]+\]\([^)]+\)|\bsource:\s*\S", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.\-/])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:%|x\b|×)?(?![\w/])")
NAMED = re.compile(
    r"\b(?:notebooks?|exercises?|cells?|steps?|parts?|sections?|layers?|epochs?|chapters?|figures?|tables?|rows?"
    r"|Java|Python|Maven|CUDA)"
    r"\s+\d+(?:\s*(?:,|and|to|or|-|–)\s*\d+)*",
    re.IGNORECASE,
)
FENCED = re.compile(r"```.*?```|^(?: {4}|\t).*$", re.DOTALL | re.MULTILINE)  # code blocks, fenced or indented
CODE = re.compile(r"`[^`]*`|<[^>]+>|\]\([^)]*\)")  # code spans, HTML tags, link targets
LIST_NUMBER = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*(`\[])|\n\s*\n|\n\s*[-*]\s")
OUTPUT_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def output_text(notebook: dict) -> str:
    """Everything the notebook's code cells show, as text (or their sources when nothing is stored)."""
    parts: list[str] = []
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for cell in code_cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(_text(output["text"]))
            for kind in ("text/plain", "text/html", "text/markdown"):
                if kind in output.get("data", {}):
                    parts.append(_text(output["data"][kind]))
    if not parts:  # stored without outputs: what its code prints or computes is in the code
        parts = [_text(cell["source"]) for cell in code_cells]
    return "\n".join(parts)


def output_numbers(text: str) -> set[float]:
    numbers = set()
    for match in OUTPUT_NUMBER.findall(text):
        try:
            numbers.add(float(match.replace(",", "")))
        except ValueError:
            continue
    return numbers


def _decimals(number: str) -> int:
    digits = number.rstrip("%x×")
    return len(digits.split(".")[1]) if "." in digits else 0


def _value(number: str) -> float:
    return float(number.rstrip("%x×").replace(",", ""))


def is_small_count(number: str) -> bool:
    return number.isdigit() and int(number) <= 10


def is_year(number: str) -> bool:
    return number.isdigit() and len(number) == 4 and 1900 <= int(number) <= 2099


def matches_an_output(number: str, outputs: set[float]) -> bool:
    """Whether some output number, rounded as the prose rounds it (or as a share in percent), is ``number``."""
    value, decimals = _value(number), _decimals(number)
    tolerance = 0.5 * 10 ** -decimals  # 0.6 is 0.55 up to (not including) 0.65
    candidates = [(value, tolerance)]
    if number.endswith("%"):  # 48% may be printed as 0.48 (a share) as well as 48.3%
        candidates.append((value / 100, tolerance / 100))
    return any(abs(output - target) < tol - 1e-12 for output in outputs for target, tol in candidates)


def prose_numbers(markdown: str) -> list[tuple[str, str]]:
    """``(number, sentence)`` for every number of a markdown cell that needs a source (see the module docstring)."""
    found = []
    for sentence in SENTENCE_END.split(LIST_NUMBER.sub(" ", FENCED.sub(" ", markdown))):
        if not sentence.strip() or CITATION.search(sentence):
            continue
        for number in NUMBER.findall(NAMED.sub(" ", CODE.sub(" ", sentence))):
            if not (is_small_count(number) or is_year(number)):
                found.append((number, " ".join(sentence.split())))
    return found


def unsourced_numbers(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    outputs = output_numbers(output_text(notebook))
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for number, sentence in prose_numbers(_text(cell["source"])):
            if not matches_an_output(number, outputs):
                problems.append(f"{path.relative_to(REPO_ROOT)} cell {index}: {number!r} is in no output and not cited: {sentence[:160]}")
    return problems


# ---------------------------------------------------------------- the rule itself, on small cases


@pytest.mark.parametrize(
    "markdown, expected",
    [
        ("The model scores 0.484 on dev.", ["0.484"]),
        ("Run `train(max_length=128)` now.", []),  # code span
        ("BRCA1, bf16, IOB2, H200 and v1.2 are names.", []),
        ("Notebook 04 and notebooks 05 to 08 reuse it; exercise 2 writes it.", []),
        ("1. first\n2. second", []),
        ("Doğan et al. 2014 built it.", []),
        ("It uses 3 epochs.", []),  # a small count
        ("It uses 30 epochs.", ["30"]),
        ("3.58x the speed and 41% less padding.", ["3.58x", "41%"]),
        ("BioBERT reports 89.71 [Lee et al.](https://doi.org/10.1093/bioinformatics/btz682). Ours 0.7.", ["0.7"]),
        ("BioBERT reports 89.71 (source: Lee et al. 2020, Table 7).", []),
        ("It has 5,424 training sentences.", ["5,424"]),
    ],
)
def test_which_numbers_need_a_source(markdown, expected):
    assert [number for number, _ in prose_numbers(markdown)] == expected


def test_an_output_matches_at_the_precision_of_the_prose():
    outputs = output_numbers("dev F1 0.4836 | 5,424 sentences | padding: 3.1% | 48.55")
    assert matches_an_output("0.484", outputs) and matches_an_output("0.48", outputs)
    assert matches_an_output("5,424", outputs) and matches_an_output("48%", outputs)
    assert matches_an_output("3.1%", outputs) and matches_an_output("48.55", outputs)
    assert not matches_an_output("0.49", outputs) and not matches_an_output("5,425", outputs)
    assert not matches_an_output("0.6", output_numbers("0.65 and 0.46"))  # "near 0.6" beside 0.65 and 0.46


# ---------------------------------------------------------------- every notebook


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in CHECKED]
)
def test_every_number_in_prose_is_in_an_output_or_cited(path):
    problems = unsourced_numbers(path)
    assert not problems, "numbers typed into prose (print them from code, or cite them):\n" + "\n".join(problems)
