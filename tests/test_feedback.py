"""Feedback a student can act on: a typical wrong answer to each exercise, and what it must be told.

``MISTAKES`` holds one typical wrong answer per exercise, written into the solution cell in
place of the solution. The fast tests feed each one to :func:`checks.check_against` on small
inputs and assert the report points at the mistake (first differing position, the parameter or
key that differs); the slow ones grade whole notebooks with those answers, as a student would,
and assert the same of the grade report.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import torch

from biobert_ner import alignment, batching, checks, evaluation, grading, inference, pretokenize, schemes, training

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO_ROOT / "solutions"

# notebook -> solution cell id -> a typical wrong body for the function that cell defines
MISTAKES: dict[str, dict[str, str]] = {
    "01_bert_basics.ipynb": {
        "wordpiece": """
pieces, start = [], 0
while start < len(word):
    end = len(word)
    while end > start and word[start:end] not in vocab:  # continuation pieces looked up without "##"
        end -= 1
    if end == start:
        return [unk]
    pieces.append(word[start:end])
    start = end
return pieces
""",
        "attention": """
return torch.softmax(q @ k.T, dim=-1) @ v  # not divided by sqrt(d)
""",
    },
    "02_biomedical_ner_data.ipynb": {
        "spans": """
spans, start, current = [], None, None
for i, tag in enumerate(tags):
    if start is not None and tag != f"I-{current}":
        spans.append((start, i, current))
        start, current = None, None
    if tag.startswith("B-"):
        start, current = i, tag[2:]
return spans  # the entity still open at the end is lost
""",
        "iob1_to_iob2": """
result, previous = [], "O"
for tag in tags:
    result.append("B-" + tag[2:] if tag.startswith("I-") and previous == "O" else tag)  # a change of type is not a start
    previous = tag
return result
""",
    },
    "03_label_alignment.ipynb": {
        "align_first": """
return [-100 if word_id is None else word_labels[word_id] for word_id in word_ids]  # every sub-word labelled
""",
        "merge_windows": """
merged = []
for position in range(num_tokens):
    best, best_margin = None, -1
    for index, window in enumerate(windows):
        if window.start <= position < window.end:
            margin = min(position - window.start, window.end - 1 - position)
            if margin >= best_margin:  # ties go to the later window
                best, best_margin = window_predictions[index][position - window.start], margin
    merged.append(best)
return merged
""",
    },
    "04_fine_tuning_loop.ipynb": {
        "learning_rate": """
if step < warmup:
    return peak * step / warmup
return peak * (total - step) / total  # decays over all the updates, not those after the warm-up
""",
        "train_epoch": """
model.train()
loss_sum = labelled = 0
for batch in loader:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"].flatten()
    token_losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels, ignore_index=-100, reduction="sum")
    (token_losses / labelled_per_batch).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()  # after every batch: accumulation_steps ignored
    scheduler.step()
    optimizer.zero_grad()
    loss_sum += token_losses.item()
    labelled += (labels != -100).sum().item()
return loss_sum / labelled
""",
        "predict_word_tags": """
model.eval()
tags = []
with torch.no_grad():
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start : start + batch_size]
        encoding = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        predicted = model(input_ids=encoding["input_ids"], attention_mask=encoding["attention_mask"]).logits.argmax(-1)
        for row, words in enumerate(batch):
            piece = {}
            for position, word in enumerate(encoding.word_ids(row)):
                if word is not None:
                    piece[word] = int(predicted[row, position])  # the last sub-word wins, not the first
            tags.append([model.config.id2label[piece[word]] if word in piece else "O" for word in range(len(words))])
return tags
""",
    },
    "05_evaluation.ipynb": {
        "entity_scores": """
correct = gold_count = predicted_count = 0
for gold_tags, predicted_tags in zip(gold, predicted):
    gold_spans, predicted_spans = set(schemes.spans_from_tags(gold_tags)), set(schemes.spans_from_tags(predicted_tags))
    gold_count, predicted_count = gold_count + len(gold_spans), predicted_count + len(predicted_spans)
    correct += len(gold_spans & predicted_spans)
precision = correct / gold_count if gold_count else 0.0  # precision and recall swapped
recall = correct / predicted_count if predicted_count else 0.0
return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0
""",
        "classify_errors": """
