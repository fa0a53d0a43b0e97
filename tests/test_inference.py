"""The prediction pipeline: encoding, windows, batching, decoding, offsets, precision, parity with HF.

Most tests use the tiny random BERT (``tiny_model_dir``): its predictions mean nothing, but
every code path runs on real model code, and the properties checked (offsets, one tag per word,
windows, batching) must hold whatever the weights. Decoding is also tested on hand-written
logits, without any model (as the Java tests do).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biobert_ner.entities import Entity
from biobert_ner.windows import Window, best_window_per_token
from biobert_ner.entities import decode_document, softmax, token_predictions, word_predictions
from biobert_ner.inference import InferenceConfig, NerPipeline, TorchBackend, forward_windows, length_sorted_batches, pad_batch
from biobert_ner.windows import DocumentEncoding
from biobert_ner.precision import Precision
from biobert_ner.pretokenize import Word, pretokenize
from biobert_ner.render import entity_colors, render_entities_html

REPO_ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "Cisplatin-induced nephrotoxicity was reduced by N-acetylcysteine (NAC) in rats.",
    "Mutations in BRCA1 and BRCA2 increase the risk of breast cancer.",
    "TNF-α levels rose to 2.5 ng/mL after 5-fluorouracil.",
    "Haloperidol",
    "",
]
UNICODE_TEXT = "😀 Patients with 𝛼-synuclein\u00a0aggregates (Parkinson’s disease) — naïve cafe\u0301 中文 \u200b end"


@pytest.fixture(scope="module")
def ner(tiny_model_dir) -> NerPipeline:
    return NerPipeline.from_pretrained(tiny_model_dir, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def small_window_ner(tiny_model_dir) -> NerPipeline:
    """Windows of 16 tokens (14 without [CLS]/[SEP]) sharing 4: every sentence needs several."""
    return NerPipeline.from_pretrained(tiny_model_dir, device="cpu", window_length=16, stride=4, verbose=False)


def spans(entities: list[Entity]) -> list[tuple[str, int, int]]:
    return [(entity.type, entity.start, entity.end) for entity in entities]


def assert_offsets_slice(text: str, entities: list[Entity]) -> None:
    end = 0
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
        assert entity.start >= end and entity.text == entity.text.strip() and entity.text
        assert 0.0 < entity.score <= 1.0
        end = entity.end


# ---------------------------------------------------------------- encoding


def test_encode_builds_cls_tokens_sep_like_the_tokenizer(ner):
    text = TEXTS[0]
    encoding = ner.encode(text)
    assert [word.text for word in encoding.words] == [word.text for word in pretokenize(text)]
    assert encoding.windows == [Window(0, encoding.num_tokens)]
    expected = ner.tokenizer([w.text for w in encoding.words], is_split_into_words=True)
    assert encoding.window_input_ids == [expected["input_ids"]]  # [CLS] + ids + [SEP], as the tokenizer would
    assert encoding.word_ids == expected.word_ids()[1:-1]
    assert sorted(set(encoding.word_ids)) == list(range(len(encoding.words)))  # every word has a token here


def test_encode_to_dict_is_plain_json_data(ner):
    data = ner.encode("BRCA1 (gene)").to_dict()
    assert data["words"] == [["BRCA1", 0, 5], ["(", 6, 7], ["gene", 7, 11], [")", 11, 12]]
    assert data["windows"] == [[0, len(data["token_ids"])]]
    assert data["window_input_ids"][0][0] == ner.cls_id and data["window_input_ids"][0][-1] == ner.sep_id


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01", "\u200b\u200b"])
def test_texts_without_tokens_have_no_windows_and_no_entities(ner, text):
    encoding = ner.encode(text)
    assert encoding.windows == [] and encoding.window_input_ids == [] and encoding.token_ids == []
    assert ner(text) == []
    assert ner.logits(text) == []


def test_words_without_tokens_are_outside(ner):
    text = "BRCA1 \x00 breast cancer"
    encoding = ner.encode(text)
    assert [word.text for word in encoding.words] == ["BRCA1", "\x00", "breast", "cancer"]
    assert 1 not in encoding.word_ids  # the tokenizer drops the control character
    tags, scores = word_predictions(encoding, ner.logits(text), ner.label_names, "viterbi")
    assert len(tags) == 4 and tags[1] == "O" and scores[1] == 1.0
    assert_offsets_slice(text, ner(text))


# ---------------------------------------------------------------- offsets and unicode


@pytest.mark.parametrize("text", TEXTS + [UNICODE_TEXT])
def test_entity_offsets_slice_the_original_text(ner, text):
    assert_offsets_slice(text, ner(text))


def test_non_bmp_offsets_are_code_points(ner):
    text = "😀😀 BRCA1"  # two characters outside the BMP: 2 code points, 4 UTF-16 units
    encoding = ner.encode(text)
    assert [(w.text, w.start, w.end) for w in encoding.words] == [("😀", 0, 1), ("😀", 1, 2), ("BRCA1", 3, 8)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="abcXYZ019 -().,αé😀中\u0301\x00\u200b\u00a0", max_size=60), seed=st.integers(0, 2**16))
def test_random_logits_always_give_slicing_offsets(ner, text, seed):
    """Decoding is independent of the model: any logits must give entities that slice the text."""
    encoding = ner.encode(text)
    rng = np.random.default_rng(seed)
    logits = [rng.normal(size=(len(ids), len(ner.label_names))).astype(np.float32) for ids in encoding.window_input_ids]
    entities = decode_document(encoding, logits, ner.label_names, "viterbi")
    assert_offsets_slice(text, entities)


# ---------------------------------------------------------------- decoding on hand-written logits


def hand_encoding() -> DocumentEncoding:
    """``Cisplatin nephrotoxicity .``: word 1 is two tokens; one window."""
    text = "Cisplatin nephrotoxicity ."
    words = [Word("Cisplatin", 0, 9), Word("nephrotoxicity", 10, 24), Word(".", 25, 26)]
    return DocumentEncoding(text, words, [11, 12, 13, 14], [0, 1, 1, 2], [Window(0, 4)], [[2, 11, 12, 13, 14, 3]])


def one_hot_logits(label_ids: list[int], num_labels: int = 5, high: float = 4.0) -> np.ndarray:
    logits = np.zeros((len(label_ids), num_labels), dtype=np.float32)
    logits[np.arange(len(label_ids)), label_ids] = high
    return logits


def test_decode_reads_the_first_sub_word_and_skips_special_tokens():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    # rows: [CLS]=B-Chemical (ignored), Cisplatin=B-Chemical, nephro=I-Disease, ##toxicity=O (ignored), .=O, [SEP]
    logits = one_hot_logits([1, 1, 4, 0, 0, 3])
    entities = decode_document(hand_encoding(), [logits], labels, decoding="argmax")
    probability = float(softmax(logits[1])[1])
    assert spans(entities) == [("Chemical", 0, 9), ("Disease", 10, 24)]  # I-Disease start repaired to B-
    assert [entity.text for entity in entities] == ["Cisplatin", "nephrotoxicity"]
    assert entities[0].score == pytest.approx(probability)


def test_viterbi_decoding_weighs_an_entity_without_its_start_against_none():
    """``O I-Disease`` by argmax: Viterbi keeps the entity only if the model found it likely enough."""
    labels = ["O", "B-Disease", "I-Disease"]
    logits = np.zeros((6, 3), dtype=np.float32)  # [CLS], Cisplatin, nephro, ##toxicity, ., [SEP]
    logits[1] = [3.0, 0.0, 0.0]  # Cisplatin: O (p 0.91)
    logits[2] = [0.0, 2.0, 2.5]  # nephro: I-Disease best, B-Disease close behind
    logits[4] = [3.0, 0.0, 0.0]
    entities = decode_document(hand_encoding(), [logits], labels, "viterbi")
    assert spans(entities) == [("Disease", 10, 24)]  # O B-Disease O: B- nearly as likely as I-
    assert entities[0].score == pytest.approx(float(softmax(logits[2])[1]))  # the probability of the tag chosen
    logits[2] = [2.4, 0.0, 2.5]  # now O is nearly as likely as I-, B- is not: no entity
    assert decode_document(hand_encoding(), [logits], labels, "viterbi") == []
    assert spans(decode_document(hand_encoding(), [logits], labels, decoding="argmax")) == [("Disease", 10, 24)]  # repaired


def test_decode_scores_are_mean_word_probabilities():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    logits = one_hot_logits([0, 3, 4, 4, 0, 0])
    logits[2, 4] = 1.0  # the second word is less sure
    entities = decode_document(hand_encoding(), [logits], labels, "viterbi")
    assert spans(entities) == [("Disease", 0, 24)]
    expected = (softmax(logits[1])[3] + softmax(logits[2])[4]) / 2
    assert entities[0].score == pytest.approx(float(expected))


def test_token_predictions_drop_cls_and_sep():
    logits = one_hot_logits([1, 2, 3, 4])
    assert [label for label, _ in token_predictions(logits)] == [2, 3]


def test_decode_checks_the_number_of_windows():
    with pytest.raises(ValueError, match="1 windows but 2 logit arrays"):
        decode_document(hand_encoding(), [one_hot_logits([0] * 6)] * 2, ["O"] * 5, "viterbi")


def test_softmax_is_stable_for_large_logits():
    probabilities = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    assert np.allclose(probabilities, [[1.0, 0.0], [0.5, 0.5]])


# ---------------------------------------------------------------- long documents


def test_short_document_is_one_window(small_window_ner):
    encoding = small_window_ner.encode("BRCA1 causes cancer.")
    assert encoding.num_tokens <= 14 and len(encoding.windows) == 1


def test_long_document_gives_each_word_one_tag_from_its_chosen_window(small_window_ner):
    ner = small_window_ner
    text = " ".join(TEXTS[:3] * 3)
    encoding = ner.encode(text)
    assert len(encoding.windows) > 3
    assert all(len(ids) <= 16 for ids in encoding.window_input_ids)
    window_logits = ner.logits(text)
    assert [len(logits) for logits in window_logits] == [len(ids) for ids in encoding.window_input_ids]
    tags, _ = word_predictions(encoding, window_logits, ner.label_names, decoding="argmax")
    assert len(tags) == len(encoding.words)
    # each word's tag is the one its first token got in the window chosen for that token
    choice = best_window_per_token(encoding.windows, encoding.num_tokens)
    first_token = {}
    for position, word in enumerate(encoding.word_ids):
        first_token.setdefault(word, position)
    for word, position in first_token.items():
        window = encoding.windows[choice[position]]
        label, _ = token_predictions(window_logits[choice[position]])[position - window.start]
        assert tags[word] == ner.label_names[label]
    assert_offsets_slice(text, ner(text))


def test_each_window_is_fed_as_its_own_sequence(small_window_ner):
    """A window's logits are those of the model on ``[CLS] + window tokens + [SEP]`` alone."""
    ner = small_window_ner
    text = " ".join(TEXTS[:2])
    encoding = ner.encode(text)
    for ids, logits in zip(encoding.window_input_ids, ner.logits(text)):
        with torch.inference_mode():
            alone = ner.model(input_ids=torch.tensor([ids])).logits[0].numpy()
        np.testing.assert_allclose(logits, alone, atol=1e-5)


