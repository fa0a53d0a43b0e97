"""Alignment: word tags -> token labels -> word tags, truncation counts, windows, character offsets.

Property tests (hypothesis) run the real fast tokenizers (the tiny WordPiece one and MiniLM's)
on random words from a mixed alphabet; table tests pin the small functions on hand-written
``word_ids``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biobert_ner.alignment import (
    IGNORE_INDEX,
    LabelStrategy,
    TruncationReport,
    align_labels,
    count_cut_words,
    inside_label_ids,
    tokenize_and_align,
)
from biobert_ner.entities import Entity, entities_from_word_tags, word_label_ids
from biobert_ner.windows import Window, best_window_per_token, merge_window_predictions, plan_windows
from biobert_ner.modelling import build_tiny_bert, load_tokenizer
from biobert_ner.pretokenize import pretokenize
from biobert_ner.schemes import iob2_labels, repair_iob2, spans_from_tags

LABELS = iob2_labels(["Chemical", "Disease", "Gene"])  # O, B-Chemical, I-Chemical, B-Disease, ...

# Letters (Latin, accented, Greek), digits and punctuation that WordPiece splits inside a word
# ("IL-2" is one corpus word but three tokens), so words of several tokens are common.
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-αβγδκΔΩéèüñçøß()/.,+'"
WORDS = st.text(alphabet=ALPHABET, min_size=1, max_size=12)
SENTENCES = st.lists(WORDS, min_size=1, max_size=25)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tiny_tokenizer():
    """A WordPiece tokenizer with every character of ALPHABET (alone and as ##c) and a few whole words."""
    _, tokenizer = build_tiny_bert(LABELS, words=list(ALPHABET) + ["alpha", "beta", "IL", "cancer", "##ing"])
    return tokenizer


@pytest.fixture(scope="module", params=["tiny", "minilm"])
def tokenizer(request, tiny_tokenizer, minilm_dir):
    return tiny_tokenizer if request.param == "tiny" else load_tokenizer(str(minilm_dir))


@st.composite
def tagged_sentences(draw):
    """Random words with a random *valid* IOB2 tag sequence (as label ids)."""
    words = draw(SENTENCES)
    raw = [draw(st.sampled_from(LABELS)) for _ in words]
    tags = repair_iob2(raw)
    return words, [LABELS.index(tag) for tag in tags]


# ---------------------------------------------------------------- tables


def test_inside_label_ids_maps_b_to_i_and_keeps_the_rest():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    assert inside_label_ids(labels) == [0, 2, 2, 4, 4]


def test_inside_label_ids_keeps_b_without_a_matching_i():
    assert inside_label_ids(["O", "B-Gene", "B-Disease", "I-Disease"]) == [0, 1, 3, 3]


@pytest.mark.parametrize(
    ("word_ids", "word_labels", "strategy", "expected"),
    [
        # [CLS] ne ##ph ##ro in rats [SEP]: word 0 = B-Disease (3), split into three tokens
        ([None, 0, 0, 0, 1, 2, None], [3, 0, 0], "first", [-100, 3, -100, -100, 0, 0, -100]),
        ([None, 0, 0, 0, 1, 2, None], [3, 0, 0], "all", [-100, 3, 4, 4, 0, 0, -100]),
        # an I- word split in two: continuation stays I-
        ([None, 0, 1, 1, None], [3, 4], "all", [-100, 3, 4, 4, -100]),
        ([None, 0, 1, 1, None], [3, 4], "first", [-100, 3, 4, -100, -100]),
        # padding (None) after [SEP]
        ([None, 0, None, None, None], [1], "first", [-100, 1, -100, -100, -100]),
        # no special tokens at all (inference windows are built without them)
        ([0, 0, 1], [1, 2], "all", [1, 2, 2]),
        ([], [], "first", []),
    ],
)
def test_align_labels_table(word_ids, word_labels, strategy, expected):
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    assert align_labels(word_ids, word_labels, strategy, inside_label_ids(labels)) == expected


def test_align_labels_all_needs_inside_ids():
    with pytest.raises(ValueError, match="inside_ids"):
        align_labels([0], [1], LabelStrategy.ALL)


def test_align_labels_rejects_unknown_strategy():
    with pytest.raises(ValueError):
        align_labels([0], [1], "every")


@pytest.mark.parametrize(
    ("word_ids", "token_labels", "num_words", "expected"),
    [
        ([None, 0, 0, 1, None], [9, 3, 4, 0, 9], 2, [3, 0]),
        ([None, 0, 0, None], [9, 3, 4, 9], 3, [3, None, None]),  # words 1 and 2 were cut
        ([0, 2], [5, 6], 3, [5, None, 6]),  # word 1 had no token (a lone control character)
    ],
)
def test_word_label_ids_table(word_ids, token_labels, num_words, expected):
    assert word_label_ids(word_ids, token_labels, num_words) == expected


@pytest.mark.parametrize(
    ("num_tokens", "max_tokens", "stride", "expected"),
    [
        (5, 10, 2, [(0, 5)]),
        (10, 10, 2, [(0, 10)]),
        (11, 10, 2, [(0, 10), (1, 11)]),  # the last window is shifted left, full-sized
        (20, 8, 2, [(0, 8), (6, 14), (12, 20)]),
        (21, 8, 2, [(0, 8), (6, 14), (12, 20), (13, 21)]),
        (0, 4, 1, [(0, 0)]),
    ],
)
def test_plan_windows_table(num_tokens, max_tokens, stride, expected):
    assert [(w.start, w.end) for w in plan_windows(num_tokens, max_tokens, stride)] == expected


@pytest.mark.parametrize(("max_tokens", "stride"), [(0, 0), (4, 4), (4, 5), (4, -1)])
def test_plan_windows_rejects_bad_settings(max_tokens, stride):
    with pytest.raises(ValueError, match="stride"):
        plan_windows(10, max_tokens, stride)


def test_best_window_prefers_the_middle_and_earlier_on_ties():
    windows = [Window(0, 8), Window(6, 14)]
    choice = best_window_per_token(windows, 14)
    assert choice[:6] == [0] * 6
    # tokens 6 and 7 are in both; margin in window 0: 1, 0; in window 1: 0, 1
    assert choice[6] == 0 and choice[7] == 1
    assert choice[8:] == [1] * 6


# ---------------------------------------------------------------- properties: labels round trip


@PROPERTY_SETTINGS
@given(sentence=tagged_sentences(), strategy=st.sampled_from(list(LabelStrategy)))
def test_align_then_unalign_gives_the_word_tags_back(tokenizer, sentence, strategy):
    words, word_labels = sentence
    encoding = tokenizer(words, is_split_into_words=True)
    word_ids = encoding.word_ids()
    token_labels = align_labels(word_ids, word_labels, strategy, inside_label_ids(LABELS))
    assert len(token_labels) == len(word_ids)
    # special tokens (and, for "first", continuation pieces) are ignored by the loss
    assert all(label == IGNORE_INDEX for label, w in zip(token_labels, word_ids) if w is None)
    labelled = sum(label != IGNORE_INDEX for label in token_labels)
    assert labelled == (len(words) if strategy is LabelStrategy.FIRST else sum(w is not None for w in word_ids))
    # every alphabet word has at least one token, so every word comes back
    assert word_label_ids(word_ids, token_labels, len(words)) == word_labels


@PROPERTY_SETTINGS
@given(sentence=tagged_sentences())
def test_all_strategy_never_labels_a_continuation_piece_b(tokenizer, sentence):
    words, word_labels = sentence
    word_ids = tokenizer(words, is_split_into_words=True).word_ids()
    token_labels = align_labels(word_ids, word_labels, "all", inside_label_ids(LABELS))
    for i in range(1, len(word_ids)):
        if word_ids[i] is not None and word_ids[i] == word_ids[i - 1]:
            assert not LABELS[token_labels[i]].startswith("B-")


@PROPERTY_SETTINGS
@given(sentences=st.lists(tagged_sentences(), min_size=1, max_size=6), max_length=st.integers(3, 24))
def test_truncation_report_counts_exactly_the_words_without_a_token(tokenizer, sentences, max_length):
    tokens = [words for words, _ in sentences]
    labels = [tags for _, tags in sentences]
    report = TruncationReport()
    tokenize_and_align(tokenizer, tokens, labels, LABELS, max_length=max_length, strategy="first", report=report)
    expected_words = expected_sentences = 0
    for words in tokens:
        full = tokenizer(words, is_split_into_words=True, add_special_tokens=False).word_ids()
        kept = set(full[: max_length - 2])  # [CLS] and [SEP] take two of the max_length places
        cut = len(words) - len(kept)
        expected_words += cut
        expected_sentences += cut > 0
        truncated = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length).word_ids()
        assert count_cut_words(truncated, len(words)) == cut
    assert (report.words, report.sentences) == (expected_words, expected_sentences)