outcomes = []
for g in sorted(gold_spans):
    overlapping = [p for p in sorted(predicted_spans) if p.start < g.end and g.start < p.end]
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
return outcomes  # the spurious predictions are forgotten
""",
    },
    "06_full_gpu_fine_tuning.ipynb": {
        "padding_share": """
shares = [1 - sum(batch) / (max(batch) * len(batch)) for batch in batches if batch]
return sum(shares) / len(shares) if shares else 0.0  # the mean of the batches' shares: small batches weigh too much
""",
        "to_bfloat16": """
bits = np.asarray(values, dtype=np.float32).view(np.uint32)
return (bits & 0xFFFF0000).view(np.float32)  # truncated, not rounded
""",
    },
    "07_inference.ipynb": {
        "token_predictions": """
logits = np.asarray(logits, dtype=np.float32)
shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
probabilities = shifted / shifted.sum(axis=-1, keepdims=True)  # [CLS] and [SEP] kept
return [(int(label), float(probabilities[i, label])) for i, label in enumerate(probabilities.argmax(axis=-1))]
""",
        "entities_with_offsets": """
spans = []
for i, tag in enumerate(tags):
    prefix, _, entity_type = tag.partition("-")
    if prefix == "B":
        spans.append([i, i + 1, entity_type])
    elif prefix == "I" and spans and spans[-1][1] == i and spans[-1][2] == entity_type:
        spans[-1][1] = i + 1  # an I- tag that starts an entity is dropped
