"""Golden fixtures: texts chosen to catch porting mistakes, and what the Python pipeline made of them.

``golden.json``, the fifth file of a bundle, holds for each text of :data:`GOLDEN_TEXTS` (non-BMP
characters before entities, several windows, odd white space, control characters, ...) the words
with code-point offsets, the sub-word ids, the windows, the PyTorch logits of every window and the
entities, with offsets in code points *and* in UTF-16 units, plus the pre-tokenizer's character
classes over all of Unicode (:func:`pretokenizer_table`). The Java tests replay them (same ids,
logits within the tolerance, same entities); :func:`biobert_ner.export.check_bundle` replays them
in Python.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .bundle import BUNDLE_FORMAT_VERSION, PRETOKENIZER, BundleError, read_object
from .pretokenize import is_separator, is_word_char

if TYPE_CHECKING:
    from .entities import Entity
    from .windows import DocumentEncoding

@dataclass(frozen=True)
class GoldenText:
    """A fixture text and the porting mistake it is there to catch."""

    name: str
    text: str
    why: str


def _long_document() -> str:
    sentences = [
        "Cisplatin-induced nephrotoxicity was observed in 12 of 40 patients (30%) with NSCLC.",
        "Mutations in BRCA1 and BRCA2 increase the risk of breast and ovarian cancer.",
        "TNF-α and IL-1β levels rose after 5 mg/kg lipopolysaccharide.",
        "Naloxone reversed the hypotension 🙂 caused by clonidine in Sjögren's syndrome.",
    ]
    return " ".join(sentences[i % len(sentences)] for i in range(24))


GOLDEN_TEXTS: tuple[GoldenText, ...] = (
    GoldenText("plain", "Cisplatin induced nephrotoxicity in patients with lung cancer.", "the common case"),
    GoldenText("punctuation", "TNF-alpha (10 mg/kg) and 5-fluorouracil; IL-2R, [3H]thymidine.", "stand-alone punctuation"),
    GoldenText("accents-greek", "Sjögren's syndrome, café-au-lait spots, TNF-α and β2-microglobulin.", "accents and Greek letters"),
    GoldenText(
        "combining-marks", "cafe\u0301 au lait, nai\u0308ve T cells and the 5′-UTR of BRCA1.", "combining marks stay in the word"
    ),
    GoldenText(
        "non-bmp",
        "🤒🤒 fever, 𝛼-synuclein 🧬 aggregates in Parkinson's disease 🧠 and 𝛽-amyloid in Alzheimer disease.",
        "characters outside the BMP before entities: UTF-16 offsets differ from code-point offsets",
    ),
    GoldenText(
        "white-space",
        "aspirin\tand\u00a0ibuprofen\u2009=\u20095\u202fmg\r\nper day\u3000for arthritis\u2028\u0085\x1c pain",
        "tabs, no-break and thin spaces, Python-only white space (U+0085, U+001C)",
    ),
    GoldenText(
        "control-characters",
        "heparin\u200binduced\x00 thrombo\u00adcytopenia\ufeff in\x7f a 中文 patient",
        "format characters separate words (zero-width space, soft hyphen, BOM); control characters (NUL, DEL) "
        "are words the tokenizer drops: no sub-word; CJK characters split",
    ),
    GoldenText(
        "nothing-to-find",
        "The results were reproducible across three independent experiments.",
        "no entity for a trained model (a random test model may still find some)",
    ),
    GoldenText("single-character", "x", "one word, one token"),
    GoldenText("white-space-only", " \t\n\u00a0 ", "no words at all"),
    GoldenText("empty", "", "the empty string"),
    GoldenText("long-document", _long_document(), "a document longer than one window: several windows, stitched"),
)


def tiny_model_texts() -> list[str]:
    """The texts a test bundle's tiny model takes its vocabulary from (``biobert-ner export --tiny``):
    every golden text but ``control-characters``, so that the model meets ``[UNK]`` there."""
    return [golden.text for golden in GOLDEN_TEXTS if golden.name != "control-characters"]


def golden_texts(given: Sequence[str] | Mapping[str, str] | Sequence[GoldenText] | None = None) -> list[GoldenText]:
    """``given`` as :class:`GoldenText` s (plain strings are named ``text-1``, ...); None: :data:`GOLDEN_TEXTS`."""
    if given is None:
        return list(GOLDEN_TEXTS)
    if isinstance(given, Mapping):
        return [GoldenText(name, text, "given") for name, text in given.items()]
    return [t if isinstance(t, GoldenText) else GoldenText(f"text-{i + 1}", t, "given") for i, t in enumerate(given)]


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code-unit index (what Java's ``String`` uses) of code-point ``index`` in ``text``."""
    return len(text[:index].encode("utf-16-le")) // 2


