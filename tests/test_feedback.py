"""Feedback a student can act on: a typical wrong answer to each exercise, and what it must be told.

``MISTAKES`` holds one typical wrong answer per exercise, written into the solution cell in
place of the solution. The fast tests feed each one to :func:`checks.check_against` on small
inputs and assert the report points at the mistake (first differing position, the parameter or
key that differs); the slow ones grade whole notebooks with those answers, as a student would,
and assert the same of the grade report.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, OrderedDict
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
import torch

import biobert_ner.entities
import biobert_ner.windows
from biobert_ner import alignment, baselines, batching, checks, corpus_statistics, data, evaluation, grading, inference, optimization, pretokenize, schemes

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
        "fragmentation": """
rows = {}
for tokens, tags in zip(split["tokens"], split["ner_tags"]):
    for span in schemes.spans_from_tags([label_names[tag] for tag in tags]):
        pieces = [len(tokenizer.tokenize(word)) for word in tokens[span.start : span.end]]
        rows.setdefault(span.type, []).append((len(pieces), sum(pieces) / len(pieces), sum(pieces)))
return {
    entity_type: {
        "entities": len(r),
        "words_per_entity": sum(words for words, _, _ in r) / len(r),
        "pieces_per_word": sum(mean for _, mean, _ in r) / len(r),  # a mean of means: long entities weigh too little
        "pieces_per_entity": sum(pieces for _, _, pieces in r) / len(r),
    }
    for entity_type, r in sorted(rows.items())
}
""",
        "fragmentation_answers": """