return [(t, text[words[a].start:words[b - 1].end], words[a].start, words[b - 1].end) for a, b, t in spans]
""",
    },
}

# (notebook, test cell) -> patterns the grade report of that test must contain with the mistake above
REPORTS: dict[tuple[str, str], list[str]] = {
    ("01_bert_basics.ipynb", "test_wordpiece"): [r"first difference at position 1: returned '(\w+)', expected '##\1'"],
    ("01_bert_basics.ipynb", "test_attention"): [r"values differ; largest absolute difference [\d.e-]+ at \[\d+, \d+\]"],
    ("02_biomedical_ner_data.ipynb", "test_spans"): [r"returned nothing \(the list ends\), expected \(\d+, \d+, '\w+'\)"],
    ("02_biomedical_ner_data.ipynb", "test_iob1_to_iob2"): [r"\(IOB1 tag 'I-(\w+)' after 'I-\w+'\): returned 'I-\1', expected 'B-\1'"],
    ("03_label_alignment.ipynb", "test_align_first"): [
        r"\(token '##\w+', word id \d+\): returned \d+, expected -100",
        r"\d+ of \d+ positions differ",
    ],
    ("03_label_alignment.ipynb", "test_merge_windows"): [r"\(in windows \[(\d+), (\d+)\]\): returned \(\2, (\d+)\), expected \(\1, \3\)"],
    ("04_fine_tuning_loop.ipynb", "test_learning_rate"): [r"learning_rate\(6, 6, 60, 0\.0005\)\n  returned 0\.00045, expected 0\.0005"],
    ("04_fine_tuning_loop.ipynb", "test_train_epoch"): [
        r"after epoch 1: optimizer\.step\(\) ran 46 times in all, train\(\)'s 16 \(train\(\) updates once per 3 batches",
    ],
    ("04_fine_tuning_loop.ipynb", "test_predict_word_tags"): [r"sentence \d+, word \d+ '[^']+' \(sub-words [^)]+\): returned '[\w-]+', expected '[\w-]+'\n\d+ of \d+ words differ"],
    ("05_evaluation.ipynb", "test_entity_scores"): [r"first difference at position 0 \(precision\)"],
    ("05_evaluation.ipynb", "test_classify_errors"): [r"returned nothing \(the list ends\), expected \('spurious', None, Span\("],
    ("06_full_gpu_fine_tuning.ipynb", "test_padding_share"): [r"returned 0\.\d+, expected 0\.\d+ \(off by"],
    ("06_full_gpu_fine_tuning.ipynb", "test_to_bfloat16"): [r"values differ; largest absolute difference [\d.e-]+ at \[\d+\]"],
    ("07_inference.ipynb", "test_token_predictions"): [
        r"returned (\d+) items, expected \d+\n.*not expected: position 0: \(\d+, [\d.]+\); position \d+: ",
        r"position 0 \(logits row 1\)",
    ],
    ("07_inference.ipynb", "test_entities_with_offsets"): [
        r"missing: position \d+: \('\w+', '[^']+', \d+, \d+\)",
        r"first difference at position \d+: returned \('\w+', .*\), expected \('\w+', ",
    ],
}


def with_mistakes(notebook, mistakes: dict[str, str]):
    """``notebook`` with the solution region of each cell in ``mistakes`` replaced by the wrong body."""
    for cell in notebook.cells:
        if cell.get("id") in mistakes:
            indent = re.search(r"^([ \t]*)" + re.escape(grading.BEGIN_SOLUTION), cell.source, re.M).group(1)
            body = "\n".join(indent + line if line else line for line in mistakes[cell["id"]].strip("\n").splitlines())
            region = re.compile(r"^[ \t]*" + re.escape(grading.BEGIN_SOLUTION) + r".*?" + re.escape(grading.END_SOLUTION), re.S | re.M)
            cell.source = region.sub(lambda _: body, cell.source)
    return notebook


def wrong_function(notebook_name: str, cell_id: str):
    """The function a solution cell defines, with the typical mistake in place of the solution."""
    notebook = with_mistakes(nbformat.read(SOLUTIONS / notebook_name, as_version=4), MISTAKES[notebook_name])
    source = next(cell.source for cell in notebook.cells if cell.get("id") == cell_id)
    namespace = {"np": np, "torch": torch, "schemes": schemes}
    exec(compile(source, f"{notebook_name}:{cell_id}", "exec"), namespace)
    return namespace[re.search(r"^def (\w+)", source, re.M).group(1)]


def report_of(student, reference, cases, **options) -> str:
    with pytest.raises(AssertionError) as failure:
        checks.check_against(student, reference, cases, **options)
    return str(failure.value)


def assert_points_at(report: str, patterns: list[str]) -> None:
    for pattern in patterns:
        assert re.search(pattern, report), f"the report does not match {pattern!r}:\n{report}"
    assert "tensor(" not in report and "Parameter containing" not in report, f"a tensor is printed:\n{report}"


# ---------------------------------------------------------------- each exercise's typical mistake, on small inputs


def _wordpiece_reference():
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece

    vocab = {piece: i for i, piece in enumerate(["[UNK]", "02", "2", "##2", "nap", "##h", "##th", "##alene", "th", "alene"])}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    return vocab, lambda word: tokenizer.encode(word, add_special_tokens=False).tokens


def test_wordpiece_without_hashes_is_shown_the_first_wrong_piece():
    vocab, reference = _wordpiece_reference()
    wordpiece = wrong_function("01_bert_basics.ipynb", "wordpiece")
    report = report_of(lambda word: wordpiece(word, vocab), reference, [("nap",), ("022",)], name="wordpiece")
    assert_points_at(report, REPORTS["01_bert_basics.ipynb", "test_wordpiece"] + [r"wordpiece\('022'\)"])


def test_attention_without_scaling_gets_the_largest_difference_not_the_tensors():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, 8, generator=generator) for _ in range(3))
    report = report_of(
        wrong_function("01_bert_basics.ipynb", "attention"), torch.nn.functional.scaled_dot_product_attention, [(q, k, v)],
        describe=lambda case: f"q, k, v of shape {tuple(case[0].shape)}", tolerance=1e-5,
    )
    assert_points_at(report, REPORTS["01_bert_basics.ipynb", "test_attention"] + [r"\b48 of 48 values differ"])


def test_entity_spans_losing_the_last_entity_is_told_which_one():
    reference = lambda tags: [(s.start, s.end, s.type) for s in schemes.spans_from_tags(tags)]  # noqa: E731
    report = report_of(wrong_function("02_biomedical_ner_data.ipynb", "spans"), reference, [(["O", "B-Disease", "I-Disease"],)])
    assert_points_at(report, REPORTS["02_biomedical_ner_data.ipynb", "test_spans"] + [r"returned 0 items, expected 1"])


def test_iob1_to_iob2_ignoring_a_change_of_type_is_shown_the_tag_and_its_neighbour():
    report = report_of(
        wrong_function("02_biomedical_ner_data.ipynb", "iob1_to_iob2"), lambda tags: schemes.convert(tags, "IOB1", "IOB2"),
        [(["I-Chemical", "I-Disease", "O"],)], context=lambda case, i: f"IOB1 tag {case[0][i]!r} after {(['O'] + case[0])[i]!r}",
    )
    assert_points_at(report, REPORTS["02_biomedical_ner_data.ipynb", "test_iob1_to_iob2"] + [r"only position 1 differs"])


def test_align_first_labelling_every_sub_word_is_shown_the_token():
    word_ids, tokens = [None, 0, 0, 0, 1, None], ["[CLS]", "nap", "##th", "##alene", "is", "[SEP]"]
    report = report_of(
        wrong_function("03_label_alignment.ipynb", "align_first"), lambda ids, labels: alignment.align_labels(ids, labels, "first"),
        [(word_ids, [1, 0])], name="align_first", context=lambda case, i: f"token {tokens[i]!r}, word id {case[0][i]}",
    )
    assert_points_at(report, REPORTS["03_label_alignment.ipynb", "test_align_first"])
    assert "position 2 (token '##th', word id 0): returned 1, expected -100" in report and "2 of 6 positions differ" in report


def test_merge_windows_breaking_ties_late_is_shown_the_windows_of_the_position():
    windows = alignment.plan_windows(40, 10, 5)  # overlaps of 5: the middle one is a tie
    predictions = [[(w, position) for position in range(window.start, window.end)] for w, window in enumerate(windows)]
    report = report_of(
        wrong_function("03_label_alignment.ipynb", "merge_windows"), alignment.merge_window_predictions, [(windows, predictions, 40)],
        context=lambda case, i: f"in windows {[w for w, window in enumerate(case[0]) if window.start <= i < window.end]}",
        describe=lambda case: f"{len(case[0])} windows",
    )
    assert_points_at(report, REPORTS["03_label_alignment.ipynb", "test_merge_windows"] + [r"positions \d+-\d+: returned \["])


def test_learning_rate_decaying_from_the_start_is_shown_the_one_wrong_number():
    from transformers import get_linear_schedule_with_warmup

    def scheduler_rate(step, warmup, total, peak):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
        return get_linear_schedule_with_warmup(optimizer, warmup, total).lr_lambdas[0](step) * peak

    wrong = wrong_function("04_fine_tuning_loop.ipynb", "learning_rate")
    report = report_of(wrong, scheduler_rate, [(0, 6, 60, 5e-4), (6, 6, 60, 5e-4)], tolerance=1e-12)
    assert_points_at(report, REPORTS["04_fine_tuning_loop.ipynb", "test_learning_rate"])


def solution_function(notebook_name: str, cell_id: str):
    """The function a solution cell defines, as the solution writes it."""
    source = next(cell.source for cell in nbformat.read(SOLUTIONS / notebook_name, as_version=4).cells if cell.get("id") == cell_id)
    namespace = {"np": np, "torch": torch, "schemes": schemes}
    exec(compile(source, f"{notebook_name}:{cell_id}", "exec"), namespace)
    return namespace[re.search(r"^def (\w+)", source, re.M).group(1)]


class _Tagger(torch.nn.Module):
    """The smallest token classifier with BERT's calling convention: ``model(input_ids=..., attention_mask=...).logits``."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 3)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=self.embedding(input_ids))


