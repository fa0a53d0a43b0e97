"""Scoring a tagger the way NER papers do: entities, not tokens.

Three steps, each a function that takes data and returns data:

1. :func:`predict_word_tags`: run the model and read **one tag per word** from the label
   scores of the word's first sub-word (``entities.word_label_ids``). Whatever the training
   strategy (``first`` or ``all``), scoring is over words, so F1 numbers stay comparable.
   The tags of a sentence are decoded together, by default as the most probable sequence that
   is valid IOB2 (``decoding="viterbi"``, :mod:`biobert_ner.decoding`); ``decoding="argmax"``
   takes each word's best label on its own. A word cut off by ``max_length`` has no prediction
   and is tagged ``O`` (it then counts as missed, never silently dropped).
2. :func:`evaluate_tags`: entity-level precision/recall/F1 with seqeval in *strict* IOB2 mode:
   an entity counts only if its type and both boundaries are exactly right.
3. :func:`error_analysis` and :func:`token_confusion_matrix`: *which* mistakes the F1 hides.

**The one decision to know about: predicted tags are valid IOB2 before scoring.** Read word by
word (``argmax``), a model can output ``O I-Disease`` (an entity without its ``B-``). Strict
seqeval would drop such an entity altogether; conlleval would count it. The default decoding
(``viterbi``) never outputs such a sequence: it weighs ``O O`` against ``B-Disease I-Disease``
with the model's probabilities. ``argmax`` predictions are repaired with
:func:`biobert_ner.schemes.repair_iob2` (``I-X`` starting an entity becomes ``B-X``), exactly what
the inference pipeline does before returning entities, so the F1 reported here is the F1 of the
entities users actually get. The report counts how many sentences needed a repair
(``repaired_sentences``: none after Viterbi); pass ``repair=False`` to score the raw tags strictly. Gold tags are
never changed (the corpus readers already reject invalid IOB2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

from .alignment import IGNORE_INDEX, LabelStrategy, align_labels, encode_words
from .entities import word_label_ids
from .decoding import Decoding, decode_word_tags, parse_decoding
from .model_card import NerSettings, load_ner_settings, resolve_setting
from .precision import Precision, autocast_context, parse_precision
from .schemes import Span, repair_iob2, spans_from_tags
from .training_config import TrainingConfig

# ---------------------------------------------------------------- predictions per word


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of scoring a split (``biobert-ner evaluate``), the one owner of their defaults.

    ``None`` means "as the model was trained and scored": the sentence length, precision and
    decoding are read from the model folder's ``ner_settings.json``
    (:func:`biobert_ner.model_card.load_ner_settings`), so ``evaluate`` repeats the test F1 that
    training reported. A value given here overrides the saved one (and is printed as such).
    ``max_length`` is training's sentence length, not an inference window.
    """

    batch_size: int = 64  # sentences per forward pass
    max_length: int | None = None  # sub-words per sentence, [CLS]/[SEP] included; words cut off are tagged O (counted as missed); None: the training run's
    precision: Precision | None = None  # number format of the forward pass: "fp32" or "bf16" (autocast); None: the one training scored in
    decoding: Decoding | None = None  # "viterbi" (most probable valid IOB2 sequence) or "argmax" (each word's best label, repaired); None: training's

    def __post_init__(self) -> None:
        # Strings (flags, JSON) are parsed here, once; each raises naming the choices.
        if self.decoding is not None:
            object.__setattr__(self, "decoding", parse_decoding(self.decoding))
        if self.precision is not None:
            object.__setattr__(self, "precision", parse_precision(self.precision, resolved=True))
        if self.batch_size < 1 or (self.max_length is not None and self.max_length < 1):
            raise ValueError(f"batch_size and max_length must be at least 1, got {self.batch_size} and {self.max_length}")

    def resolved(self, saved: NerSettings) -> "EvaluationConfig":
        """Every ``None`` filled from the model's ``saved`` settings; a value given that differs is printed as an override."""
        return replace(
            self,
            max_length=resolve_setting("max_length", self.max_length, saved.max_length),
            precision=resolve_setting("precision", self.precision, saved.precision),
            decoding=resolve_setting("decoding", self.decoding, saved.decoding),
        )

    def to_dict(self) -> dict:
        return {name: getattr(value, "value", value) for name, value in asdict(self).items()}


@dataclass
class WordPredictions:
    """One predicted tag per word for each sentence, and the loss over words when gold tags were given."""

    tags: list[list[str]]
    loss: float | None  # mean cross-entropy per word (first sub-word of each word); None without gold tags


