"""Trivial baselines: the all-O tagger and the dictionary of training mentions, on hand-made and real data."""

from __future__ import annotations

import pytest

from biobert_ner import baselines, data, evaluation


def _sentence(text: str, tags: str) -> data.Sentence:
    return data.Sentence(text.split(), tags.split())


def test_the_dictionary_keeps_each_string_once_lower_cased_with_its_most_frequent_type():
    sentences = [
        _sentence("Insulin lowers glucose", "B-Chemical O B-Chemical"),
        _sentence("insulin and INSULIN receptor", "B-Gene O B-Chemical O"),
        _sentence("Breast cancer and AT", "B-Disease I-Disease O B-Disease"),
        _sentence("insulin resistance", "B-Gene O"),
    ]
    assert baselines.mention_dictionary(sentences) == {
        ("at",): "Disease",
        ("breast", "cancer"): "Disease",
        ("glucose",): "Chemical",
        ("insulin",): "Chemical",  # Chemical 2, Gene 2: the tie goes to the alphabetically first type
    }


def test_dictionary_tags_take_the_longest_match_left_to_right_without_overlaps():
    dictionary = {("breast",): "Disease", ("breast", "cancer"): "Disease", ("cancer",): "Disease", ("brca1",): "Gene"}
    words = "BRCA1 in Breast cancer and cancer of the breast".split()
    assert baselines.dictionary_tags(words, dictionary) == [
        "B-Gene", "O", "B-Disease", "I-Disease", "O", "B-Disease", "O", "O", "B-Disease",
    ]
    assert baselines.dictionary_tags([], dictionary) == []
    assert baselines.dictionary_tags(["breast"], {}) == ["O"]


def test_outside_tags_have_the_shape_of_the_sentences():
    assert baselines.outside_tags([["a", "b"], [], ["c"]]) == [["O", "O"], [], ["O"]]


@pytest.fixture(scope="module")
def ncbi():
    return data.load_data("ncbi-disease")


def test_on_ncbi_disease_all_o_scores_zero_and_the_dictionary_about_0_59(ncbi):
    train, test = data.sentences_from_dataset(ncbi["train"]), data.sentences_from_dataset(ncbi["test"])
    gold = [sentence.tags for sentence in test]
    all_o = evaluation.evaluate_tags(gold, baselines.outside_tags(sentence.tokens for sentence in test))
    assert all_o.entity_f1 == 0.0 and all_o.word_accuracy == pytest.approx(0.916, abs=0.001)  # the share of O words
    dictionary = baselines.mention_dictionary(train)
    scores = evaluation.evaluate_tags(gold, [baselines.dictionary_tags(sentence.tokens, dictionary) for sentence in test])
    assert (scores.gold_entities, scores.predicted_entities, scores.correct_entities) == (960, 1063, 596)
    assert scores.entity_f1 == pytest.approx(0.589, abs=0.001) and scores.recall > scores.precision


def test_baseline_scores_on_ncbi_disease_for_a_model_trained_on_500_sentences(ncbi):
    rows = baselines.baseline_scores(ncbi, train_sentences=500)
    assert [row.name for row in rows] == [
        "all O", "dictionary of the 500 training sentences the model saw", "dictionary of all 5,424 training sentences",
    ]
    assert rows[0].dev_f1 == rows[0].test_f1 == 0.0
    assert rows[1].test_f1 == pytest.approx(0.332, abs=0.001) and rows[1].dev_f1 == pytest.approx(0.361, abs=0.001)
    assert rows[2].test_f1 == pytest.approx(0.589, abs=0.001) and rows[2].dev_f1 == pytest.approx(0.586, abs=0.001)
    table = baselines.comparison_rows("model", 0.7, None, rows)
    assert table[0] == ["model", "0.700", "-"] and table[3] == [rows[2].name, "0.586", "0.589"]
    figure = baselines.plot_comparison("model", 0.7, 0.69, rows)
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()][0] == "model"