table = fragmentation(dataset["test"], tokenizer, labels)
return max(table, key=lambda t: table[t]["pieces_per_word"]), "more pieces per word"  # per word, not per entity
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
        "memorise_mentions": """
return {
    tuple(sentence.tokens[span.start : span.end]): span.type  # not lower-cased: "Breast cancer" and "breast cancer" differ
    for sentence in sentences
    for span in schemes.spans_from_tags(sentence.tags)
}
""",
        "dictionary_tags": """
longest = max((len(key) for key in dictionary), default=0)
lowered = [word.lower() for word in words]
tags, i = ["O"] * len(words), 0
while i < len(words):
    for size in range(1, min(longest, len(words) - i) + 1):  # the shortest match first
        key = tuple(lowered[i : i + size])
        if key in dictionary:
            tags[i : i + size] = [f"B-{dictionary[key]}"] + [f"I-{dictionary[key]}"] * (size - 1)
            i += size
            break
    else:
        i += 1
return tags
""",
        "my_annotations": """
return [
    "Carriers of [PALB2]{Gene} truncating variants face an increased risk of pancreatic and [gastric cancer]{Disease}.",
    "[Anthracycline]{Chemical}-induced [cardiomyopathy]{Disease} was less frequent with [dexrazoxane]{Chemical} pretreatment.",
    "[Vincristine]{Chemical} [neurotoxicity]{Disease} is more frequent in carriers of a [CEP72]{Gene} promoter variant.",
    "[Tumour necrosis factor]{Gene} ([TNF]{Gene}) inhibition with [infliximab]{Chemical} induced remission in patients with [severe ulcerative colitis]{Disease} ([UC]{Disease}).",
    "The [PARP]{Gene} inhibitor [olaparib]{Chemical} added to chemotherapy prolonged survival of [BRCA2]{Gene}-mutated metastatic [prostate cancer]{Disease}.",
]
""",
    },
    "03_label_alignment.ipynb": {
        "truncation_cost": """
encodings = tokenizer([s.tokens for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length)
cost = {"sentences": 0, "words": 0, "mentions": 0}
for i, sentence in enumerate(sentences):
    kept = {word_id for word_id in encodings.word_ids(i) if word_id is not None}
    lost = len(sentence.tokens) - len(kept)
    cost["sentences"] += lost > 0
    cost["words"] += lost
    for span in schemes.spans_from_tags(sentence.tags):
        cost["mentions"] += all(word not in kept for word in range(span.start, span.end))  # only mentions cut whole
return cost
""",
        "loss_label_counts": """
encodings = tokenizer([s.tokens for s in sentences], is_split_into_words=True)
counts = Counter()
for i, sentence in enumerate(sentences):
    previous = None
    for word_id in encodings.word_ids(i):
        if word_id is not None and (strategy == "all" or word_id != previous):
            counts[sentence.tags[word_id]] += 1  # the continuation pieces of a B- word stay B-
        previous = word_id
return dict(counts)
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
        "mode_disagreements": """
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import Entities

strict = Entities([list(tags) for tags in tag_sequences], IOB2).entities
return [i for i, tags in enumerate(tag_sequences) if set(get_entities(list(tags))) != {(e.tag, e.start, e.end) for e in strict[i]}]  # end excluded in one, included in the other
""",
        "modes_disagree": """
previous = "O"
for tag in tags:
    if tag.startswith("I-") and previous == "O":  # an I- after an entity of another type is missed
        return True
    previous = tag
return False
""",
        "f1_three_ways": """
f1_default = f1_score(gold, predicted)
f1_strict = f1_score(gold, predicted, mode="strict", scheme=IOB2)
return f1_default, f1_strict, f1_strict  # the repair is forgotten
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
        "seed_sd": """
deviations = []
for scores in runs.values():
    mean = sum(scores) / len(scores)
    deviations.append(math.sqrt(sum((score - mean) ** 2 for score in scores) / (len(scores) - 1)))
return sum(deviations) / len(deviations)  # the mean of the standard deviations underestimates σ
""",
        "is_meaningful": """
return abs(difference) > 2 * sd  # the sd of one run, not of the difference of two
""",
        "seeds_needed": """
n = 1
while not abs(difference) > 2 * sd / math.sqrt(n):  # the √2 of a difference is forgotten
    n += 1
return n
""",
        "seed_answers": """
sigma = 100 * seed_sd(seed_runs)  # in points, not in F1
return sigma, is_meaningful(0.005, sigma), seeds_needed(0.005, sigma), False
""",
        "card_facts": r"""
import re

micro = re.search(r"\*\*all \(micro\)\*\* \|[^\n]*\*\*([\d.]+)\*\*", card).group(1)  # the first table is dev, not test
return {
    "labels": re.search(r"\*\*Labels\*\*: (.*) \(IOB2\)", card).group(1).split(", "),
    "max_length": int(re.search(r"sentences cut at (\d+) sub-words", card).group(1)),
    "label_strategy": re.search(r"labels on (\w+) sub-words", card).group(1),
    "dev_f1": float(micro),
    "test_f1": float(micro),
}
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
        "cut_entities": """
first = {}
for position, word in enumerate(word_ids):
    first.setdefault(word, position)
return [s for s in spans if not any(w.start <= first[s.start] and first[s.end - 1] < w.end for w in windows)]  # the last word's other pieces
""",
        "smallest_safe_stride": """
for stride in range(window_length - 2):
    word_ids, spans = tokenized[0]  # only the first document is looked at
    if not cut_entities(word_ids, biobert_ner.windows.plan_windows(len(word_ids), window_length - 2, stride), spans):
        return stride
""",
        "stride_answers": """
cut_at_zero = sum(len(cut_entities(ids, biobert_ner.windows.plan_windows(len(ids), 126, 0), spans)) for ids, spans in tokenized)
longest_entity = max(span.end - span.start for _, spans in tokenized for span in spans)  # in words, not sub-words
return cut_at_zero, smallest_safe_stride(tokenized, 128), longest_entity
""",
    },
}

# (notebook, test cell) -> patterns the grade report of that test must contain with the mistake above
REPORTS: dict[tuple[str, str], list[str]] = {
    ("01_bert_basics.ipynb", "test_wordpiece"): [r"first difference at position 1: returned '(\w+)', expected '##\1'"],
    ("01_bert_basics.ipynb", "test_fragmentation"): [r"\w+ pieces_per_word: returned [\d.]+, expected [\d.]+"],
    ("01_bert_basics.ipynb", "test_fragmentation_answers"): [r"position 0: returned 'Chemical', expected 'Disease'"],
    ("02_biomedical_ner_data.ipynb", "test_spans"): [r"returned nothing \(the list ends\), expected \(\d+, \d+, '\w+'\)"],
    ("02_biomedical_ner_data.ipynb", "test_iob1_to_iob2"): [r"\(IOB1 tag 'I-(\w+)' after 'I-\w+'\): returned 'I-\1', expected 'B-\1'"],
    ("02_biomedical_ner_data.ipynb", "test_memorise_mentions"): [r"keys? missing:\n +\('[a-z]", r"keys? not expected:\n(?: +.*\n)*? +\('[A-Z]"],
    ("02_biomedical_ner_data.ipynb", "test_dictionary_tags"): [r"\(word '[^']+'\): returned '(O|B-\w+)', expected 'I-\w+'"],
    ("02_biomedical_ner_data.ipynb", "test_my_annotations"): [
        r"agreement with the annotators \(entity F1\) on the 5 sentences read: 0\.\d\d",
        r"sentence 1: other boundaries: 'gastric cancer' \(Disease\) where the answer is 'pancreatic and gastric cancer' \(Disease\)",
        r"the deciding rule: coordinations that share a head",
        r"sentence 4: other boundaries: 'severe ulcerative colitis' \(Disease\) where the answer is 'ulcerative colitis' \(Disease\)",
    ],
    ("03_label_alignment.ipynb", "test_truncation_cost"): [r"1 key with another value:\n +'mentions': returned (\d+), expected (?!\1)\d+"],
    ("03_label_alignment.ipynb", "test_loss_label_counts"): [r"strategy='all'", r"'B-Disease': returned \d+, expected \d+"],
    ("03_label_alignment.ipynb", "test_merge_windows"): [r"\(in windows \[(\d+), (\d+)\]\): returned \(\2, (\d+)\), expected \(\1, \3\)"],
    ("04_fine_tuning_loop.ipynb", "test_learning_rate"): [r"learning_rate\(6, 6, 60, 0\.0005\)\n  returned 0\.00045, expected 0\.0005"],
    ("04_fine_tuning_loop.ipynb", "test_train_epoch"): [
        r"after epoch 1: optimizer\.step\(\) ran 46 times in all, train\(\)'s 23 \(train\(\) updates once per 2 batches",
    ],
    ("04_fine_tuning_loop.ipynb", "test_predict_word_tags"): [r"sentence \d+, word \d+ '[^']+' \(sub-words [^)]+\): returned '[\w-]+', expected '[\w-]+'\n\s*\d+ of \d+ words differ"],
    ("04_fine_tuning_loop.ipynb", "test_dev_f1"): [r"dev_f1\(the best tiny BERT of train\(\), scored from your tags\)\n  returned 0\.\d+, expected 0\.\d+ \(off by"],
    ("05_evaluation.ipynb", "test_entity_scores"): [r"first difference at position 0 \(precision\)"],
    ("05_evaluation.ipynb", "test_classify_errors"): [r"returned nothing \(the list ends\), expected \('spurious', None, Span\("],
    ("05_evaluation.ipynb", "test_mode_disagreements"): [r"mode_disagreements\(\d+ tag sequences\)\n  returned \d+ items, expected \d+"],
    ("05_evaluation.ipynb", "test_modes_disagree"): [r"modes_disagree\(\[.*'B-(\w+)', 'I-(?!\1)\w+'.*\]\)\n  returned False, expected True"],
    ("05_evaluation.ipynb", "test_f1_three_ways"): [r"position 2 \(f1_repaired\)"],
    ("06_full_gpu_fine_tuning.ipynb", "test_padding_share"): [r"returned 0\.\d+, expected 0\.\d+ \(off by"],
    ("06_full_gpu_fine_tuning.ipynb", "test_to_bfloat16"): [r"values differ; largest absolute difference [\d.e-]+ at \[\d+\]"],
    ("06_full_gpu_fine_tuning.ipynb", "test_seed_sd"): [r"seed_sd\(10 recipes\)\n  returned 0\.\d+, expected 0\.\d+ \(off by"],
    ("06_full_gpu_fine_tuning.ipynb", "test_is_meaningful"): [r"is_meaningful\(0\.0\d+, 0\.00\d+\)\n  returned True, expected False"],
    ("06_full_gpu_fine_tuning.ipynb", "test_seeds_needed"): [r"seeds_needed\(0\.005, 0\.00\d+\)\n  returned \d+, expected \d+"],
    ("06_full_gpu_fine_tuning.ipynb", "test_seed_answers"): [r"position 0 \(sigma\)"],
    ("06_full_gpu_fine_tuning.ipynb", "test_card_facts"): [r"card_facts\(the card of build/models/[\w-]+/model\)\n  test_f1: returned 0\.\d+, expected 0\.\d+"],
    ("07_inference.ipynb", "test_token_predictions"): [
        r"returned (\d+) items, expected \d+\n.*not expected: position 0: \(\d+, [\d.]+\); position \d+: ",
        r"position 0 \(logits row 1\)",
    ],
    ("07_inference.ipynb", "test_entities_with_offsets"): [
        r"missing: position \d+: \('\w+', '[^']+', \d+, \d+\)",
        r"first difference at position \d+: returned \('\w+', .*\), expected \('\w+', ",
    ],
    ("07_inference.ipynb", "test_cut_entities"): [r"returned \d+ items?, expected \d+\n", r"expected Span\(start=\d+, end=\d+, type='Disease'\)"],
    ("07_inference.ipynb", "test_smallest_safe_stride"): [r"smallest_safe_stride\(\d+ documents, window_length=128\)\n  returned 0, expected \d+"],
    ("07_inference.ipynb", "test_stride_answers"): [
        r"stride_answers\(\d+ documents\)\n  first difference at position \d \((cut_at_zero|safe_stride|longest_entity)\)",
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
    namespace = {"np": np, "torch": torch, "schemes": schemes, "alignment": alignment, "Counter": Counter, "math": math}
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


def test_fragmentation_as_a_mean_of_means_is_shown_the_type_and_the_number():
    dataset = {"tokens": [["nephrotoxicity", "cisplatin"], ["acute", "kidney", "injury"]], "ner_tags": [[1, 3], [3, 4, 4]]}
    names = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    tokenizer = SimpleNamespace(tokenize=lambda word: [word[i : i + 4] for i in range(0, len(word), 4)])  # pieces of 4 letters

    def reference(split, tokenizer, label_names):  # what the solution computes: totals first, divided at the end
        return {"Chemical": {"entities": 1, "words_per_entity": 1.0, "pieces_per_word": 4.0, "pieces_per_entity": 4.0},
                "Disease": {"entities": 2, "words_per_entity": 2.0, "pieces_per_word": 9 / 4, "pieces_per_entity": 4.5}}

    report = report_of(
        wrong_function("01_bert_basics.ipynb", "fragmentation"), reference, [(dataset, tokenizer, names)],
        explain=lambda actual, expected: next(
            (f"{t} {key}: {checks.difference(actual[t][key], value)}" for t, row in expected.items() for key, value in row.items()
             if checks.difference(actual[t][key], value)), None),
    )
    assert_points_at(report, REPORTS["01_bert_basics.ipynb", "test_fragmentation"])


def test_modes_disagree_missing_a_change_of_type_is_shown_the_sequence():
    from seqeval.metrics.sequence_labeling import get_entities
    from seqeval.scheme import IOB2, Entities

    def reference(tags):
        return set(get_entities(list(tags))) != {(e.tag, e.start, e.end - 1) for e in Entities([list(tags)], IOB2).entities[0]}

    cases = [(["O", "I-Gene"],), (["B-Gene", "I-Gene"],), (["B-Gene", "I-Chemical"],)]
    report = report_of(wrong_function("05_evaluation.ipynb", "modes_disagree"), reference, cases, name="modes_disagree")
    assert_points_at(report, REPORTS["05_evaluation.ipynb", "test_modes_disagree"])


def test_seed_sd_averaging_standard_deviations_is_shown_both_numbers():
    runs = {"a": [0.80, 0.82], "b": [0.81, 0.81], "c": [0.79, 0.83], "d": [0.80, 0.80], "e": [0.70, 0.71],
            "f": [0.6, 0.6], "g": [0.5, 0.52], "h": [0.9, 0.9], "i": [0.8, 0.8], "j": [0.7, 0.7]}
    report = report_of(
        wrong_function("06_full_gpu_fine_tuning.ipynb", "seed_sd"), lambda r: float(np.sqrt(np.mean([np.var(v, ddof=1) for v in r.values()]))),
        [(runs,)], name="seed_sd", tolerance=1e-12, describe=lambda case: f"{len(case[0])} recipes",
    )
    assert_points_at(report, REPORTS["06_full_gpu_fine_tuning.ipynb", "test_seed_sd"])


def test_cut_entities_looking_at_first_pieces_only_is_shown_the_missing_span():
    word_ids = [0, 0, 1, 1, 1, 2, 2, 3]  # word 1 is three pieces, the window edge falls between its second and third
    windows = [biobert_ner.windows.Window(0, 4), biobert_ner.windows.Window(4, 8)]
    spans = [schemes.Span(0, 1, "Disease"), schemes.Span(1, 2, "Disease"), schemes.Span(2, 4, "Disease")]
    report = report_of(
        wrong_function("07_inference.ipynb", "cut_entities"), lambda *case: [spans[1]], [(word_ids, windows, spans)], name="cut_entities",
    )
    assert_points_at(report, REPORTS["07_inference.ipynb", "test_cut_entities"])


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


def test_memorise_mentions_keeping_the_case_is_shown_the_keys_it_misses():
    sentences = [data.Sentence(["Breast", "cancer", "and", "AT"], ["B-Disease", "I-Disease", "O", "B-Disease"])]
    report = report_of(
        wrong_function("02_biomedical_ner_data.ipynb", "memorise_mentions"), baselines.mention_dictionary, [(sentences,)],
        describe=lambda case: f"{len(case[0])} training sentences", explain=checks.mapping_difference,
    )
    assert_points_at(report, REPORTS["02_biomedical_ner_data.ipynb", "test_memorise_mentions"])
    assert "('breast', 'cancer')" in report and "('Breast', 'cancer')" in report


def test_dictionary_tags_matching_the_shortest_mention_is_shown_the_word():
    dictionary = {("breast",): "Disease", ("breast", "cancer"): "Disease"}
    words = ["familial", "breast", "cancer"]
    report = report_of(
        wrong_function("02_biomedical_ner_data.ipynb", "dictionary_tags"), baselines.dictionary_tags, [(words, dictionary)],
        context=lambda case, i: f"word {case[0][i]!r}",
    )
    assert_points_at(report, REPORTS["02_biomedical_ner_data.ipynb", "test_dictionary_tags"])
    assert "position 2 (word 'cancer'): returned 'O', expected 'I-Disease'" in report


def test_entity_difference_names_each_entity_in_words():
    words = ["Germline", "BRCA1", "and", "BRCA2", "in", "breast", "and", "ovarian", "cancer"]
    gold = ["O", "B-Gene", "O", "B-Gene", "O", "B-Disease", "I-Disease", "I-Disease", "I-Disease"]
    marked = ["B-Gene", "B-Gene", "O", "O", "O", "O", "O", "B-Chemical", "I-Chemical"]
    assert checks.entity_difference(words, gold, gold) is None
    assert checks.entity_difference(words, marked, gold).splitlines() == [
        "not marked: 'BRCA2' (Gene)",
        "other boundaries and type: 'ovarian cancer' (Chemical) where the answer is 'breast and ovarian cancer' (Disease)",
        "marked, but not an entity: 'Germline' (Gene)",
    ]


def test_truncation_cost_counting_only_mentions_cut_whole_is_shown_the_count(minilm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    words = ["Patients", "with", "ataxia", "telangiectasia", "were", "studied"]  # [CLS] patients with ata ##xia tel ...
    sentences = [data.Sentence(words, ["O", "O", "B-Disease", "I-Disease", "O", "O"])]
    report = report_of(
        wrong_function("03_label_alignment.ipynb", "truncation_cost"),
        lambda *case: dataclasses.asdict(corpus_statistics.truncation_cost(*case)),
        [(tokenizer, sentences, 6)],
        explain=checks.mapping_difference,
    )
    assert_points_at(report, REPORTS["03_label_alignment.ipynb", "test_truncation_cost"])
    assert "'mentions': returned 0, expected 1" in report


def test_loss_label_counts_keeping_b_on_continuation_pieces_is_shown_the_label(minilm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    names = ["O", "B-Disease", "I-Disease"]
    sentences = [data.Sentence(["Neurofibromatosis", "is", "rare"], ["B-Disease", "O", "O"])]
    first = wrong_function("03_label_alignment.ipynb", "loss_label_counts")(tokenizer, sentences, names, "first")
    assert first == {"B-Disease": 1, "O": 2}  # the mistake only shows under "all"
    report = report_of(
        wrong_function("03_label_alignment.ipynb", "loss_label_counts"),
        corpus_statistics.loss_label_counts,
        [(tokenizer, sentences, names, "all")],
        describe=lambda case: f"strategy={case[3]!r}",
        explain=checks.mapping_difference,
    )
    assert_points_at(report, REPORTS["03_label_alignment.ipynb", "test_loss_label_counts"])
    assert re.search(r"1 key missing:\n +'I-Disease'", report) and "'B-Disease': returned 6, expected 1" in report  # ne ##uro ##fi ##bro ##mat ##osis


def test_merge_windows_breaking_ties_late_is_shown_the_windows_of_the_position():
    windows = biobert_ner.windows.plan_windows(40, 10, 5)  # overlaps of 5: the middle one is a tie
    predictions = [[(w, position) for position in range(window.start, window.end)] for w, window in enumerate(windows)]
    report = report_of(
        wrong_function("03_label_alignment.ipynb", "merge_windows"), biobert_ner.windows.merge_window_predictions, [(windows, predictions, 40)],
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
    library = lambda sentences: evaluation.predict_words(model, tokenizer, sentences, decoding="argmax").tags  # noqa: E731  (the exercise reads each word's best label)
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
        wrong_function("07_inference.ipynb", "token_predictions"), biobert_ner.entities.token_predictions, [(logits,)], tolerance=1e-5,
        context=lambda case, i: f"logits row {i + 1}",
    )
    assert_points_at(report, REPORTS["07_inference.ipynb", "test_token_predictions"])
    assert "returned 5 items, expected 3\n  not expected: position 0: (2, 0.48" in report and "; position 4: (1, 0.67" in report


def test_entities_with_offsets_dropping_a_leading_i_tag_is_shown_the_entity():
    text = "fever and cough"
    def library(text, words, tags):
        return [(e.type, e.text, e.start, e.end) for e in biobert_ner.entities.entities_from_word_tags(text, words, tags)]

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
    expected = optimization.parameter_groups(model, 0.1)
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

    from biobert_ner.notebook_runner import quiet_kernel_config  # grading runs notebooks through notebook_runner

    manager = quiet_kernel_config()["KernelManager"]
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