# ---------------------------------------------------------------- properties: windows


@settings(max_examples=300, deadline=None)
@given(num_tokens=st.integers(0, 400), max_tokens=st.integers(1, 64), data=st.data())
def test_windows_cover_every_token_once_and_stay_within_bounds(num_tokens, max_tokens, data):
    stride = data.draw(st.integers(0, max_tokens - 1))
    windows = plan_windows(num_tokens, max_tokens, stride)
    assert windows[0].start == 0 and windows[-1].end == num_tokens
    for window in windows:
        assert 0 <= window.start <= window.end <= num_tokens
        assert window.end - window.start <= max_tokens
        if num_tokens >= max_tokens:
            assert window.end - window.start == max_tokens  # all windows full-sized
    for before, after in zip(windows, windows[1:]):
        assert before.start < after.start and after.start <= before.end  # no gap between windows
        assert before.end - after.start >= stride  # at least `stride` tokens of shared context
    choice = best_window_per_token(windows, num_tokens)
    for position, w in enumerate(choice):
        chosen = windows[w]
        assert chosen.start <= position < chosen.end  # the chosen window holds the token
        margin = min(position - chosen.start, chosen.end - 1 - position)
        others = [min(position - v.start, v.end - 1 - position) for v in windows if v.start <= position < v.end]
        assert margin == max(others)  # ... and no other window gives it more context


