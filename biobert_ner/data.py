"""Reading and writing NER corpora: two-column TSV, CoNLL, Hugging Face datasets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .files import atomic_write_text


@dataclass
class Sentence:
    """One sentence: its words and one tag per word (IOB2 unless said otherwise)."""

    tokens: list[str]
    tags: list[str]
    # Where the sentence came from, for error messages: "path:line" of its first word.
    source: str | None = field(default=None, compare=False)


def format_tsv(sentences: Iterable[Sentence]) -> str:
    """The two-column TSV text of the BioBERT NER data sets: ``word<TAB>tag``, blank line between sentences."""
    blocks = ["".join(f"{token}\t{tag}\n" for token, tag in zip(s.tokens, s.tags)) for s in sentences]
    return "\n".join(blocks) + ("\n" if blocks else "")


def write_tsv(path: str | os.PathLike[str], sentences: Iterable[Sentence]) -> Path:
    """Write sentences as two-column TSV, atomically."""
    return atomic_write_text(path, format_tsv(sentences))
