"""The bundled corpus: its markup parser, its generated TSV files, its datasheet and its quality checks."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from biobert_ner import course_corpus, data
from biobert_ner.course_corpus import (
    BUNDLED_SPLIT_FILES,
    ENTITY_TYPES,
    CorpusMarkupError,
    build_tsv_files,
    bundled_corpus_dir,
    bundled_source_dir,
    corpus_statistics,
    format_markup_line,
    format_statistics_table,
    normalized_text,
    parse_markup_line,
    read_markup,
    read_markup_corpus,
)
from biobert_ner.schemes import OUTSIDE, iob2_labels, is_valid, spans_from_tags

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tsv_splits() -> dict[str, list[data.Sentence]]:
    """The shipped TSV files, read by the library's own strict reader."""
    return data.read_corpus_folder(bundled_corpus_dir(), labels=iob2_labels(ENTITY_TYPES))


@pytest.fixture(scope="module")
def source_splits() -> dict[str, list[data.Sentence]]:
    return read_markup_corpus()


def load_build_script():
    """scripts/build_corpus.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "scripts" / "build_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# --- Parsing one line of markup ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "tokens", "tags"),
    [
        (
            "[cisplatin]{Chemical} induced [nephrotoxicity]{Disease} in rats .",
            ["cisplatin", "induced", "nephrotoxicity", "in", "rats", "."],
            ["B-Chemical", "O", "B-Disease", "O", "O", "O"],
        ),
        (  # the hyphen is a word of its own, so the entity ends on a word boundary
            "[BRCA1]{Gene}-mutated [breast cancer]{Disease}",
            ["BRCA1", "-", "mutated", "breast", "cancer"],
            ["B-Gene", "O", "O", "B-Disease", "I-Disease"],
        ),
        (  # parentheses written naturally are split off by the pre-tokenizer
            "[non-small cell lung cancer]{Disease} ([NSCLC]{Disease})",
            ["non", "-", "small", "cell", "lung", "cancer", "(", "NSCLC", ")"],
            ["B-Disease", "I-Disease", "I-Disease", "I-Disease", "I-Disease", "I-Disease", "O", "B-Disease", "O"],
        ),
        (  # Greek letters are letters: TNF-α is three words
            "[TNF-α]{Gene} rose",
            ["TNF", "-", "α", "rose"],
            ["B-Gene", "I-Gene", "I-Gene", "O"],
        ),
        (  # two entities of the same type side by side stay two entities (B B)
            "[BRCA1]{Gene} [BRCA2]{Gene}",
            ["BRCA1", "BRCA2"],
            ["B-Gene", "B-Gene"],
        ),
        (  # escaped brackets are text, here inside an entity
            r"[\[3H\]thymidine]{Chemical} uptake",
            ["[", "3H", "]", "thymidine", "uptake"],
            ["B-Chemical", "I-Chemical", "I-Chemical", "I-Chemical", "O"],
        ),
        ("No entity here, 2.5 %.", ["No", "entity", "here", ",", "2", ".", "5", "%", "."], ["O"] * 9),
    ],
)
def test_parse_markup_line(line: str, tokens: list[str], tags: list[str]) -> None:
    assert parse_markup_line(line) == (tokens, tags)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[cisplatin induced nephrotoxicity", "unbalanced brackets: '[' is never closed"),
        ("cisplatin] induced", "unbalanced brackets: ']' without an opening '['"),
        ("[cisplatin] induced", "entity type missing"),
        ("[cisplatin]{Chemical induced", "entity type missing"),
        ("[cisplatin]{Drug} induced", "unknown entity type 'Drug'"),
        ("[BRCA1]{gene} carriers", "unknown entity type 'gene'"),
        ("[]{Gene} is empty", "empty entity"),
        ("[   ]{Gene} is blank", "empty entity"),
        ("[ cisplatin]{Chemical} x", "starts or ends with white space"),
        ("[BRCA1 and [p53]{Gene}]{Gene}", "nested entity"),
        ("[p53]{Gene}s are", "boundary inside a word"),
        ("anti[TNF]{Gene} agents", "boundary inside a word"),
        ("[IL]{Gene}6 levels", "boundary inside a word"),
        ("a } b", "stray '}'"),
        ("a { b", "stray '{'"),
        ("ends with a backslash \\", "backslash at the end"),
    ],
)
def test_malformed_markup_is_an_error(line: str, message: str) -> None:
    with pytest.raises(CorpusMarkupError, match=re.escape(message)):
        parse_markup_line(line)


def test_error_names_the_column() -> None:
    with pytest.raises(CorpusMarkupError, match="column 5: unknown entity type"):
        parse_markup_line("[a]{Drug}")


def test_entity_types_can_be_chosen() -> None:
    assert parse_markup_line("[HeLa]{CellLine} cells", ("CellLine",))[1] == ["B-CellLine", "O"]
    with pytest.raises(CorpusMarkupError, match="unknown entity type 'Gene'"):
        parse_markup_line("[p53]{Gene}", ("CellLine",))


def test_format_markup_line_round_trips_every_sentence(source_splits) -> None:
    for sentences in source_splits.values():
        for sentence in sentences:
            line = format_markup_line(sentence.tokens, sentence.tags)
            assert parse_markup_line(line) == (sentence.tokens, sentence.tags), sentence.source


# --- Reading markup files ---------------------------------------------------------------------


def write_sources(folder: Path, train: str, dev: str, test: str) -> Path:
    for name, text in (("train.txt", train), ("dev.txt", dev), ("test.txt", test)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_read_markup_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("# a comment\n\n[p53]{Gene} binds DNA.\n   # indented comment\nNothing here.\n", encoding="utf-8")
    sentences = read_markup(path)
    assert [s.tokens for s in sentences] == [["p53", "binds", "DNA", "."], ["Nothing", "here", "."]]
    assert [s.source for s in sentences] == [f"{path}:3", f"{path}:5"]


def test_error_in_a_file_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("# header\nFine sentence.\n[p53]{Gene}s are broken.\n", encoding="utf-8")
    with pytest.raises(CorpusMarkupError) as caught:
        read_markup(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), 3)
    assert "boundary inside a word" in error.message
    assert str(error).startswith(f"{path}:3: ")


def test_duplicate_sentence_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("[p53]{Gene} is mutated.\nOther.\n[p53]{Gene}   is mutated .\n", encoding="utf-8")
    with pytest.raises(CorpusMarkupError, match="duplicate sentence: same words as line 1") as caught:
        read_markup(path)
    assert caught.value.line == 3


def test_duplicate_sentence_across_splits(tmp_path: Path) -> None:
    write_sources(tmp_path, "A.\n[lung cancer]{Disease} (NSCLC).\n", "B.\n", "C.\nlung cancer ( NSCLC ) .\n")
    with pytest.raises(CorpusMarkupError, match="duplicate sentence across splits") as caught:
        read_markup_corpus(tmp_path)
    assert (Path(caught.value.path).name, caught.value.line) == ("test.txt", 2)


def test_build_tsv_files_round_trip(tmp_path: Path) -> None:
    sources = write_sources(tmp_path, "[p53]{Gene} binds.\nNone.\n", "[aspirin]{Chemical}.\n", "[gout]{Disease}.\n")
    paths = build_tsv_files(sources, tmp_path / "tsv")
    assert {split: path.name for split, path in paths.items()} == BUNDLED_SPLIT_FILES
    assert data.read_corpus_folder(tmp_path / "tsv") == read_markup_corpus(sources)


# --- The shipped corpus -----------------------------------------------------------------------


def test_bundled_folders_agree_with_data_module() -> None:
    assert bundled_corpus_dir() == data.bundled_corpus_folder().resolve()
    assert bundled_corpus_dir().parent == bundled_source_dir()
    assert sorted(p.name for p in bundled_corpus_dir().glob("*.tsv")) == sorted(BUNDLED_SPLIT_FILES.values())


def test_tsv_files_are_valid_iob2(tsv_splits) -> None:
    assert set(tsv_splits) == set(BUNDLED_SPLIT_FILES)
    for sentences in tsv_splits.values():
        for sentence in sentences:
            assert sentence.tokens and len(sentence.tokens) == len(sentence.tags)
            assert is_valid(sentence.tags, "IOB2"), sentence.source


def test_tsv_files_are_what_the_sources_generate(tsv_splits, source_splits) -> None:
    assert course_corpus.drifted_tsv_files() == [], "run: python scripts/build_corpus.py"
    assert tsv_splits == source_splits


def test_datasheet_statistics_are_up_to_date(tsv_splits) -> None:
    datasheet = bundled_source_dir() / course_corpus.DATASHEET_NAME
    text = datasheet.read_text(encoding="utf-8")
    block = text.split(course_corpus.STATS_BEGIN)[1].split(course_corpus.STATS_END)[0]
    assert block.strip() == format_statistics_table(corpus_statistics(tsv_splits)).strip()
    assert text == course_corpus.datasheet_text(datasheet), "run: python scripts/build_corpus.py"


def test_size_and_split_proportions(tsv_splits) -> None:
    sizes = {split: len(sentences) for split, sentences in tsv_splits.items()}
    total = sum(sizes.values())
    assert total >= 400
    assert 0.65 <= sizes["train"] / total <= 0.75
    for split in ("validation", "test"):
        assert 0.12 <= sizes[split] / total <= 0.18, split


def test_splits_are_disjoint_and_without_duplicates(tsv_splits) -> None:
    keys = [normalized_text(s.tokens) for sentences in tsv_splits.values() for s in sentences]
    assert len(keys) == len(set(keys))


def test_every_type_is_well_represented_in_every_split(tsv_splits) -> None:
    for row in corpus_statistics(tsv_splits):
        assert set(row.entities) == set(ENTITY_TYPES), row.split
        for entity_type, count in row.entities.items():
            assert count >= 40, (row.split, entity_type, count)


def test_some_sentences_have_no_entity(tsv_splits) -> None:
    for split, sentences in tsv_splits.items():
        empty = sum(all(tag == OUTSIDE for tag in s.tags) for s in sentences)
        assert empty / len(sentences) >= 0.05, split


def test_sentence_lengths_vary(tsv_splits) -> None:
    lengths = [len(s.tokens) for sentences in tsv_splits.values() for s in sentences]
    assert min(lengths) <= 8 and max(lengths) >= 40
    assert len(set(lengths)) >= 30


def sentence_shape(sentence: data.Sentence) -> str:
    """The sentence with each entity replaced by its type: what a template would keep fixed."""
    words = list(sentence.tokens)
    for span in reversed(spans_from_tags(sentence.tags)):
        words[span.start : span.end] = [f"<{span.type}>"]
    return " ".join(words).lower()


def test_sentences_are_not_templates(tsv_splits) -> None:
    sentences = [s for split in tsv_splits.values() for s in split]
    shapes = {sentence_shape(s) for s in sentences}
    assert len(shapes) / len(sentences) > 0.9


def test_sentence_shape() -> None:
    tokens, tags = parse_markup_line("[p53]{Gene} loss in [lung cancer]{Disease}.")
    assert sentence_shape(data.Sentence(tokens, tags)) == "<gene> loss in <disease> ."


# --- The build script -------------------------------------------------------------------------


def test_build_script_check_names_the_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_build_script()
    sources = write_sources(tmp_path, "[p53]{Gene} binds.\n", "[aspirin]{Chemical}.\n", "[gout]{Disease}.\n")
    datasheet = sources / "DATASHEET.md"
    datasheet.write_text(f"# Sheet\n{course_corpus.STATS_BEGIN}\n{course_corpus.STATS_END}\nmore\n", encoding="utf-8")
    options = ["--source-dir", str(sources), "--output-dir", str(tmp_path / "tsv")]

    assert script.main(options) == 0
    assert "| validation | `devel.tsv` | 1 |" in datasheet.read_text(encoding="utf-8")
    assert script.main([*options, "--check"]) == 0

    (tmp_path / "tsv" / "devel.tsv").write_text("aspirin\tO\n", encoding="utf-8")
    capsys.readouterr()
    assert script.main([*options, "--check"]) == 1
    assert "devel.tsv" in capsys.readouterr().err

    (sources / "test.txt").write_text("[gout]{Disease} and [fever]{Disease}.\n", encoding="utf-8")
    assert script.main(options) == 0
    datasheet.write_text(datasheet.read_text(encoding="utf-8").replace("| 2 |", "| 3 |"), encoding="utf-8")
    assert script.main([*options, "--check"]) == 1
    assert "DATASHEET.md" in capsys.readouterr().err


def test_build_script_reports_markup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources = write_sources(tmp_path, "[p53]{Gen} binds.\n", "B.\n", "C.\n")
    (sources / "DATASHEET.md").write_text(f"{course_corpus.STATS_BEGIN}\n{course_corpus.STATS_END}\n", encoding="utf-8")
    assert load_build_script().main(["--source-dir", str(sources), "--output-dir", str(tmp_path / "tsv")]) == 2
    assert "train.txt:1: column 7: unknown entity type 'Gen'" in capsys.readouterr().err
    assert not (tmp_path / "tsv").exists()
