"""Corpus statistics that need a tokenizer: what truncation at max_length cuts, which labels the loss sees."""

from __future__ import annotations

import pytest

from biobert_ner import corpus_statistics, data


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir)


def test_a_mention_cut_half_way_counts_as_cut(tokenizer):
    # [CLS] patients with ata ##xia tel ##ang ##iec ##tas ##ia were studied [SEP]
    sentence = data.Sentence("Patients with ataxia telangiectasia were studied".split(), ["O", "O", "B-Disease", "I-Disease", "O", "O"])
    assert corpus_statistics.truncation_cost(tokenizer, [sentence], 6) == corpus_statistics.TruncationCost(sentences=1, words=3, mentions=1)
    assert corpus_statistics.truncation_cost(tokenizer, [sentence], 4) == corpus_statistics.TruncationCost(sentences=1, words=4, mentions=1)
    assert corpus_statistics.truncation_cost(tokenizer, [sentence], 13) == corpus_statistics.TruncationCost(sentences=0, words=0, mentions=0)


def test_on_ncbi_disease_128_sub_words_cut_one_test_sentence_and_no_mention(tokenizer):
    test = data.load_data("ncbi-disease")["test"]
    assert corpus_statistics.truncation_cost(tokenizer, test, 128) == corpus_statistics.TruncationCost(sentences=1, words=9, mentions=0)
    assert corpus_statistics.truncation_cost(tokenizer, test, 64) == corpus_statistics.TruncationCost(sentences=56, words=603, mentions=21)


def test_under_all_a_word_counts_once_per_sub_word_and_b_continuations_become_i(tokenizer):
    names = ["O", "B-Disease", "I-Disease"]
    sentences = [data.Sentence(["Neurofibromatosis", "is", "rare"], ["B-Disease", "O", "O"])]  # ne ##uro ##fi ##bro ##mat ##osis
    assert corpus_statistics.loss_label_counts(tokenizer, sentences, names, "first") == {"O": 2, "B-Disease": 1}
    assert corpus_statistics.loss_label_counts(tokenizer, sentences, names, "all") == {"O": 2, "B-Disease": 1, "I-Disease": 5}


def test_on_ncbi_disease_train_all_nearly_triples_the_inside_labels(tokenizer):
    train = data.load_data("ncbi-disease")["train"]
    names = data.label_names(train)
    assert corpus_statistics.loss_label_counts(tokenizer, train, names, "first") == {"O": 124452, "B-Disease": 5134, "I-Disease": 6115}
    assert corpus_statistics.loss_label_counts(tokenizer, train, names, "all") == {"O": 152647, "B-Disease": 5134, "I-Disease": 17653}