def _sentences_and_gold(split) -> tuple[list[list[str]], list[list[int]] | None]:
    """``tokens`` (and ``ner_tags`` if present) of a ``datasets.Dataset``, or a plain list of token lists."""
    if hasattr(split, "column_names"):
        gold = [list(tags) for tags in split["ner_tags"]] if "ner_tags" in split.column_names else None
        return [list(tokens) for tokens in split["tokens"]], gold
    return [list(tokens) for tokens in split], None


@torch.inference_mode()
def predict_words(
    model,
    tokenizer,
    split,
    *,
    decoding: Decoding,
    batch_size: int = EvaluationConfig.batch_size,
    max_length: int = TrainingConfig.max_length,
    accelerator=None,
) -> WordPredictions:
    """Predicted word tags for every sentence of ``split`` (a Dataset with ``tokens``, or lists of words).

    ``decoding``: ``"viterbi"`` (the most probable valid IOB2 sequence) or ``"argmax"`` (each word's
    best label, possibly invalid IOB2), see :mod:`biobert_ner.decoding`.

    With an ``accelerate.Accelerator`` (several processes), each process predicts a share of
    the sentences and the results are gathered, in the original order, on every process.
    """
    sentences, gold = _sentences_and_gold(split)
    label_names = [label for _, label in sorted((int(i), label) for i, label in model.config.id2label.items())]
    device = next(model.parameters()).device
    encodings = encode_words(tokenizer, sentences, max_length=max_length)
    # Sorted by length, so each batch needs little padding; results are put back in order below.
    order = sorted(range(len(sentences)), key=lambda i: len(encodings["input_ids"][i]))
    if accelerator is not None:
        order = order[accelerator.process_index :: accelerator.num_processes]
    was_training = model.training
    model.eval()  # dropout off
    results: list[tuple[int, list[str]]] = []
    loss_sum, loss_words = 0.0, 0
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        batch = tokenizer.pad(
            {key: [encodings[key][i] for i in indices] for key in ("input_ids", "attention_mask")}, return_tensors="pt"
        ).to(device)
        logits = model(**batch).logits.float()  # (batch, tokens, labels)
        log_probs = logits.log_softmax(-1).cpu().numpy()
        for row, i in enumerate(indices):
            # Each word is read from its first sub-word; a word cut off by max_length has none (None).
            first_tokens = word_label_ids(encodings.word_ids(i), range(len(encodings["input_ids"][i])), len(sentences[i]))
            word_log_probs = [None if token is None else log_probs[row, token] for token in first_tokens]
            results.append((i, decode_word_tags(word_log_probs, label_names, decoding)))
        if gold is not None:
            # Loss over words: the gold label sits on each word's first sub-word ("first" alignment).
            labels = torch.full(logits.shape[:2], IGNORE_INDEX, dtype=torch.long)
            for row, i in enumerate(indices):
                aligned = align_labels(encodings.word_ids(i), gold[i], LabelStrategy.FIRST)
                labels[row, : len(aligned)] = torch.tensor(aligned)
            labels = labels.to(device)
            loss_sum += torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
            ).item()
            loss_words += int((labels != IGNORE_INDEX).sum())
    model.train(was_training)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        results = gather_object(results)
        totals = gather_object([(loss_sum, loss_words)])
        loss_sum, loss_words = sum(t[0] for t in totals), sum(t[1] for t in totals)
    tags = [tags for _, tags in sorted(results, key=lambda pair: pair[0])]
    return WordPredictions(tags, loss_sum / loss_words if gold is not None and loss_words else None)


def predict_word_tags(
    model,
    tokenizer,
    dataset_split,
    *,
    decoding: Decoding,
    batch_size: int = EvaluationConfig.batch_size,
    max_length: int = TrainingConfig.max_length,
) -> list[list[str]]:
    """One predicted tag per word (read from its first sub-word), for each sentence of ``dataset_split``."""
    return predict_words(model, tokenizer, dataset_split, batch_size=batch_size, max_length=max_length, decoding=decoding).tags


def gold_word_tags(dataset_split) -> list[list[str]]:
    """The gold tags of a split, as strings."""
    names = dataset_split.features["ner_tags"].feature.names
    return [[names[tag] for tag in tags] for tags in dataset_split["ner_tags"]]


# ---------------------------------------------------------------- entity-level scores


@dataclass
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int  # gold entities of this type