def _one_epoch(train_epoch) -> tuple[int, float]:
    """Optimizer updates and returned loss of one epoch of 5 batches with ``accumulation_steps=2``."""
    torch.manual_seed(0)
    model = _Tagger()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    updates = []
    optimizer.register_step_post_hook(lambda *_: updates.append(1))
    generator = torch.Generator().manual_seed(0)
    loader = [
        {"input_ids": torch.randint(0, 10, (2, 5), generator=generator), "attention_mask": torch.ones(2, 5, dtype=torch.long),
         "labels": torch.randint(0, 3, (2, 5), generator=generator)}
        for _ in range(5)
    ]
    loss = train_epoch(model, loader, optimizer, scheduler, labelled_per_batch=10.0, accumulation_steps=2, max_grad_norm=1.0)
    return len(updates), round(loss, 6)


def test_train_epoch_updating_after_every_batch_is_shown_the_number_of_updates():
    """The library's half of the check (notebook 04 compares with training.train, epoch by epoch): updates counted."""
    right = solution_function("04_fine_tuning_loop.ipynb", "train_epoch")
    assert _one_epoch(right)[0] == 3  # batches 2 and 4 end an update, and the last batch one of its own
    report = report_of(lambda: _one_epoch(wrong_function("04_fine_tuning_loop.ipynb", "train_epoch")), lambda: _one_epoch(right), [()],
                       name="train_epoch", context=lambda case, i: ("optimizer updates", "loss")[i])
    assert_points_at(report, [r"first difference at position 0 \(optimizer updates\): returned 5, expected 3"])