def test_long_document_without_windows_fits_one_window(tiny_model_dir):
    text = " ".join(TEXTS[:3] * 2)
    wide = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", window_length=512, verbose=False)
    assert len(wide.encode(text).windows) == 1
    assert_offsets_slice(text, wide(text))


# ---------------------------------------------------------------- batching


def test_batch_gives_the_same_entities_as_one_by_one(tiny_model_dir):
    ner = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", batch_size=3, window_length=16, stride=4, verbose=False)
    texts = TEXTS + [UNICODE_TEXT, " ".join(TEXTS)]
    together = ner(texts)
    alone = [ner(text) for text in texts]
    assert [spans(entities) for entities in together] == [spans(entities) for entities in alone]
    for batch_entities, single_entities in zip(together, alone):
        assert [e.score for e in batch_entities] == pytest.approx([e.score for e in single_entities], abs=1e-5)


def test_str_gives_a_list_of_entities_and_a_list_gives_a_list_per_text(ner):
    assert isinstance(ner("BRCA1"), list) and all(isinstance(e, Entity) for e in ner("BRCA1"))
    assert len(ner(["a", "b", ""])) == 3 and ner([]) == []


def test_length_sorted_batches_longest_first_and_complete():
    lengths = [3, 9, 1, 7, 7, 2, 5]
    batches = length_sorted_batches(lengths, 3)
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert sorted(i for batch in batches for i in batch) == list(range(7))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths, reverse=True)


