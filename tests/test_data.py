"""The data module: strict readers (a table of broken files), datasets, the hub loader offline, statistics."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from biobert_ner import data
from biobert_ner.data import (
    CorpusFormatError,
    CorpusNotFoundError,
    DatasetUnavailableError,
    Sentence,
    read_conll,
    read_corpus_folder,
    read_tsv,
    to_dataset_dict,
    write_tsv,
)
from biobert_ner.plotting import plot_corpus_statistics
from biobert_ner.schemes import Span, tags_from_spans
from biobert_ner.corpus_statistics import corpus_statistics, statistics_by_split, statistics_table

DISEASE_LABELS = ["O", "B-Disease", "I-Disease"]


def case(name: str, content: bytes, line: int | None, problem: str, reader: Callable = read_tsv, **options: object):
    """One broken file: its bytes, the line the error must name (None: the whole file), part of the problem."""
    return pytest.param(reader, content, options, line, problem, id=name)


MALFORMED = [
    case("tsv-spaces", b"a\tO\nb O\n", 2, "expected 2 columns (token<TAB>tag), found 1; the columns look space-separated"),
    case("tsv-3-columns", b"a\tO\n\nb\tNN\tO\n", 3, "found 3; for CoNLL files with more columns use read_conll"),
    case("tsv-empty-tag", b"a\t \n", 1, "expected 2 columns (token<TAB>tag), found 1; the tag is missing"),
    case("empty-token", b"a\tO\n\tB-Disease\n", 2, "empty token"),
    case("blank-token", b"a\tO\n  \tO\n", 2, "empty token"),
    case("unknown-prefix", b"a\tX-Disease\n", 1, "unknown tag prefix 'X' in 'X-Disease'"),
    case("no-dash", b"a\tO\nb\tBDisease\n", 2, "malformed tag 'BDisease'"),
    case("no-type", b"a\tB-\n", 1, "malformed tag 'B-'"),
    case("lowercase-o", b"a\to\n", 1, "malformed tag 'o'"),
    case("iobes-tag-in-iob2", b"a\tS-Disease\n", 1, "prefix 'S' in 'S-Disease' is not used in IOB2"),
    case("label-set", b"a\tO\nb\tB-Gene\n", 2, "'B-Gene' is not one of the allowed labels", labels=DISEASE_LABELS),
    case("bad-utf8", b"a\tO\n\xff\tO\n", 2, "not valid UTF-8: byte 0xff at byte offset 4"),
    case("latin-1", b"caf\xe9\tO\n", 1, "not valid UTF-8: byte 0xe9 at byte offset 3"),
    case("bad-utf8-after-bom-crlf", b"\xef\xbb\xbfa\tO\r\n\r\nb\tB-Dis\xc3ase\r\n", 3, "byte 0xc3 at byte offset 17"),
    case("utf-16", "a\tO\n".encode("utf-16"), 1, "UTF-16"),
    case("i-after-o", b"a\tO\nb\tI-Disease\n", 2, "invalid IOB2 sequence: 'I-Disease' must follow B/I-Disease, not 'O'"),
    case("i-at-start", b"a\tO\n\nb\tI-Disease\nc\tI-Disease\n", 3, "not 'the sentence start'; pass repair=True"),
    case("i-after-other-type", b"a\tB-Chemical\nb\tI-Disease\n", 2, "not 'B-Chemical'"),
    case("iobes", b"a\tB-D\nb\tO\n", 1, "invalid IOBES sequence: 'B-D' must be followed by E/I-D", scheme="IOBES"),
    case("first-problem-first", b"a\tB_Disease\nb\tO\tO\n", 1, "malformed tag 'B_Disease'"),
    case("empty-file", b"", None, "no sentences"),
    case("only-docstart", b"-DOCSTART-\tO\n\n\r\n  \n", None, "no sentences"),
    case("conll-ragged", b"EU NNP B-ORG\nrejects\tVBZ\tO\nGerman O\n", 3, "2 columns, but line 1 has 3", read_conll),
    case("conll-1-column", b"EU\n", 1, "expected at least 2 columns", read_conll),
    case("conll-tag-column", b"EU NNP B-ORG\n", 1, "no column 5 for the tag", read_conll, tag_column=5),
    case("conll-i-after-o", b"a NN O\nb NN I-Gene\n", 2, "invalid IOB2 sequence", read_conll),
]


@pytest.mark.parametrize(("reader", "content", "options", "line", "problem"), MALFORMED)
def test_malformed_files_name_the_line_and_the_problem(
    tmp_path: Path, reader: Callable, content: bytes, options: dict, line: int | None, problem: str
) -> None:
    path = tmp_path / "corpus.tsv"
    path.write_bytes(content)
    with pytest.raises(CorpusFormatError) as caught:
        reader(path, **options)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert problem in error.problem
    assert str(error) == (f"{path}:{line}: {error.problem}" if line is not None else f"{path}: {error.problem}")


def test_missing_file_is_a_corpus_error_and_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusNotFoundError, match="no such file") as caught:
        read_tsv(tmp_path / "train.tsv")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, CorpusFormatError)
    assert caught.value.path == str(tmp_path / "train.tsv")


def test_repair_turns_stray_i_into_b(tmp_path: Path) -> None:
    path = tmp_path / "corpus.tsv"
    path.write_text("a\tO\nb\tI-Disease\nc\tI-Disease\n\nd\tB-Chemical\ne\tI-Disease\n")
    assert [s.tags for s in read_tsv(path, repair=True)] == [
        ["O", "B-Disease", "I-Disease"],
        ["B-Chemical", "B-Disease"],
    ]


def test_repair_is_iob2_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="IOB2 sequences only"):
        read_tsv(tmp_path / "x.tsv", scheme="IOBES", repair=True)


def test_scheme_none_checks_tags_but_not_sequences(tmp_path: Path) -> None:
    path = tmp_path / "corpus.tsv"
    path.write_text("a\tO\nb\tI-Disease\nc\tE-Disease\n")
    assert read_tsv(path, scheme=None)[0].tags == ["O", "I-Disease", "E-Disease"]


# ---------------------------------------------------------------------------------------------
# Files that are fine, however they were saved
# ---------------------------------------------------------------------------------------------

EXPECTED = [
    Sentence(["Naloxone", "reverses", "hypertension", "."], ["B-Chemical", "O", "B-Disease", "O"]),
    Sentence(["BRCA1", "mutation", "carriers"], ["B-Gene", "O", "O"]),
]
PLAIN = "Naloxone\tB-Chemical\nreverses\tO\nhypertension\tB-Disease\n.\tO\n\nBRCA1\tB-Gene\nmutation\tO\ncarriers\tO\n"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(PLAIN.encode(), id="plain"),
        pytest.param(PLAIN.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(PLAIN.replace("\n", "\r").encode(), id="old-mac-cr"),
        pytest.param(b"\xef\xbb\xbf" + PLAIN.encode(), id="bom"),
        pytest.param(PLAIN.replace("\n", " \t \n").encode(), id="trailing-white-space"),
        pytest.param(PLAIN.rstrip("\n").encode(), id="no-final-newline"),
        pytest.param(("\n\n" + PLAIN.replace("\n\n", "\n\n\n  \n\n") + "\n\n\n").encode(), id="many-blank-lines"),
        pytest.param(("-DOCSTART-\tO\n\n" + PLAIN.replace("\n\n", "\n-DOCSTART-\tO\n")).encode(), id="docstart"),
    ],
)
def test_tsv_variants_read_the_same(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(content)
    assert read_tsv(path) == EXPECTED


def test_sources_name_the_first_line_of_each_sentence(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("\n" + PLAIN)
    assert [s.source for s in read_tsv(path)] == [f"{path}:2", f"{path}:7"]


def test_conll_four_columns_tabs_or_spaces(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        "Naloxone NNP B-NP B-Chemical\n"
        "reverses\tVBZ\tB-VP\tO\n"
        "hypertension  NN   B-NP  B-Disease\n"
        ". . O O\n\n"
        "BRCA1 NNP B-NP B-Gene\nmutation NN I-NP O\ncarriers NNS I-NP O"
    )
    assert read_conll(path) == EXPECTED
    assert read_conll(path, tag_column=2, scheme=None)[0].tags == ["B-NP", "B-VP", "B-NP", "O"]


def test_iobes_files(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("a\tS-Gene\nb\tB-Disease\nc\tE-Disease\n")
    assert read_tsv(path, scheme="IOBES")[0].tags == ["S-Gene", "B-Disease", "E-Disease"]


CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cc", "Zs", "Zl", "Zp"))
TOKENS = st.text(CHARACTERS, min_size=1, max_size=6).filter(
    # A leading U+FEFF at the very start of a file is read as a byte-order mark, rightly.
    lambda token: token != data.DOCUMENT_START and not token.startswith("\ufeff") and not any(c.isspace() for c in token)
)


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    tokens = draw(st.lists(TOKENS, min_size=1, max_size=6))
    cuts = sorted(draw(st.sets(st.integers(0, len(tokens)))))
    entity_type = st.sampled_from(["Chemical", "Disease"])
    spans = [Span(start, end, draw(entity_type)) for start, end in zip(cuts, cuts[1:]) if draw(st.booleans())]
    return Sentence(tokens, tags_from_spans(spans, len(tokens)))


@settings(max_examples=40, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=5))
def test_write_then_read_round_trip(corpus: list[Sentence]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_tsv(Path(folder) / "train.tsv", corpus)
        assert read_tsv(path) == corpus


# ---------------------------------------------------------------------------------------------
# Corpus folders
# ---------------------------------------------------------------------------------------------


def _folder(tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        (tmp_path / name).write_text(PLAIN)
    return tmp_path


@pytest.mark.parametrize(
    ("names", "splits"),
    [
        (["train.tsv", "devel.tsv", "test.tsv"], ["train", "validation", "test"]),
        (["train.tsv", "dev.tsv"], ["train", "validation"]),
        (["train.tsv", "valid.tsv", "test.tsv"], ["train", "validation", "test"]),
        (["train.tsv", "validation.tsv", "README.md"], ["train", "validation"]),
        (["train.tsv"], ["train"]),
    ],
)
def test_read_corpus_folder(tmp_path: Path, names: list[str], splits: list[str]) -> None:
    corpus = read_corpus_folder(_folder(tmp_path, names))
    assert list(corpus) == splits
    assert all(sentences == EXPECTED for sentences in corpus.values())


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["devel.tsv", "test.tsv"], "no train file: expected train.tsv"),
        ([], "the folder has nothing"),
        (["train.tsv", "dev.tsv", "devel.tsv"], "devel.tsv and dev.tsv are both validation files"),
    ],
)
def test_read_corpus_folder_errors(tmp_path: Path, names: list[str], problem: str) -> None:
    with pytest.raises(CorpusFormatError, match=problem) as caught:
        read_corpus_folder(_folder(tmp_path, names))
    assert caught.value.path == str(tmp_path) and caught.value.line is None


def test_read_corpus_folder_passes_options_and_names_the_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["train.tsv"])
    with pytest.raises(CorpusFormatError, match="'B-Chemical' is not one of the allowed labels") as caught:
        read_corpus_folder(folder, labels=["O", "B-Disease", "B-Gene"])
    assert (caught.value.path, caught.value.line) == (str(folder / "train.tsv"), 1)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_corpus_folder(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets
# ---------------------------------------------------------------------------------------------

LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]


def test_dataset_dict_has_the_shape_of_hub_ner_data_sets() -> None:
    dataset = to_dataset_dict({"train": EXPECTED, "test": EXPECTED[:1]})
    assert list(dataset) == ["train", "test"]
    features = dataset["train"].features
    assert features["id"] == datasets.Value("string")
    assert features["tokens"] == datasets.Sequence(datasets.Value("string"))
    assert features["ner_tags"] == datasets.Sequence(datasets.ClassLabel(names=LABELS))
    assert dataset["train"][0] == {"id": "0", "tokens": EXPECTED[0].tokens, "ner_tags": [1, 0, 3, 0]}
    assert data.label_names(dataset) == data.label_names(dataset["test"]) == LABELS
    assert data.sentences_from_dataset(dataset["train"]) == EXPECTED


def test_label_order_is_iob2_labels_even_without_i_tags() -> None:
    dataset = to_dataset_dict({"train": [Sentence(["a", "b"], ["B-Gene", "B-Disease"])]})
    assert data.label_names(dataset) == ["O", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]


def test_explicit_label_names() -> None:
    dataset = to_dataset_dict({"train": EXPECTED}, label_names=list(reversed(LABELS)))
    assert dataset["train"][1]["ner_tags"] == [1, 6, 6]
    with pytest.raises(ValueError, match="'B-Gene' is not in label_names"):
        to_dataset_dict({"train": EXPECTED}, label_names=["O", "B-Chemical", "B-Disease"])


def test_load_corpus_folder(tmp_path: Path) -> None:
    dataset = data.load_corpus_folder(_folder(tmp_path, ["train.tsv", "devel.tsv"]))
    assert list(dataset) == ["train", "validation"] and dataset["validation"].num_rows == 2


def _hub_like_folder(folder: Path) -> Path:
    """A local folder with the files a hub NER data set has: one parquet file per split, `dev` naming."""
    dataset = to_dataset_dict({"train": EXPECTED, "dev": EXPECTED[:1]})
    folder.mkdir()
    for split, part in dataset.items():
        part.to_parquet(folder / f"{split}.parquet")
    return folder


def test_load_hub_dataset_reads_a_local_data_set(tmp_path: Path) -> None:
    dataset = data.load_hub_dataset(str(_hub_like_folder(tmp_path / "ncbi_like")), cache_dir=tmp_path / "cache")
    assert list(dataset) == ["train", "validation"]
    assert data.label_names(dataset) == LABELS
    assert data.sentences_from_dataset(dataset["train"]) == EXPECTED


def test_load_hub_dataset_standardizes_names_and_string_tags(tmp_path: Path) -> None:
    folder = tmp_path / "variant"
    folder.mkdir()
    rows = datasets.Dataset.from_dict({"words": [s.tokens for s in EXPECTED], "tags": [s.tags for s in EXPECTED]})
    rows.to_json(folder / "train.jsonl")
    rows.to_json(folder / "valid.jsonl")
    dataset = data.load_hub_dataset(str(folder), cache_dir=tmp_path / "cache")
    assert list(dataset) == ["train", "validation"]
    assert {"tokens", "ner_tags"} <= set(dataset["train"].column_names)
    assert data.label_names(dataset) == LABELS
    assert [s.tags for s in data.sentences_from_dataset(dataset["validation"])] == [s.tags for s in EXPECTED]


@pytest.mark.parametrize("split", ["dev", "devel", "valid", "val"])
def test_standardize_renames_split_and_column_variants(split: str) -> None:
    variant = to_dataset_dict({"train": EXPECTED, split: EXPECTED}).rename_column("tokens", "words")
    dataset = data.standardize_dataset_dict(variant)
    assert list(dataset) == ["train", "validation"]
    assert dataset["validation"].column_names == ["id", "tokens", "ner_tags"]


def test_standardize_refuses_two_validation_splits() -> None:
    with pytest.raises(ValueError, match="two splits would both be 'validation'"):
        data.standardize_dataset_dict(to_dataset_dict({"dev": EXPECTED, "validation": EXPECTED}))


def test_load_hub_dataset_rejects_numbers_without_label_names(tmp_path: Path) -> None:
    folder = tmp_path / "numbers"
    folder.mkdir()
    datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [[0]]}).to_json(folder / "train.jsonl")
    with pytest.raises(ValueError, match="not a sequence of ClassLabel"):
        data.load_hub_dataset(str(folder), cache_dir=tmp_path / "cache")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub: the libraries read HF_HUB_OFFLINE at import, so patch their copies too (fails fast, no retries)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_unreachable_hub_says_what_to_do_instead(offline: None, tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError) as caught:
        data.load_hub_dataset("nobody-here/no-such-ner-corpus", cache_dir=tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert "'nobody-here/no-such-ner-corpus'" in message and "Hugging Face hub" in message
    assert "local folder" in message and "load_data('bundled')" in message


def test_script_based_data_sets_point_to_the_parquet_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_dataset(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Dataset scripts are no longer supported, but found ncbi_disease.py")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DatasetUnavailableError, match="revision='refs/convert/parquet'"):
        data.load_hub_dataset("ncbi/ncbi_disease")


def test_load_data_dispatches_and_says_what_it_loaded(
    offline: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tsv").mkdir()
    folder = _folder(tmp_path / "tsv", ["train.tsv", "test.tsv"])
    assert list(data.load_data(str(folder))) == ["train", "test"]
    assert capsys.readouterr().out == (
        f"data: the TSV corpus folder {folder}: train 2, test 2 sentences; labels {', '.join(LABELS)}\n"
    )
    hub_like = _hub_like_folder(tmp_path / "parquet")
    assert list(data.load_data(hub_like)) == ["train", "validation"]
    assert f"data: the data files in {hub_like}" in capsys.readouterr().out
    with pytest.raises(CorpusNotFoundError, match="no such folder: pass 'bundled'"):
        data.load_data("./no/such/folder")
    with pytest.raises(CorpusFormatError, match="a file, not a folder"):
        data.load_data(folder / "train.tsv")
    with pytest.raises(DatasetUnavailableError, match="load_data\\('bundled'\\)"):
        data.load_data("nobody-here/no-such-ner-corpus")
    assert capsys.readouterr().out == ""


def test_unbuilt_bundled_corpus_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(data, "bundled_corpus_folder", lambda: tmp_path)
    with pytest.raises(CorpusNotFoundError, match="scripts/build_corpus.py"):
        data.load_bundled_corpus()


def test_bundled_corpus() -> None:
    if not (data.bundled_corpus_folder() / "train.tsv").is_file():
        pytest.skip("the bundled corpus TSV files are not built yet")
    dataset = data.load_bundled_corpus()
    assert list(dataset) == ["train", "validation", "test"]
    assert data.label_names(dataset) == LABELS


# ---------------------------------------------------------------------------------------------
# Statistics and their figure
# ---------------------------------------------------------------------------------------------

STATS_CORPUS = [
    Sentence(
        ["Naloxone", "reverses", "clonidine", "-", "induced", "hypertension"],
        ["B-Chemical", "O", "B-Chemical", "O", "O", "B-Disease"],
    ),
    Sentence(["breast", "cancer", "gene", "1"], ["B-Disease", "I-Disease", "O", "O"]),
    Sentence(["No", "entities", "."], ["O", "O", "O"]),
]


def test_corpus_statistics() -> None:
    stats = corpus_statistics(STATS_CORPUS)
    assert (stats.sentences, stats.tokens, stats.entities) == (3, 13, 4)
    assert stats.entities_per_type == {"Chemical": 2, "Disease": 2}  # a two-word entity counts once
    assert stats.sentence_lengths == {3: 1, 4: 1, 6: 1}
    assert list(stats.label_counts.items()) == [("O", 8), ("B-Chemical", 2), ("B-Disease", 2), ("I-Disease", 1)]
    assert stats.sentences_without_entities == 1
    assert (stats.max_sentence_length, round(stats.mean_sentence_length, 2)) == (6, 4.33)


def test_statistics_of_a_dataset_split_equal_those_of_its_sentences() -> None:
    dataset = to_dataset_dict({"train": STATS_CORPUS})
    assert corpus_statistics(dataset["train"]) == corpus_statistics(STATS_CORPUS)


def test_statistics_table_has_one_row_per_split() -> None:
    rows = statistics_table(to_dataset_dict({"train": STATS_CORPUS, "test": STATS_CORPUS[1:2]}))
    assert rows == [
        {"split": "train", "sentences": 3, "tokens": 13, "entities": 4, "entities:Chemical": 2, "entities:Disease": 2,
         "mean_length": 4.3, "max_length": 6, "without_entities": 1},
        {"split": "test", "sentences": 1, "tokens": 4, "entities": 1, "entities:Chemical": 0, "entities:Disease": 1,
         "mean_length": 4.0, "max_length": 4, "without_entities": 0},
    ]


def test_label_counts_follow_the_label_list_order() -> None:
    stats = corpus_statistics([Sentence(list("abcde"), ["B-Gene", "I-Gene", "O", "B-Chemical", "I-Chemical"])])
    assert list(stats.label_counts) == ["O", "B-Chemical", "I-Chemical", "B-Gene", "I-Gene"]


def test_empty_split_statistics() -> None:
    stats = corpus_statistics([])
    assert (stats.sentences, stats.mean_sentence_length, stats.max_sentence_length, stats.entities) == (0, 0.0, 0, 0)


def test_plot_corpus_statistics_returns_a_figure() -> None:
    figure = plot_corpus_statistics(statistics_by_split({"train": STATS_CORPUS, "test": STATS_CORPUS[:1]}))
    assert isinstance(figure, Figure)
    assert [axes.get_title() for axes in figure.axes] == ["Sentence length", "Entities per type", "Label distribution"]
    figure.savefig(tempfile.SpooledTemporaryFile(), format="png")  # draws without a display