def test_predict_word_tags_from_the_last_sub_word_is_shown_the_sentence():
    from biobert_ner import modelling

    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]
    model, tokenizer = modelling.build_tiny_bert(labels, seed=1)  # random weights: labels vary from sub-word to sub-word
    sentences = [["Hereditary", "nonpolyposis", "colorectal", "carcinoma"], ["A", "mutation", "in", "BRCA1"]]
    right = solution_function("04_fine_tuning_loop.ipynb", "predict_word_tags")
    library = lambda sentences: evaluation.predict_words(model, tokenizer, sentences).tags  # noqa: E731
    assert right(model, tokenizer, sentences) == library(sentences)
    wrong = wrong_function("04_fine_tuning_loop.ipynb", "predict_word_tags")
    report = report_of(lambda sentences: wrong(model, tokenizer, sentences), library, [(sentences,)], name="predict_word_tags",
                       context=lambda case, i: f"sentence {i}")
    assert_points_at(report, [r"first difference at position \d \(sentence \d\): returned \['"])


def test_entity_scores_swapping_precision_and_recall_is_shown_which_score():
    gold, predicted = [["B-Gene", "O", "B-Gene"]], [["B-Gene", "O", "O"]]

    def library_scores(gold, predicted):
        report = evaluation.evaluate_tags(gold, predicted)
        return report.precision, report.recall, report.entity_f1

    report = report_of(
        wrong_function("05_evaluation.ipynb", "entity_scores"), library_scores, [(gold, predicted)], tolerance=1e-9,
        context=lambda case, i: ("precision", "recall", "f1")[i],
    )
    assert_points_at(report, REPORTS["05_evaluation.ipynb", "test_entity_scores"] + [r"returned 0\.5, expected 1\.0"])


def test_classify_errors_forgetting_spurious_predictions_is_shown_the_missing_outcome():
    gold, predicted = [schemes.Span(0, 2, "Gene")], [schemes.Span(0, 2, "Gene"), schemes.Span(4, 5, "Disease")]
    report = report_of(wrong_function("05_evaluation.ipynb", "classify_errors"), evaluation.classify_errors, [(gold, predicted)])
    assert_points_at(report, REPORTS["05_evaluation.ipynb", "test_classify_errors"] + [r"returned 1 item, expected 2"])


def test_padding_share_averaging_the_batches_is_shown_both_numbers():
    wrong = wrong_function("06_full_gpu_fine_tuning.ipynb", "padding_share")
    report = report_of(wrong, batching.padding_fraction, [([[3, 5], [4, 4, 4, 4]],)], tolerance=1e-12)
    assert_points_at(report, REPORTS["06_full_gpu_fine_tuning.ipynb", "test_padding_share"])


def test_to_bfloat16_truncating_is_shown_the_largest_difference():
    values = np.array([1.0, 1.00390625, 1.005859375, -3.1415927, 0.1], dtype=np.float32)
    reference = lambda values: torch.from_numpy(values).to(torch.bfloat16).float().numpy()  # noqa: E731
    report = report_of(wrong_function("06_full_gpu_fine_tuning.ipynb", "to_bfloat16"), reference, [(values,)])
    assert_points_at(report, REPORTS["06_full_gpu_fine_tuning.ipynb", "test_to_bfloat16"])
    float64 = report_of(lambda values: reference(values).astype(np.float64), reference, [(values,)])
    assert "returned dtype float64, expected float32" in float64


def test_token_predictions_keeping_the_special_tokens_is_told_the_lengths():
    logits = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    report = report_of(
        wrong_function("07_inference.ipynb", "token_predictions"), inference.token_predictions, [(logits,)], tolerance=1e-5,
        context=lambda case, i: f"logits row {i + 1}",
    )
    assert_points_at(report, REPORTS["07_inference.ipynb", "test_token_predictions"])
    assert "returned 5 items, expected 3\n  not expected: position 0: (2, 0.48" in report and "; position 4: (1, 0.67" in report