@dataclass
class EvaluationReport:
    """Entity-level scores (seqeval, strict IOB2). ``entity_f1`` is the micro-averaged F1."""

    entity_f1: float
    precision: float  # micro: correct entities / predicted entities
    recall: float  # micro: correct entities / gold entities
    macro_f1: float  # unweighted mean over entity types
    per_type: dict[str, TypeScores]
    gold_entities: int
    predicted_entities: int
    correct_entities: int
    word_accuracy: float  # share of words whose tag is right (O included: flattering, shown for contrast)
    repaired_sentences: int  # sentences whose predicted tags broke IOB2 and were repaired before scoring

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"{'type':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for name, s in self.per_type.items():
            lines.append(f"{name:<12}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>10}")
        lines.append(f"{'micro':<12}{self.precision:>10.4f}{self.recall:>10.4f}{self.entity_f1:>10.4f}{self.gold_entities:>10}")
        lines.append(f"{'macro':<12}{'':>20}{self.macro_f1:>10.4f}")
        return "\n".join(lines)


def _check_shapes(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def evaluate_tags(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], *, repair: bool = True
) -> EvaluationReport:
    """Entity-level P/R/F1 per type, micro and macro (seqeval ``classification_report``, strict IOB2).

    ``repair=True`` (default) repairs predicted I- starts first, as the inference pipeline
    does; see the module docstring.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2, Entities

    _check_shapes(gold, predicted)
    gold = [list(tags) for tags in gold]
    raw = [list(tags) for tags in predicted]
    predicted = [repair_iob2(tags) for tags in raw] if repair else raw
    repaired = sum(r != p for r, p in zip(raw, predicted))
    # Entities as seqeval's strict IOB2 reader sees them, so the counts agree with its scores.
    gold_spans = [set(entities) for entities in Entities(gold, IOB2).entities]
    predicted_spans = [set(entities) for entities in Entities(predicted, IOB2).entities]
    words = sum(len(tags) for tags in gold)
    word_accuracy = sum(g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)) / words if words else 0.0
    counts = {
        "gold_entities": sum(map(len, gold_spans)),
        "predicted_entities": sum(map(len, predicted_spans)),
        "correct_entities": sum(len(g & p) for g, p in zip(gold_spans, predicted_spans)),
    }
    if not counts["gold_entities"] and not counts["predicted_entities"]:  # seqeval cannot score "no entities at all"
        return EvaluationReport(0.0, 0.0, 0.0, 0.0, {}, **counts, word_accuracy=word_accuracy, repaired_sentences=repaired)
    table = classification_report(gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    averages = ("micro avg", "macro avg", "weighted avg")
    per_type = {
        name: TypeScores(float(row["precision"]), float(row["recall"]), float(row["f1-score"]), int(row["support"]))
        for name, row in sorted(table.items())
        if name not in averages
    }
    micro = table["micro avg"]
    return EvaluationReport(
        entity_f1=float(micro["f1-score"]),
        precision=float(micro["precision"]),
        recall=float(micro["recall"]),
        macro_f1=float(table["macro avg"]["f1-score"]),
        per_type=per_type,
        **counts,
        word_accuracy=word_accuracy,
        repaired_sentences=repaired,
    )


def token_confusion_matrix(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]
) -> np.ndarray:
    """Word counts: ``matrix[i, j]`` = words with gold tag ``labels[i]`` predicted as ``labels[j]``."""
    _check_shapes(gold, predicted)
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for gold_tags, predicted_tags in zip(gold, predicted):
        for g, p in zip(gold_tags, predicted_tags):
            if g not in index or p not in index:
                raise ValueError(f"tag {g if g not in index else p!r} is not one of labels {list(labels)}")
            matrix[index[g], index[p]] += 1
    return matrix


@dataclass
class SplitEvaluation:
    """What :func:`evaluate_model` scored and how: the settings it resolved, and the report."""

    config: EvaluationConfig  # every setting resolved (none left None)
    report: EvaluationReport
    sentences: int
    unknown_tags: list[str]  # gold tags the model cannot predict (scored anyway: their entities count as missed)

    def to_dict(self) -> dict:
        return {**self.config.to_dict(), **self.report.to_dict()}


def evaluate_model(model_dir, split, config: EvaluationConfig, *, device: str | None = None) -> SplitEvaluation:
    """Score the model folder ``model_dir`` on ``split`` (a Dataset with ``tokens`` and ``ner_tags``) as training scored it.

    Settings left ``None`` in ``config`` come from the folder's ``ner_settings.json``: the same
    sentence length, precision and decoding as the test F1 that ``train()`` reported.
    """
    from .modelling import load_model_and_tokenizer

    config = config.resolved(load_ner_settings(model_dir))
    model, tokenizer = load_model_and_tokenizer(str(model_dir), device=device)
    gold = gold_word_tags(split)
    model_labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    unknown = sorted({tag for tags in gold for tag in tags} - set(model_labels))
    with autocast_context(next(model.parameters()).device, config.precision):
        predicted = predict_word_tags(
            model, tokenizer, split, batch_size=config.batch_size, max_length=config.max_length, decoding=config.decoding
        )
    return SplitEvaluation(config, evaluate_tags(gold, predicted), len(split), unknown)


# ---------------------------------------------------------------- error analysis


ERROR_CATEGORIES = ("boundary", "type", "boundary+type", "missed", "spurious")


@dataclass(frozen=True)
class ErrorExample:
    """One mistake, with the words it is about (``None``: no gold / no predicted entity)."""

    category: str
    sentence: int  # index of the sentence
    gold: Span | None
    predicted: Span | None
    gold_text: str | None
    predicted_text: str | None
    context: str  # the sentence, for reading the example


@dataclass
class ErrorAnalysis:
    """Counts and examples of each kind of entity error; ``correct`` exact matches are not errors."""

    correct: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_CATEGORIES, 0))
    examples: dict[str, list[ErrorExample]] = field(default_factory=lambda: {c: [] for c in ERROR_CATEGORIES})

    def __str__(self) -> str:
        lines = [f"correct: {self.correct}"] + [f"{category}: {count}" for category, count in self.counts.items()]
        for category, examples in self.examples.items():
            for e in examples:
                gold = f"{e.gold_text!r} ({e.gold.type})" if e.gold else "-"
                predicted = f"{e.predicted_text!r} ({e.predicted.type})" if e.predicted else "-"
                lines.append(f"  {category:<14} gold {gold:<40} predicted {predicted}")
        return "\n".join(lines)


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end  # half-open spans


def classify_errors(gold: Sequence[Span], predicted: Sequence[Span]) -> list[tuple[str, Span | None, Span | None]]:
    """The mistakes of one sentence as ``(category, gold span, predicted span)``; exact matches are ``"correct"``.

    Every gold entity gets exactly one outcome, decided in this order:

    * ``correct``: a prediction with the same boundaries and type;
    * ``type``: a prediction with the same boundaries, another type;
    * ``boundary``: an overlapping prediction of the same type, other boundaries;
    * ``boundary+type``: only overlapping predictions of other types and other boundaries;
    * ``missed``: no overlapping prediction at all.

    Every prediction that overlaps no gold entity is ``spurious``. (A prediction that overlaps
    gold entities is already accounted for by their outcomes.)
    """
    outcomes: list[tuple[str, Span | None, Span | None]] = []
    for g in sorted(gold):
        overlapping = [p for p in sorted(predicted) if _overlaps(g, p)]
        same_span = [p for p in overlapping if (p.start, p.end) == (g.start, g.end)]
        same_type = [p for p in overlapping if p.type == g.type]
        if same_span and same_span[0].type == g.type:
            outcomes.append(("correct", g, same_span[0]))
        elif same_span:
            outcomes.append(("type", g, same_span[0]))
        elif same_type:
            outcomes.append(("boundary", g, same_type[0]))
        elif overlapping:
            outcomes.append(("boundary+type", g, overlapping[0]))
        else:
            outcomes.append(("missed", g, None))
    for p in sorted(predicted):
        if not any(_overlaps(g, p) for g in gold):
            outcomes.append(("spurious", None, p))
    return outcomes


def error_analysis(
    sentences_tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    max_examples: int = 5,
    repair: bool = True,
) -> ErrorAnalysis:
    """Count boundary, type, boundary+type, missed and spurious entity errors, with a few examples of each.

    ``repair`` as in :func:`evaluate_tags`, so the counts explain the F1 reported there:
    precision errors are spurious + all of boundary/type errors, recall errors are missed + them.
    """
    _check_shapes(gold, predicted)
    if len(sentences_tokens) != len(gold):
        raise ValueError(f"{len(sentences_tokens)} sentences but {len(gold)} tag sequences")
    analysis = ErrorAnalysis(correct=0)
    for index, (words, gold_tags, predicted_tags) in enumerate(zip(sentences_tokens, gold, predicted)):
        predicted_tags = repair_iob2(predicted_tags) if repair else list(predicted_tags)
        for category, g, p in classify_errors(spans_from_tags(gold_tags), spans_from_tags(predicted_tags)):
            if category == "correct":
                analysis.correct += 1
                continue
            analysis.counts[category] += 1
            if len(analysis.examples[category]) < max_examples:
                text = (lambda span: " ".join(words[span.start : span.end]) if span else None)
                analysis.examples[category].append(ErrorExample(category, index, g, p, text(g), text(p), " ".join(words)))
    return analysis