def test_pad_batch_pads_right_with_a_mask():
    input_ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert input_ids.dtype == mask.dtype == np.int64


def test_forward_windows_returns_results_in_input_order(ner):
    windows = [ids for text in TEXTS for ids in ner.encode(text).window_input_ids]
    batched = forward_windows(ner.backend, windows, pad_id=ner.pad_id, batch_size=2)
    single = forward_windows(ner.backend, windows, pad_id=ner.pad_id, batch_size=1)
    for a, b, ids in zip(batched, single, windows):
        assert a.shape == (len(ids), len(ner.label_names)) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5)


# ---------------------------------------------------------------- backends: only the forward pass differs


class RecordingBackend:
    """A backend that hands the work to another and records what it was given."""

    def __init__(self, inner):
        self.inner, self.label_names, self.precision, self.calls = inner, inner.label_names, inner.precision, []

    def forward(self, input_ids, attention_mask):
        self.calls.append((input_ids, attention_mask))
        return self.inner.forward(input_ids, attention_mask)

    def __str__(self):
        return "recording"


def test_a_backend_is_only_the_forward_pass(small_window_ner):
    texts = TEXTS + [UNICODE_TEXT, " ".join(TEXTS)]
    torch_ner = small_window_ner.with_config(batch_size=3)
    recording = RecordingBackend(torch_ner.backend)
    other = NerPipeline(recording, torch_ner.tokenizer, torch_ner.config)
    assert other(texts) == torch_ner(texts)
    widths = [input_ids.shape[1] for input_ids, _ in recording.calls]
    assert widths == sorted(widths, reverse=True) and len(recording.calls) > 1  # longest first, each batch its own width
    for input_ids, attention_mask in recording.calls:
        assert input_ids.dtype == attention_mask.dtype == np.int64 and input_ids.shape == attention_mask.shape
        assert (attention_mask[:, 0] == 1).all() and (input_ids[:, 0] == small_window_ner.cls_id).all()
    assert repr(other).startswith("NerPipeline(recording, ")
    with pytest.raises(AttributeError, match="not a PyTorch model"):
        other.model