@settings(max_examples=200, deadline=None)
@given(num_tokens=st.integers(1, 300), max_tokens=st.integers(1, 40), data=st.data())
def test_merge_reads_each_token_from_its_chosen_window(num_tokens, max_tokens, data):
    stride = data.draw(st.integers(0, max_tokens - 1))
    windows = plan_windows(num_tokens, max_tokens, stride)
    # each window "predicts" (window index, document position) for its tokens
    predictions = [[(w, window.start + i) for i in range(window.end - window.start)] for w, window in enumerate(windows)]
    merged = merge_window_predictions(windows, predictions, num_tokens)
    assert [position for _, position in merged] == list(range(num_tokens))
    assert [w for w, _ in merged] == best_window_per_token(windows, num_tokens)


# ---------------------------------------------------------------- properties: character offsets

# Raw text: words, spaces of several kinds, punctuation, combining marks, non-BMP characters.
TEXT_ALPHABET = ALPHABET + " \t\n\u00a0\u2009\u3000;:!?%°±µ\u0301\u0308😀𝛼中文\u200b"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=TEXT_ALPHABET, max_size=80), data=st.data())
def test_entity_offsets_always_slice_the_original_text(text, data):
    words = pretokenize(text)
    tags = data.draw(st.lists(st.sampled_from(LABELS), min_size=len(words), max_size=len(words)))
    scores = data.draw(st.lists(st.floats(0, 1), min_size=len(words), max_size=len(words)))
    entities = entities_from_word_tags(text, words, tags, scores)
    assert len(entities) == len(spans_from_tags(repair_iob2(tags)))
    end = 0
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
        assert entity.text and entity.text == entity.text.strip()  # starts and ends on a word, not on space
        assert entity.start >= end  # sorted, no overlap
        assert 0.0 <= entity.score <= 1.0
        end = entity.end


def test_entities_from_word_tags_hand_written():
    text = "Cisplatin-induced acute renal failure."
    words = pretokenize(text)  # Cisplatin - induced acute renal failure .
    tags = ["B-Chemical", "O", "O", "I-Disease", "I-Disease", "I-Disease", "O"]  # I- start is repaired
    entities = entities_from_word_tags(text, words, tags, [0.9, 1, 1, 0.6, 0.8, 1.0, 1])
    assert [(e.type, e.text, e.start, e.end) for e in entities] == [
        ("Chemical", "Cisplatin", 0, 9),
        ("Disease", "acute renal failure", 18, 37),
    ]
    assert entities[1].score == pytest.approx(0.8)
    assert entities[0].to_dict() == {"type": "Chemical", "text": "Cisplatin", "start": 0, "end": 9, "score": 0.9}


def test_entities_from_word_tags_checks_lengths():
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        entities_from_word_tags("a b", pretokenize("a b"), ["O"])


def test_entity_is_a_frozen_value():
    entity = Entity("Gene", "BRCA1", 0, 5, 0.5)
    with pytest.raises(AttributeError):
        entity.start = 1  # type: ignore[misc]
