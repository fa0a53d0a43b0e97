#!/usr/bin/env python
"""Regenerate the bundled corpus: markup sources -> TSV files + the datasheet's statistics table.

    python scripts/build_corpus.py           # rewrite biobert_ner/corpus_data/tsv/*.tsv and DATASHEET.md stats
    python scripts/build_corpus.py --check   # change nothing; exit 1 and name each file that drifted

The logic lives in ``biobert_ner.course_corpus``; this script only parses arguments and reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from biobert_ner.course_corpus import (
    DATASHEET_NAME,
    CorpusMarkupError,
    build_tsv_files,
    bundled_corpus_dir,
    bundled_source_dir,
    datasheet_text,
    drifted_tsv_files,
)
from biobert_ner.files import atomic_write_text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-dir", type=Path, default=bundled_source_dir(), help="folder of train/dev/test.txt")
    parser.add_argument("--output-dir", type=Path, default=bundled_corpus_dir(), help="folder for the TSV files")
    parser.add_argument(
        "--datasheet", type=Path, default=None, help="datasheet to update (default: in --source-dir)"
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if any file is out of date")
    return parser.parse_args(argv)


def check(source_dir: Path, output_dir: Path, datasheet: Path) -> int:
    """Report every generated file that differs from what the sources give; 0 when all agree."""
    drifted = drifted_tsv_files(source_dir, output_dir)
    if datasheet.read_text(encoding="utf-8") != datasheet_text(datasheet, source_dir):
        drifted.append(datasheet)
    for path in drifted:
        print(f"drifted: {path} (regenerate with: python scripts/build_corpus.py)", file=sys.stderr)
    if not drifted:
        print(f"corpus in sync: {output_dir} and {datasheet.name} match {source_dir}")
    return 1 if drifted else 0


def build(source_dir: Path, output_dir: Path, datasheet: Path) -> int:
    """Write the TSV files and refresh the datasheet's statistics block."""
    for split, path in build_tsv_files(source_dir, output_dir).items():
        print(f"{split:>10}: {path}")
    atomic_write_text(datasheet, datasheet_text(datasheet, source_dir))
    print(f" datasheet: {datasheet}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    datasheet = args.datasheet or args.source_dir / DATASHEET_NAME
    try:
        return (check if args.check else build)(args.source_dir, args.output_dir, datasheet)
    except CorpusMarkupError as error:
        print(f"markup error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