def test_the_backend_must_run_in_the_configured_precision(ner):
    with pytest.raises(ValueError, match="precision=bf16, but the backend"):
        NerPipeline(TorchBackend(ner.model, "fp32"), ner.tokenizer, InferenceConfig(precision="bf16"))


def test_with_config_keeps_the_model_and_changes_settings(ner):
    smaller = ner.with_config(batch_size=2, window_length=16, stride=4)
    assert smaller.model is ner.model and smaller.config == InferenceConfig(batch_size=2, window_length=16, stride=4)
    assert ner.with_config(precision="bf16").backend.precision is Precision.BF16
    assert ner.config.batch_size == 32


def test_onnx_backend_finds_what_the_torch_backend_finds(tmp_path):
    """The committed tiny bundle (ONNX Runtime) against the model it was exported from (PyTorch).

    ``biobert-ner export --tiny`` builds that model from a fixed seed, so it is rebuilt here; a
    fresh export of another model is compared in ``tests/test_export.py`` (slow).
    """
    from biobert_ner.golden import GOLDEN_TEXTS, tiny_model_texts
    from biobert_ner.modelling import save_tiny_test_model

    bundle = REPO_ROOT / "tests" / "fixtures" / "golden" / "tiny-bundle"
    onnx_ner = NerPipeline.from_bundle(bundle, batch_size=4, threads=1, verbose=False)
    torch_ner = NerPipeline.from_pretrained(save_tiny_test_model(tmp_path / "tiny", tiny_model_texts()), device="cpu",
                                            batch_size=4, window_length=onnx_ner.config.window_length, stride=onnx_ner.config.stride, verbose=False)
    texts = [golden.text for golden in GOLDEN_TEXTS] + TEXTS + [UNICODE_TEXT]
    expected, actual = torch_ner(texts), onnx_ner(texts)
    assert sum(map(len, expected)) > 50, "the comparison compared something"
    for text, want, got in zip(texts, expected, actual):
        assert spans(got) == spans(want), f"{text!r} (if the tiny model no longer rebuilds the same, regenerate the bundle)"
        assert [e.score for e in got] == pytest.approx([e.score for e in want], abs=1e-4)
    assert "onnxruntime" in repr(onnx_ner) and onnx_ner.device.type == "cpu"


