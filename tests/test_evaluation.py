"""Entity-level scoring, error categories and word-level predictions, checked by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from biobert_ner.evaluation import (
    classify_errors,
    error_analysis,
    evaluate_tags,
    predict_word_tags,
    predict_words,
    token_confusion_matrix,
)
from biobert_ner.schemes import Span

# ---------------------------------------------------------------- entity scores


def test_micro_f1_equals_a_hand_computation():
    gold = [
        ["B-Chemical", "O", "B-Disease", "I-Disease", "O"],
        ["O", "B-Gene", "O", "B-Chemical"],
    ]
    predicted = [
        ["B-Chemical", "O", "B-Disease", "O", "O"],  # Chemical right; Disease boundary wrong
        ["O", "B-Gene", "O", "B-Disease"],  # Gene right; Chemical predicted as Disease
    ]
    # 4 gold entities, 4 predicted, 2 exactly right: P = R = 2/4, F1 = 0.5.
    report = evaluate_tags(gold, predicted)
    assert (report.gold_entities, report.predicted_entities, report.correct_entities) == (4, 4, 2)
    assert report.precision == pytest.approx(0.5)
    assert report.recall == pytest.approx(0.5)
    assert report.entity_f1 == pytest.approx(0.5)
    # per type: Chemical P 1/1 R 1/2; Disease P 0/2 R 0/1; Gene P 1/1 R 1/1
    assert report.per_type["Chemical"].f1 == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert report.per_type["Disease"].f1 == 0.0
    assert report.per_type["Gene"].f1 == 1.0
    assert report.per_type["Disease"].support == 1
    assert report.macro_f1 == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert report.word_accuracy == pytest.approx(7 / 9)


def test_strict_mode_needs_both_boundaries_and_the_type():
    gold = [["B-Disease", "I-Disease", "I-Disease"]]
    for wrong in (["B-Disease", "I-Disease", "O"], ["O", "B-Disease", "I-Disease"], ["B-Gene", "I-Gene", "I-Gene"]):
        assert evaluate_tags(gold, [wrong]).entity_f1 == 0.0
    assert evaluate_tags(gold, gold).entity_f1 == 1.0


def test_i_start_is_repaired_like_the_inference_pipeline_unless_asked_not_to():
    gold = [["O", "B-Disease", "I-Disease"]]
    predicted = [["O", "I-Disease", "I-Disease"]]  # the model forgot the B-
    repaired = evaluate_tags(gold, predicted)
    assert repaired.entity_f1 == 1.0
    assert repaired.repaired_sentences == 1
    raw = evaluate_tags(gold, predicted, repair=False)  # strict IOB2 has no entity without a B-
    assert raw.entity_f1 == 0.0
    assert raw.predicted_entities == 0  # counts follow seqeval's strict reading too


def test_no_entities_anywhere_scores_zero_instead_of_crashing():
    report = evaluate_tags([["O", "O"]], [["O", "O"]])
    assert report.entity_f1 == 0.0 and report.word_accuracy == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0"):
        evaluate_tags([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 gold sentences but 2"):
        evaluate_tags([["O"]], [["O"], ["O"]])


def test_confusion_matrix_counts_words():
    labels = ["O", "B-Disease", "I-Disease"]
    gold = [["O", "B-Disease", "I-Disease"], ["B-Disease"]]
    predicted = [["O", "B-Disease", "O"], ["I-Disease"]]
    matrix = token_confusion_matrix(gold, predicted, labels)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="B-Gene"):
        token_confusion_matrix([["B-Gene"]], [["O"]], labels)


# ---------------------------------------------------------------- error categories


def S(start: int, end: int, type: str = "Disease") -> Span:  # noqa: A002 - short on purpose, for tables
    return Span(start, end, type)


ERROR_CASES = [
    # (name, gold spans, predicted spans, expected outcomes)
    ("exact", [S(1, 3)], [S(1, 3)], [("correct", S(1, 3), S(1, 3))]),
    ("boundary: too short", [S(1, 3)], [S(1, 2)], [("boundary", S(1, 3), S(1, 2))]),
    ("boundary: too long", [S(1, 3)], [S(0, 3)], [("boundary", S(1, 3), S(0, 3))]),
    ("boundary: shifted", [S(1, 3)], [S(2, 4)], [("boundary", S(1, 3), S(2, 4))]),
    ("type", [S(1, 3)], [S(1, 3, "Gene")], [("type", S(1, 3), S(1, 3, "Gene"))]),
    ("boundary+type", [S(1, 3)], [S(2, 5, "Chemical")], [("boundary+type", S(1, 3), S(2, 5, "Chemical"))]),
    ("missed", [S(1, 3)], [], [("missed", S(1, 3), None)]),
    ("missed: prediction elsewhere", [S(1, 3)], [S(4, 5)], [("missed", S(1, 3), None), ("spurious", None, S(4, 5))]),
    ("spurious", [], [S(0, 1, "Gene")], [("spurious", None, S(0, 1, "Gene"))]),
    ("touching is not overlapping", [S(0, 2)], [S(2, 3)], [("missed", S(0, 2), None), ("spurious", None, S(2, 3))]),
    (
        "one prediction across two gold entities",
        [S(0, 1), S(2, 3)],
        [S(0, 3)],
        [("boundary", S(0, 1), S(0, 3)), ("boundary", S(2, 3), S(0, 3))],
    ),
    (
        "same type preferred over other type",
        [S(0, 4)],
        [S(0, 1, "Gene"), S(2, 4)],
        [("boundary", S(0, 4), S(2, 4))],
    ),
]


@pytest.mark.parametrize(("name", "gold", "predicted", "expected"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_categories(name, gold, predicted, expected):
    assert classify_errors(gold, predicted) == expected


def test_error_analysis_counts_and_examples():
    tokens = [["cisplatin", "induced", "renal", "failure", "in", "rats"], ["BRCA1", "mutations", "cause", "cancer"]]
    gold = [
        ["B-Chemical", "O", "B-Disease", "I-Disease", "O", "O"],
        ["B-Gene", "O", "O", "B-Disease"],
    ]
    predicted = [
        ["B-Chemical", "O", "O", "B-Disease", "O", "B-Chemical"],  # correct, boundary, spurious
        ["B-Disease", "O", "O", "O"],  # type, missed
    ]
    analysis = error_analysis(tokens, gold, predicted)
    assert analysis.correct == 1
    assert analysis.counts == {"boundary": 1, "type": 1, "boundary+type": 0, "missed": 1, "spurious": 1}
    (boundary,) = analysis.examples["boundary"]
    assert (boundary.gold_text, boundary.predicted_text, boundary.sentence) == ("renal failure", "failure", 0)
    assert analysis.examples["spurious"][0].predicted_text == "rats"
    assert analysis.examples["type"][0].predicted.type == "Disease"
    assert "renal failure" in str(analysis)
    # The counts explain the F1: correct = TP, errors on each side make up the rest.
    report = evaluate_tags(gold, predicted)
    assert report.correct_entities == analysis.correct
    errors_on_gold = sum(analysis.counts[c] for c in ("boundary", "type", "boundary+type", "missed"))
    assert report.gold_entities == analysis.correct + errors_on_gold


def test_error_analysis_keeps_at_most_max_examples():
    tokens = [["a"]] * 10
    analysis = error_analysis(tokens, [["B-Gene"]] * 10, [["O"]] * 10, max_examples=3)
    assert analysis.counts["missed"] == 10
    assert len(analysis.examples["missed"]) == 3


# ---------------------------------------------------------------- word-level predictions


LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


class PiecesModel(torch.nn.Module):
    """A fake token classifier with hand-written logits: B-Chemical for word starts, I-Disease for ``##`` pieces.

    The first-sub-word rule must then give B-Chemical for every word, whatever the pieces say.
    """

    def __init__(self, tokenizer):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))  # only so that next(parameters()) has a device
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)))
        vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.is_piece = torch.tensor([token.startswith("##") for token in vocabulary])

    def forward(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, len(LABELS))
        logits[..., 1] = 5.0
        logits[..., 4] = torch.where(self.is_piece[input_ids], 10.0, 0.0)
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_word_tag_is_the_first_sub_words_tag(tiny_tokenizer):
    sentences = [["nephrotoxicity", "of", "cisplatin"], ["zzzqqq"]]
    assert any(len(tiny_tokenizer.tokenize(word)) > 1 for word in sentences[0])  # the test needs split words
    tags = predict_word_tags(PiecesModel(tiny_tokenizer), tiny_tokenizer, sentences, batch_size=1, decoding="viterbi")
    assert tags == [["B-Chemical"] * 3, ["B-Chemical"]]


def test_words_cut_by_max_length_are_tagged_o_not_dropped(tiny_tokenizer):
    sentence = ["cisplatin"] * 20
    (tags,) = predict_word_tags(PiecesModel(tiny_tokenizer), tiny_tokenizer, [sentence], max_length=8, decoding="viterbi")
    assert len(tags) == 20
    assert tags[-1] == "O" and tags[0] == "B-Chemical"


def test_word_loss_uses_first_sub_words_only(tiny_tokenizer):
    """Uniform logits give a loss of log(labels) per word, however many pieces a word has."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    class Uniform(PiecesModel):
        def forward(self, input_ids, attention_mask=None):
            return SimpleNamespace(logits=torch.zeros(*input_ids.shape, len(LABELS)))

    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=LABELS))})
    split = Dataset.from_dict({"tokens": [["nephrotoxicity", "of", "cisplatin"]], "ner_tags": [[3, 0, 1]]}, features=features)
    result = predict_words(Uniform(tiny_tokenizer), tiny_tokenizer, split, decoding="viterbi")
    assert result.loss == pytest.approx(math.log(len(LABELS)))
    assert predict_words(Uniform(tiny_tokenizer), tiny_tokenizer, [["of"]], decoding="viterbi").loss is None  # no gold, no loss


