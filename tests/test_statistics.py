"""Corpus statistics that need a tokenizer: what truncation at max_length cuts."""

from __future__ import annotations

import pytest

from biobert_ner import data, statistics


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir)


def test_a_mention_cut_half_way_counts_as_cut(tokenizer):
    # [CLS] patients with ata ##xia tel ##ang ##iec ##tas ##ia were studied [SEP]
    sentence = data.Sentence("Patients with ataxia telangiectasia were studied".split(), ["O", "O", "B-Disease", "I-Disease", "O", "O"])
    assert statistics.truncation_cost(tokenizer, [sentence], 6) == statistics.TruncationCost(sentences=1, words=3, mentions=1)
    assert statistics.truncation_cost(tokenizer, [sentence], 4) == statistics.TruncationCost(sentences=1, words=4, mentions=1)
    assert statistics.truncation_cost(tokenizer, [sentence], 13) == statistics.TruncationCost(sentences=0, words=0, mentions=0)


def test_on_ncbi_disease_128_sub_words_cut_one_test_sentence_and_no_mention(tokenizer):
    test = data.load_data("ncbi-disease")["test"]
    assert statistics.truncation_cost(tokenizer, test, 128) == statistics.TruncationCost(sentences=1, words=9, mentions=0)
    assert statistics.truncation_cost(tokenizer, test, 64) == statistics.TruncationCost(sentences=56, words=603, mentions=21)