def test_onnx_backend_refuses_bf16():
    onnx_ner = NerPipeline.from_bundle(REPO_ROOT / "tests" / "fixtures" / "golden" / "tiny-bundle", verbose=False)
    with pytest.raises(ValueError, match="precision=bf16, but the backend"):
        onnx_ner.with_config(precision="bf16")


# ---------------------------------------------------------------- settings and precision


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"window_length": 2}, "window_length"),
        ({"window_length": 16, "stride": 14}, "stride"),
        ({"precision": "fp8"}, "fp8"),
    ],
)
def test_inference_config_rejects_bad_settings(options, message):
    with pytest.raises(ValueError, match=message):
        InferenceConfig(**options)


def test_window_length_cannot_exceed_the_model_positions(tiny_model_dir):
    with pytest.raises(ValueError, match="positions"):
        NerPipeline.from_pretrained(tiny_model_dir, window_length=513, verbose=False)


def test_from_pretrained_prints_model_device_and_settings(tiny_model_dir, capsys):
    ner = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", precision="bf16")
    out = capsys.readouterr().out
    assert "parameters | device: cpu" in out and "precision=bf16" in out
    assert ner.config.precision is Precision.BF16 and "bf16" in repr(ner)


def test_bf16_runs_and_mostly_agrees_with_fp32(tiny_model_dir, ner):
    bf16 = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", precision="bf16", verbose=False)
    text = " ".join(TEXTS)
    encoding = ner.encode(text)
    fp32_tags, _ = word_predictions(encoding, ner.logits(text), ner.label_names, "viterbi")
    bf16_logits = bf16.logits(text)
    assert all(logits.dtype == np.float32 for logits in bf16_logits)  # results are float32 whatever the compute type
    bf16_tags, _ = word_predictions(encoding, bf16_logits, ner.label_names, "viterbi")
    assert_offsets_slice(text, bf16(text))
    # a random tiny model has near-ties, so allow a few flips; a real model agrees far more
    assert np.mean([a == b for a, b in zip(fp32_tags, bf16_tags)]) > 0.8


# ---------------------------------------------------------------- parity with transformers' pipeline