def entity_fixture(text: str, entity: "Entity") -> dict:
    """An entity as golden data: offsets in code points (like Python) and in UTF-16 units (like Java)."""
    return {
        "type": entity.type, "text": entity.text, "start": entity.start, "end": entity.end,
        "utf16_start": utf16_offset(text, entity.start), "utf16_end": utf16_offset(text, entity.end), "score": entity.score,
    }


def float32_list(array: np.ndarray) -> list:
    """Nested lists of floats whose decimal form reads back as exactly the same float32 values.

    Each value is written with the fewest digits that identify its float32 (``Float.parseFloat``
    in Java gets the identical number back), so Java decodes exactly the logits Python decoded.
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 1:
        return [float(np.format_float_positional(value, unique=True)) for value in array]
    return [float32_list(row) for row in array]


def golden_fixture(golden: GoldenText, encoding: "DocumentEncoding", window_logits: Sequence[np.ndarray], entities: Sequence["Entity"]) -> dict:
    """One fixture of ``golden.json``: the encoding, the logits and the entities of one text."""
    return {
        "name": golden.name,
        "why": golden.why,
        **encoding.to_dict(),
        "logits": [float32_list(logits) for logits in window_logits],
        "entities": [entity_fixture(encoding.text, entity) for entity in entities],
    }


def _ranges(flags: Iterable[bool]) -> list[list[int]]:
    """``[[first, last], ...]`` (inclusive) of the positions where ``flags`` is true."""
    ranges: list[list[int]] = []
    for position, flag in enumerate(flags):
        if not flag:
            continue
        if ranges and ranges[-1][1] == position - 1:
            ranges[-1][1] = position
        else:
            ranges.append([position, position])
    return ranges


def pretokenizer_table() -> dict:
    """The pre-tokenizer's character classes over all of Unicode, as Python sees them.

    Java's ``Character`` knows a different Unicode version than Python's ``unicodedata``; the Java
    test compares its classes with these on every code point both versions have assigned.
    """
    characters = [chr(code) for code in range(0x110000)]
    return {
        **PRETOKENIZER,
        "unicode_version": unicodedata.unidata_version,
        "white_space_code_points": [ord(char) for char in characters if char.isspace()],
        "word_character_ranges": _ranges(is_word_char(char) for char in characters),
        "separator_ranges": _ranges(is_separator(char) for char in characters),
        "unassigned_ranges": _ranges(unicodedata.category(char) == "Cn" for char in characters),
    }


def json_lines(data: Any, depth: int = 2, indent: str = "") -> str:
    """JSON for a big file that people still open: objects indented down to ``depth`` levels (a
    list of objects does not count as a level), everything deeper on one line.

    ``golden.json`` holds tens of thousands of numbers: one per line would be unreadable.
    """
    inner = indent + "  "
    if isinstance(data, dict) and data and depth > 0:
        items = [f"{inner}{json.dumps(key)}: {json_lines(value, depth - 1, inner)}" for key, value in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(data, list) and data and depth > 0 and all(isinstance(item, dict) for item in data):
        return "[\n" + ",\n".join(inner + json_lines(item, depth, inner) for item in data) + "\n" + indent + "]"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_golden(folder: str | os.PathLike[str], *, labels: Sequence[str], tolerance: float, fixtures: Sequence[dict]) -> Path:
    """``golden.json`` in ``folder``: the fixtures, their tolerance and the pre-tokenizer table.

    The window length, stride and decoding the fixtures were made with are the bundle's own
    (``bundle.json``), stored there only.
    """
    golden = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "labels": list(labels),
        "tolerance": tolerance,
        "pretokenizer": pretokenizer_table(),
        "fixtures": list(fixtures),
    }
    path = Path(folder) / "golden.json"
    path.write_text(json_lines(golden, depth=2) + "\n", encoding="utf-8")
    return path


def read_golden(bundle_dir: str | os.PathLike[str]) -> dict:
    """The bundle's ``golden.json`` (an error naming the file when it is missing or not a JSON object)."""
    path = Path(bundle_dir) / "golden.json"
    if not path.is_file():
        raise BundleError(path, "missing: this bundle has no golden fixtures (export it again with `biobert-ner export`)")
    return read_object(path)
