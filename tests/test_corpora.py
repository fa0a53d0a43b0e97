"""Real corpora: the vendored NCBI-disease corpus is the pinned bytes, and loads offline by name."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from biobert_ner import corpora
from biobert_ner.data import CorpusFormatError, load_data, read_tsv

# Published split sizes of NCBI-disease in the BioBERT / MTL-Bioinformatics-2016 IOB version.
NCBI_SENTENCES = {"train": 5424, "validation": 923, "test": 940}


def test_pin_list_names_the_six_corpora_of_the_course():
    pins = corpora.read_pins()
    assert list(pins) == ["ncbi-disease", "bc5cdr", "bc5cdr-chem", "bc5cdr-disease", "bc2gm", "linnaeus"]
    assert all(len(pin.files) == 3 and {f.split for f in pin.files} == set(corpora.SPLITS) for pin in pins.values())
    ncbi = pins["ncbi-disease"]
    assert ncbi.vendored and ncbi.entity_types == ("Disease",)
    assert ncbi.commit == "df0df02fae6dbb87d88ffcf323b9096528f06f84"
    assert ncbi.url("train").endswith(f"/{ncbi.commit}/data/NCBI-disease-IOB/train.tsv")


@pytest.mark.parametrize("split", corpora.SPLITS)
def test_vendored_ncbi_disease_is_the_pinned_bytes(split):
    pinned = {f.split: f for f in corpora.read_pins()["ncbi-disease"].files}[split]
    data = gzip.decompress((corpora.vendored_dir("ncbi-disease") / f"{split}.tsv.gz").read_bytes())
    assert len(data) == pinned.size
    assert hashlib.sha256(data).hexdigest() == pinned.sha256


def test_vendored_ncbi_disease_keeps_its_attribution_and_licence():
    folder = corpora.vendored_dir("ncbi-disease")
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in source or "Creative Commons Attribution 4.0" in source
    assert "Doğan" in source and "df0df02fae6dbb87d88ffcf323b9096528f06f84" in source
    assert "Attribution 4.0 International" in (folder / "LICENSE-CC-BY-4.0.md").read_text(encoding="utf-8")


def test_load_data_by_name_reads_ncbi_disease_offline(capsys):
    dataset = load_data("ncbi-disease")
    assert {split: len(rows) for split, rows in dataset.items()} == NCBI_SENTENCES
    assert dataset["train"].features["ner_tags"].feature.names == ["O", "B-Disease", "I-Disease"]
    assert dataset["train"][0]["tokens"][:4] == ["Identification", "of", "APC2", ","]
    # the printed origin is package-relative: no absolute path of this machine in a notebook's output
    assert "the ncbi-disease corpus (biobert_ner/corpus_data/ncbi-disease, shipped with the package)" in capsys.readouterr().out


def test_a_damaged_gzip_file_is_named(tmp_path):
    broken = tmp_path / "train.tsv.gz"
    broken.write_bytes(gzip.compress(b"a\tO\n")[:-6])
    with pytest.raises(CorpusFormatError, match="train.tsv.gz: not a readable gzip file"):
        read_tsv(broken)


def test_gzip_line_numbers_are_those_of_the_text(tmp_path):
    broken = tmp_path / "test.tsv.gz"
    broken.write_bytes(gzip.compress(b"a\tO\n\nb\tO\nc\tX-Disease\n"))
    with pytest.raises(CorpusFormatError, match=r"test.tsv.gz:4: "):
        read_tsv(broken)


def test_a_corpus_not_fetched_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv(corpora.CACHE_ENV, str(tmp_path))
    with pytest.raises(corpora.CorpusUnavailableError, match="biobert-ner data fetch bc2gm"):
        load_data("bc2gm")
