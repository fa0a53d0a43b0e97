"""The model folder says what it is: ner_settings.json is read back strictly, the card holds the scores."""

from __future__ import annotations

import pytest

from biobert_ner.model_card import NerSettings, load_ner_settings, model_card, ner_settings, resolve_setting
from biobert_ner.training import TrainingConfig

REPORT = {
    "entity_f1": 0.8123, "precision": 0.8, "recall": 0.825, "gold_entities": 960,
    "per_type": {"Disease": {"precision": 0.8, "recall": 0.825, "f1": 0.8123, "support": 960}},
}


def test_settings_round_trip_and_a_folder_without_them(tmp_path):
    import json

    config = TrainingConfig(model="minilm", data="ncbi-disease", max_length=96, decoding="argmax", precision="auto")
    written = ner_settings(config, "bf16").to_dict()
    assert written == {"max_length": 96, "label_scheme": "IOB2", "label_strategy": "all", "decoding": "argmax",
                       "precision": "bf16", "base_model": "minilm", "data": "ncbi-disease"}  # what ran, not "auto"
    (tmp_path / "ner_settings.json").write_text(json.dumps(written))
    assert load_ner_settings(tmp_path) == ner_settings(config, "bf16")
    # a model made elsewhere (or before these keys were saved): the training defaults, scored in fp32
    assert load_ner_settings(tmp_path / "elsewhere") == NerSettings()
    assert load_ner_settings(tmp_path / "elsewhere").to_dict()["max_length"] == TrainingConfig.max_length
    (tmp_path / "ner_settings.json").write_text(json.dumps({"max_length": 64}))
    assert load_ner_settings(tmp_path).decoding.value == TrainingConfig.decoding.value


def test_a_setting_given_that_differs_from_the_saved_one_is_printed_as_an_override(capsys):
    assert resolve_setting("decoding", None, "viterbi") == "viterbi"
    assert resolve_setting("decoding", "viterbi", "viterbi") == "viterbi"
    assert capsys.readouterr().err == ""
    assert resolve_setting("decoding", "argmax", "viterbi") == "argmax"
    assert capsys.readouterr().err == "decoding: argmax (overrides viterbi saved with the model)\n"


@pytest.mark.parametrize(
    "text, problem",
    [('{"max_length": 128,', "ner_settings.json:1: not valid JSON"), ('{"label_scheme": "IOBES"}', "IOB2 only"),
     ('{"precision": "auto"}', "ner_settings.json: precision must be one of fp32, bf16, fp16, not 'auto'"),
     ('{"decodng": "argmax"}', "ner_settings.json: unknown settings decodng")],
)
def test_broken_settings_name_the_file_and_problem(tmp_path, text, problem):
    (tmp_path / "ner_settings.json").write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_ner_settings(tmp_path)


def test_card_names_model_data_licence_and_scores():
    config = TrainingConfig(model="minilm", data="ncbi-disease", epochs=5, learning_rate=2e-4)
    card = model_card(config, labels=["O", "B-Disease", "I-Disease"], dev=REPORT, test=REPORT, best_epoch=4, precision="bf16")
    assert card.splitlines()[:3] == ["---", "license: apache-2.0", "base_model: sentence-transformers/all-MiniLM-L6-v2"]
    assert "# Biomedical NER (Disease), fine-tuned from sentence-transformers/all-MiniLM-L6-v2" in card
    assert "NCBI disease corpus (Doğan et al. 2014)" in card and "licence CC BY 4.0" in card
    assert "5 epochs (best dev epoch kept: 4), batch 32, peak learning rate 0.0002" in card
    assert "precision bf16, seed 42" in card  # what the run computed in, not the "auto" it asked for
    assert "labels on all sub-words" in card  # settings by their value, never an enum's repr (LabelStrategy.ALL)
    from biobert_ner.precision import Precision

    assert "precision fp32, seed 42" in model_card(config, labels=["O"], dev=REPORT, test=REPORT, best_epoch=4, precision=Precision.FP32)
    assert "| Disease | 0.8000 | 0.8250 | 0.8123 | 960 |" in card
    assert "no nested or discontinuous entities" in card


def test_card_sets_the_baselines_beside_the_scores():
    from biobert_ner.baselines import BaselineScore

    config = TrainingConfig(model="minilm", data="ncbi-disease")
    rows = [BaselineScore("all O", 0.0, 0.0), BaselineScore("dictionary of all 5,424 training sentences", 0.5858, 0.5892)]
    card = model_card(config, labels=["O", "B-Disease", "I-Disease"], dev=REPORT, test=REPORT, best_epoch=1, precision="fp32", baselines=rows)
    assert "## Baselines" in card
    assert "| all O | 0.000 | 0.000 |" in card
    assert "| dictionary of all 5,424 training sentences | 0.586 | 0.589 |" in card
    assert "## Baselines" not in model_card(config, labels=["O", "B-Disease", "I-Disease"], dev=REPORT, test=REPORT, best_epoch=1, precision="fp32")