def test_entities_with_offsets_dropping_a_leading_i_tag_is_shown_the_entity():
    text = "fever and cough"
    def library(text, words, tags):
        return [(e.type, e.text, e.start, e.end) for e in alignment.entities_from_word_tags(text, words, tags)]

    cases = [(text, pretokenize.pretokenize(text), ["I-Disease", "O", "B-Disease"])]
    report = report_of(wrong_function("07_inference.ipynb", "entities_with_offsets"), library, cases)
    assert_points_at(report, REPORTS["07_inference.ipynb", "test_entities_with_offsets"])
    assert "returned ('Disease', 'cough', 10, 15), expected ('Disease', 'fever', 0, 5)" in report


# ---------------------------------------------------------------- the comparison helpers


def test_a_long_sequence_is_shown_around_its_first_difference_only():
    expected = list(range(100))
    actual = expected[:60] + [-1] + expected[61:]
    report = checks.sequence_difference(actual, expected, context=lambda i: f"token {i}")
    assert report.splitlines()[0] == "first difference at position 60 (token 60): returned -1, expected 60"
    assert "only position 60 differs" in report and "positions 57-63: returned [57, 58, 59, -1, 61, 62, 63]" in report
    assert "99" not in report


def test_a_list_for_a_tuple_is_fine_only_the_items_count():
    assert checks.difference([0.5, [1, 2]], (0.5, (1, 2))) is None
    assert checks.difference("ab", ["a", "b"]) == "returned 'ab' (a str), expected a list"


def test_an_item_too_many_or_too_few_is_named_with_its_position():
    report = checks.sequence_difference(["a", "b", "c"], ["a", "x", "b", "c"])
    assert report.splitlines()[:3] == ["returned 3 items, expected 4", "missing: position 1: 'x'", "first difference at position 1: returned 'b', expected 'x'"]
    report = checks.sequence_difference(list(range(10)), list(range(1, 10)))
    assert report.splitlines()[:2] == ["returned 10 items, expected 9", "not expected: position 0: 0"]
    assert "not expected" not in checks.sequence_difference([1, 2, 3], [4, 5])  # nothing lines up: nothing to list


def test_tensors_are_described_by_shape_dtype_and_largest_difference():
    expected = torch.zeros(50, 40)
    actual = expected.clone()
    actual[7, 3] = 0.5
    assert checks.tensor_difference(actual, expected) == (
        "1 of 2000 values differ; largest absolute difference 0.5 at [7, 3]: returned 0.5, expected 0"
    )
    assert checks.tensor_difference(actual, expected, tolerance=1.0) is None
    assert checks.tensor_difference(expected[:, :4], expected) == "returned shape (50, 4), expected (50, 40)"
    assert checks.tensor_difference(expected.double(), expected) == "returned dtype torch.float64, expected torch.float32"
    assert checks.tensor_difference([0.0], expected).startswith("returned list, expected a Tensor of shape (50, 40)")
    call = report_of(lambda x: actual, lambda x: expected, [(torch.nn.Parameter(expected),)], name="f")
    assert call.startswith("f(Parameter of shape (50, 40))") and "Parameter containing" not in call


def test_state_dicts_name_missing_extra_and_different_keys():
    expected = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2), "b.weight": torch.ones(4)}
    actual = {"a.weight": torch.zeros(2, 3) + 0.1, "a.bias": torch.zeros(2), "c.weight": torch.ones(4)}
    report = checks.state_dict_difference(actual, expected, tolerance=0.01)
    assert report.splitlines() == [
        "1 key missing:",
        "  b.weight",
        "1 key not expected:",
        "  c.weight",
        "1 of 3 tensors differ by more than 0.01, largest difference first:",
        "  a.weight (2, 3): 6 of 6 values differ; largest absolute difference 0.1 at [0, 0]: returned 0.1, expected 0",
    ]
    assert checks.state_dict_difference(dict(expected), expected) is None