@pytest.fixture(scope="module")
def decisive_ner(tiny_model_dir) -> NerPipeline:
    """The tiny model with a 20x sharper classifier: fine-tuned-like confident outputs, no near-ties."""
    ner = NerPipeline.from_pretrained(tiny_model_dir, device="cpu", verbose=False)
    with torch.no_grad():
        ner.model.classifier.weight.mul_(20)
        ner.model.classifier.bias.mul_(20)
    return ner


def test_entities_match_transformers_pipeline_on_pretokenized_text(decisive_ner, labels):
    """Same words in, same entities out, as ``pipeline("token-classification", aggregation_strategy="first")``.

    HF reads each word's best label (our ``decoding="argmax"``); our default, Viterbi, differs
    exactly where that breaks IOB2, so the comparison decodes the same way. The texts are pre-tokenized and re-joined with single spaces, so both pipelines see the same
    words. Then HF's word grouping (a new group at ``B-`` or a type change; ``O`` groups dropped)
    is exactly our IOB2 repair + spans, and HF's group score (mean of first-sub-word
    probabilities) is ours. What still differs on raw text, and why we pre-tokenize:

    * HF words are BERT's pre-tokenizer's (white space + punctuation), so a symbol such as
      ``±`` or ``°`` glued to a word stays inside it, where our pre-tokenizer (and the corpus)
      splits it off; CJK ideographs become one word each in HF, runs of letters in ours;
    * HF reads a token as a continuation when its text length differs from its source span,
      which misfires where normalisation changes lengths (uncased models with decomposed
      accents, ``İ``); ours uses the tokenizer's ``word_ids``;
    * HF truncates at ``model_max_length`` unless given a ``stride``; we always window.
    """
    from transformers import pipeline

    ner = decisive_ner
    hf = pipeline("token-classification", model=ner.model, tokenizer=ner.tokenizer, aggregation_strategy="first", device="cpu")
    texts = [" ".join(word.text for word in pretokenize(text)) for text in TEXTS[:4] + [UNICODE_TEXT.replace("中文", "")]]
    found = 0
    for text in texts:
        ours = decode_document(ner.encode(text), ner.logits(text), ner.label_names, decoding="argmax")
        theirs = hf(text)
        assert spans(ours) == [(e["entity_group"], e["start"], e["end"]) for e in theirs], text
        assert [e.score for e in ours] == pytest.approx([float(e["score"]) for e in theirs], abs=1e-4)
        found += len(ours)
    assert found > 5  # the comparison compared something


# ---------------------------------------------------------------- HTML rendering


def test_render_escapes_text_and_marks_entities():
    text = "<b>BRCA1</b> & cancer"
    entities = [Entity("Gene", "BRCA1", 3, 8, 0.9), Entity("Disease", "cancer", 15, 21, 0.8)]
    rendered = render_entities_html(text, entities)
    assert "<b>" not in rendered and "&lt;b&gt;" in rendered and "&amp;" in rendered
    assert rendered.count("<mark") == 2 and 'data-type="Gene"' in rendered
    assert "Disease" in rendered.split('class="legend"')[1].split("</div>")[0]


def test_render_rejects_overlaps_and_handles_no_entities():
    assert "no entities" in render_entities_html("plain text", [])
    with pytest.raises(ValueError, match="overlap"):
        render_entities_html("abcdef", [Entity("Gene", "abc", 0, 3, 1.0), Entity("Gene", "bcd", 1, 4, 1.0)])


def test_entity_colors_defaults_overrides_and_palette():
    colors = entity_colors(["Gene", "Species", "Gene"], {"Gene": "#000000"})
    assert colors["Gene"] == "#000000" and colors["Species"].startswith("#") and len(colors) == 2


def test_render_pipeline_output(ner):
    text = TEXTS[0]
    rendered = render_entities_html(text, ner(text))
    assert rendered.count("<mark") == len(ner(text))