def test_predictions_come_back_in_the_original_order(tiny_tokenizer):
    """Sentences are batched by length internally; the output must follow the input order."""

    class LengthTagger(PiecesModel):
        def forward(self, input_ids, attention_mask=None):  # B-Disease for 1-word sentences, else B-Chemical
            logits = torch.zeros(*input_ids.shape, len(LABELS))
            short = attention_mask.sum(1) <= 3
            logits[short, :, 3] = 1.0
            logits[~short, :, 1] = 1.0
            return SimpleNamespace(logits=logits)

    sentences = [["of"] * 5, ["of"], ["of"] * 3, ["of"]]
    tags = predict_word_tags(LengthTagger(tiny_tokenizer), tiny_tokenizer, sentences, batch_size=1, decoding="viterbi")
    assert [t[0] for t in tags] == ["B-Chemical", "B-Disease", "B-Chemical", "B-Disease"]
    assert [len(t) for t in tags] == [5, 1, 3, 1]


def test_figures_for_evaluation_and_training():
    from matplotlib.figure import Figure

    from biobert_ner.plotting import plot_confusion_matrix, plot_training_curves

    labels = ["O", "B-Disease", "I-Disease"]
    matrix = token_confusion_matrix([["O", "B-Disease", "I-Disease"]], [["O", "B-Disease", "O"]], labels)
    figure = plot_confusion_matrix(matrix, labels)
    assert isinstance(figure, Figure)
    assert [t.get_text() for t in figure.axes[0].texts] == [str(n) for n in matrix.flatten()]  # counts in the cells
    history = [
        {"epoch": 1, "train_loss": 1.0, "dev_loss": 0.8, "dev_f1": 0.2},
        {"epoch": 2, "train_loss": 0.5, "dev_loss": 0.6, "dev_f1": 0.5},
    ]
    assert len(plot_training_curves(history, best_epoch=2).axes) == 2