def test_parameter_groups_are_compared_parameter_by_parameter():
    model = torch.nn.Sequential(OrderedDict(dense=torch.nn.Linear(4, 4), norm=torch.nn.LayerNorm(4)))
    names = checks.parameter_names(model)
    expected = training.parameter_groups(model, 0.1)
    assert checks.parameter_groups_difference(list(reversed(expected)), expected, names) is None  # order does not matter
    all_decayed = [{"params": list(model.parameters()), "weight_decay": 0.1}]
    report = checks.parameter_groups_difference(all_decayed, expected, names)
    assert report.splitlines() == [
        "3 parameters should have weight_decay 0.0, not 0.1:",
        "  dense.bias: shape (4,)",
        "  norm.weight: shape (4,)",
        "  norm.bias: shape (4,)",
    ]
    report = checks.parameter_groups_difference(expected[:1], expected, names)
    assert report.startswith("3 parameters should be in a group:\n  dense.bias: shape (4,)")
    assert "expected a list of dicts" in checks.parameter_groups_difference(model.parameters(), expected, names)


def test_an_exception_in_the_students_code_names_the_line():
    def student(x):
        values = [0, 1]
        return values[x]

    report = report_of(student, lambda x: x, [(1,), (5,)], name="pick")
    assert report.startswith("pick(5)\n  raised IndexError: list index out of range\n  in student, line")
    assert "return values[x]" in report


# ---------------------------------------------------------------- what reaches the grade report


def test_the_report_shows_what_a_failed_test_printed_in_a_few_lines():
    printed = grading._cell_text({"outputs": [
        {"output_type": "stream", "name": "stderr", "text": "epoch 1:   0%|     | 0/8 [00:00<?]\repoch 1: 100%|#####| 8/8 [00:01]\n"},
        {"output_type": "stream", "name": "stdout", "text": "".join(f"line {i}\n" for i in range(30))},
    ]})
    assert printed.splitlines()[0] == "line 0" and "%|" not in printed
    assert len(printed.splitlines()) == grading.REPORT_LINES + 1 and printed.endswith(f"... ({30 - grading.REPORT_LINES} more lines)")
    result = grading.ExerciseResult("test_f", False, 1, "f(1)\n  returned 2, expected 3", "hint: look at f")
    assert str(grading.GradeReport("n.ipynb", [result])).splitlines()[1:] == [
        "  FAIL  test_f (1 pt)",
        "        f(1)",
        "          returned 2, expected 3",
        "        printed: hint: look at f",
    ]


def test_the_students_notebook_says_what_to_edit_and_how_to_grade():
    for solution in grading.solution_paths(SOLUTIONS):
        exercise = nbformat.read(REPO_ROOT / "exercises" / solution.name, as_version=4)
        note = next(cell.source for cell in exercise.cells if cell.get("id") == grading.GENERATED_NOTE_ID)
        assert "Work in this notebook" in note and f"biobert-ner grade exercises/{solution.name}" in note
        text = nbformat.writes(exercise)
        assert "edit the solution, not this file" not in text and "not this file" not in note
        assert exercise.metadata["biobert_ner"]["generated_from"] == f"solutions/{solution.name}"


def test_kernels_for_grading_run_without_a_plaintext_channel():
    import zmq

    manager = grading._kernel_config()["KernelManager"]
    assert manager == ({"transport_encryption": "auto"} if zmq.has("curve") else {"transport": "ipc"})


# ---------------------------------------------------------------- whole notebooks, graded as a student would


@pytest.mark.slow
@pytest.mark.parametrize("notebook_name", sorted(MISTAKES), ids=lambda name: name[:2])
def test_each_typical_mistake_gets_a_report_that_points_at_it(notebook_name, tmp_path, capfd):
    path = tmp_path / notebook_name
    nbformat.write(with_mistakes(nbformat.read(SOLUTIONS / notebook_name, as_version=4), MISTAKES[notebook_name]), str(path))
    report = grading.grade_notebook(path)
    quiet = capfd.readouterr().err
    assert not re.search(r"WARNING|Kernel is running|nbgrader", quiet), f"a grade run is not quiet:\n{quiet}"
    assert report.results and not report.other_errors, str(report)
    for result in report.results:
        assert not result.passed, f"{result.grade_id} passes with a typical mistake: the test misses it"
        assert_points_at(f"{result.message}\n{result.printed}", REPORTS[notebook_name, result.grade_id])
    print(report)  # pytest -rA shows it: a sample of what a student is told
