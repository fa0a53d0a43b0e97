"""Figures of the course. Each function takes data and returns a ``matplotlib.figure.Figure``.

Figures are made with ``Figure(...)``, not ``pyplot``: no global state, nothing shown as a side
effect, and it works with the non-interactive Agg backend of CI. In a notebook, put the figure
on the last line of a cell (or ``display(fig)``); in a script, ``fig.savefig("name.png")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .corpus_statistics import CorpusStatistics


def plot_corpus_statistics(stats_by_split: Mapping[str, "CorpusStatistics"]) -> Figure:
    """Three panels per corpus: sentence lengths, entities per type, label distribution.

    Splits are drawn side by side so that a test set unlike its training set stands out.
    Lengths and labels are shown as shares of each split (splits differ in size); entities as
    counts (a type with 12 test entities gives a noisy F1, whatever its share).
    """
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    length_axes, entity_axes, label_axes = fig.subplots(1, 3)
    _plot_lengths(length_axes, stats_by_split)
    types = sorted({t for stats in stats_by_split.values() for t in stats.entities_per_type})
    _grouped_bars(
        entity_axes, types, {s: [st.entities_per_type.get(t, 0) for t in types] for s, st in stats_by_split.items()}
    )
    entity_axes.set(title="Entities per type", ylabel="entities")
    labels = list(dict.fromkeys(label for stats in stats_by_split.values() for label in stats.label_counts))
    shares = {
        split: [stats.label_counts.get(label, 0) / max(stats.tokens, 1) for label in labels]
        for split, stats in stats_by_split.items()
    }
    _grouped_bars(label_axes, labels, shares)
    label_axes.set(title="Label distribution", ylabel="share of words (log scale)", yscale="log")
    label_axes.tick_params(axis="x", labelrotation=45)
    return fig


def _plot_lengths(axes, stats_by_split: Mapping[str, "CorpusStatistics"]) -> None:
    """Sentence-length histograms, one outline per split, on shared bins."""
    longest = max((stats.max_sentence_length for stats in stats_by_split.values()), default=1)
    bins = np.linspace(0.5, longest + 0.5, min(longest, 30) + 1)  # one bar per length when they fit
    for split, stats in stats_by_split.items():
        lengths = list(stats.sentence_lengths)
        weights = [count / max(stats.sentences, 1) for count in stats.sentence_lengths.values()]
        axes.hist(lengths, bins=bins, weights=weights, histtype="step", linewidth=1.5, label=split)
    axes.set(title="Sentence length", xlabel="words per sentence", ylabel="share of sentences")
    axes.legend()


def _grouped_bars(axes, categories: list[str], values_by_split: Mapping[str, list[float]]) -> None:
    """One group of bars per category, one bar per split."""
    width = 0.8 / max(len(values_by_split), 1)
    positions = np.arange(len(categories))
    for i, (split, values) in enumerate(values_by_split.items()):
        axes.bar(positions + (i - (len(values_by_split) - 1) / 2) * width, values, width, label=split)
    axes.set_xticks(positions, categories)
    axes.legend()


# ---------------------------------------------------------------- training (added with biobert_ner.training)


def plot_training_curves(history, best_epoch: int | None = None) -> Figure:
    """Loss (train and dev) and dev entity F1 per epoch, from ``TrainingResult.history`` / ``metrics.jsonl``.

    The dev loss and the dev F1 can disagree: the loss keeps rewarding more confident
    probabilities after the F1 has stopped improving, which is why the best epoch is chosen by F1.
    """
    epochs = [record["epoch"] for record in history]
    fig = Figure(figsize=(11, 4), layout="constrained")
    loss_axes, f1_axes = fig.subplots(1, 2)
    loss_axes.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    if any(r.get("dev_loss") is not None for r in history):
        loss_axes.plot(epochs, [r.get("dev_loss") for r in history], marker="o", label="dev (per word)")
    loss_axes.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    loss_axes.legend()
    f1_axes.plot(epochs, [r["dev_f1"] for r in history], marker="o", color="tab:green", label="dev entity F1")
    if best_epoch:
        f1_axes.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch ({best_epoch})")
    f1_axes.set(title="Dev entity F1 (strict)", xlabel="epoch", ylabel="F1", ylim=(0, 1))
    f1_axes.legend(loc="lower right")
    for axes in (loss_axes, f1_axes):
        axes.set_xticks(epochs)
    return fig


def plot_confusion_matrix(matrix, labels, *, normalize: bool = True) -> Figure:
    """Word-level confusion matrix (rows: gold tag, columns: predicted tag), from ``evaluation.token_confusion_matrix``.

    ``normalize=True`` shows each row as shares of its gold tag, so rare tags are as readable
    as ``O``; the counts are written in the cells either way.
    """
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    shown = matrix / np.maximum(totals, 1) if normalize else matrix
    fig = Figure(figsize=(1 + 0.8 * len(labels), 0.8 + 0.7 * len(labels)), layout="constrained")
    axes = fig.subplots()
    image = axes.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=axes, label="share of gold row" if normalize else "words")
    for i in range(len(labels)):
        for j in range(len(labels)):
            dark = shown[i, j] > (0.5 if normalize else shown.max() / 2)
            axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set(xlabel="predicted", ylabel="gold", title="Word tags: gold vs predicted")
    return fig
