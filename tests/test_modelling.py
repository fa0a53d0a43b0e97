"""Model resolution and loading: names, folders, hub ids, offline errors, labels, safetensors only.

BioBERT's hub repository is mirrored, offline, by a fake Hugging Face cache holding a tiny cased
BERT at both revisions: the loader must read the pinned safetensors commit, keep case, and never
touch the pickled weights or ask for a conversion.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
import safetensors.torch
import torch
import transformers.modeling_utils
from transformers import AutoModelForTokenClassification, AutoTokenizer, BertConfig, BertModel, BertTokenizer

from biobert_ner import course
from biobert_ner.hub import PINNED_REVISIONS, ModelNotAvailableError, check_casing, hub_model_cached, is_cased_model, lowercases
from biobert_ner.modelling import (
    DEFAULT_MODEL,
    OFFLINE_MODEL,
    SPECIAL_TOKENS,
    build_tiny_bert,
    build_vocabulary,
    describe_model,
    load_model_and_tokenizer,
    load_tokenizer,
    offline_models,
    pick_device,
    resolve_model,
    save_model,
)


def test_minilm_resolves_to_the_packaged_folder(minilm_dir):
    choice = resolve_model(OFFLINE_MODEL)
    assert choice.source == str(minilm_dir)
    assert choice.is_local and "MiniLM" in choice.description
    assert offline_models() == {OFFLINE_MODEL: str(minilm_dir)}


def test_local_folder_resolves_to_its_absolute_path(tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tiny_model_dir.parent)
    choice = resolve_model(tiny_model_dir.name)
    assert choice.source == str(tiny_model_dir.resolve())
    assert choice.is_local and choice.name == tiny_model_dir.name


def test_other_names_are_hub_ids_read_at_main():
    choice = resolve_model("someone/some-bert")
    assert (choice.source, choice.is_local, choice.revision) == ("someone/some-bert", False, "main")
    assert "hub" in choice.description and "at revision main" in choice.description


def test_biobert_is_pinned_to_its_safetensors_commit_unless_asked_otherwise():
    pinned = resolve_model(DEFAULT_MODEL)
    assert pinned.revision == PINNED_REVISIONS[DEFAULT_MODEL] == "28c8d50abc6680732eca889059ff503505a74cd5"
    assert pinned.revision in pinned.description
    assert resolve_model(DEFAULT_MODEL, revision="refs/pr/1").revision == "refs/pr/1"


def test_a_revision_is_for_hub_ids_only(tmp_path):
    with pytest.raises(ValueError, match="hub ids only"):
        resolve_model(str(tmp_path), revision="main")


def test_a_file_is_not_a_model(tmp_path):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"")
    with pytest.raises(ModelNotAvailableError, match="is a file"):
        resolve_model(str(file))


def test_offline_hub_error_says_what_to_do_and_is_quick(tmp_path):
    """HF_HUB_OFFLINE is read when huggingface_hub is imported, so the check runs in a fresh process."""
    script = textwrap.dedent(
        """
        import json, time
        from biobert_ner.hub import ModelNotAvailableError
        from biobert_ner.modelling import load_model_and_tokenizer
        start = time.perf_counter()
        try:
            load_model_and_tokenizer("biobert-ner-tests/no-such-model", labels=["O", "B-X", "I-X"])
        except ModelNotAvailableError as error:
            print(json.dumps({"message": str(error), "seconds": time.perf_counter() - start}))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # an empty cache
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    message = outcome["message"]
    assert "biobert-ner-tests/no-such-model" in message
    assert f"--model {OFFLINE_MODEL}" in message and "local folder" in message
    assert "\n" not in message
    assert outcome["seconds"] < 10, "offline mode must fail at once, not retry a network"


def test_fine_tuned_folder_rejects_other_labels(tiny_model_dir, labels):
    with pytest.raises(ValueError, match="was fine-tuned for labels"):
        load_model_and_tokenizer(str(tiny_model_dir), labels=["O", "B-Species", "I-Species"], verbose=False)


def test_fine_tuned_folder_accepts_its_own_labels(tiny_model_dir, labels):
    model, _ = load_model_and_tokenizer(str(tiny_model_dir), labels=labels, verbose=False)
    assert [model.config.id2label[i] for i in range(len(labels))] == labels


def test_base_model_needs_labels(minilm_dir):
    with pytest.raises(ValueError, match="no NER labels yet"):
        load_model_and_tokenizer(str(minilm_dir), verbose=False)


def test_base_model_gets_a_new_head_for_the_labels(minilm_dir, labels, capsys):
    model, tokenizer = load_model_and_tokenizer(OFFLINE_MODEL, labels=labels, device="cpu")
    assert model.config.num_labels == len(labels) and model.config.label2id["B-Gene"] == labels.index("B-Gene")
    assert tokenizer.is_fast
    assert re.search(r"model: all-MiniLM-L6-v2 .* \| 22\.\dM parameters \| device: cpu", capsys.readouterr().out)


def test_tiny_bert_saves_safetensors_only_and_loads_back(tmp_path, labels):
    model, tokenizer = build_tiny_bert(labels, words=["cisplatin", "nephrotoxicity", "BRCA1"], seed=3)
    folder = save_model(model, tokenizer, tmp_path / "tiny")
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors"} <= names
    assert not any(name.endswith((".bin", ".pt", ".pth", ".ckpt")) for name in names)
    assert not any(name.startswith(".") for name in tmp_path.iterdir() for name in [name.name])  # no temp leftovers
    loaded, loaded_tokenizer = load_model_and_tokenizer(str(folder), verbose=False)
    encoding = loaded_tokenizer(["cisplatin", "nephrotoxicity"], is_split_into_words=True, return_tensors="pt")
    assert loaded_tokenizer.convert_ids_to_tokens(encoding["input_ids"][0])[:2] == ["[CLS]", "cisplatin"]
    with torch.inference_mode():
        expected = model.eval()(**encoding).logits
        actual = loaded(**encoding).logits
    torch.testing.assert_close(actual, expected)


def test_tiny_bert_is_seeded(labels):
    first, _ = build_tiny_bert(labels, words=["a", "b"], seed=1)
    second, _ = build_tiny_bert(labels, words=["a", "b"], seed=1)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_vocabulary_has_specials_first_and_every_character():
    vocabulary = build_vocabulary(["TNF", "α", "TNF", "cancer"])
    assert vocabulary[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    for char in "TNFαcaner":
        assert char in vocabulary and f"##{char}" in vocabulary
    assert "TNF" in vocabulary and "cancer" in vocabulary
    assert len(vocabulary) == len(set(vocabulary))


def test_folder_without_a_tokenizer_is_a_clear_error(tmp_path, labels):
    model, _ = build_tiny_bert(labels, words=["a"])
    model.save_pretrained(tmp_path / "no-tokenizer")
    with pytest.raises(ModelNotAvailableError, match="tokenizer"):
        load_tokenizer(str(tmp_path / "no-tokenizer"))


def test_describe_is_one_readable_line(labels):
    model, _ = build_tiny_bert(labels, words=["a"])
    line = describe_model(model, "tiny", "cpu")
    assert re.fullmatch(r"model: tiny \| \d+\.\dK parameters \| device: cpu", line)
    assert describe_model(model, resolve_model(OFFLINE_MODEL), torch.device("cpu")).startswith("model: all-MiniLM-L6-v2")


def test_pick_device_honours_a_request():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda", "mps")


# ---------------------------------------------------------------- casing


def _word_tokenizer(words: list[str], lower: bool) -> BertTokenizer:
    vocabulary = build_vocabulary(words)
    return BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}, do_lower_case=lower)


# Capitals for a cased vocabulary, and every letter of "brca1" in lower case for a lower-casing tokenizer.
CASED_WORDS = ["BRCA1", "BRCA2", "mutations", "in", "breast", "cancer", "The", "TNF", "Gene"]


@pytest.mark.parametrize(
    ("name", "cased"),
    [
        (DEFAULT_MODEL, True),
        ("dmis-lab/biobert-v1.1", True),  # cased, but the id does not say so: the known table
        ("google-bert/bert-base-cased", True),
        ("google-bert/bert-base-uncased", False),
        ("sentence-transformers/all-MiniLM-L6-v2", False),
        (OFFLINE_MODEL, False),
    ],
)
def test_cased_models_by_table_and_by_name(name, cased):
    assert is_cased_model(name) is cased


def test_a_cased_vocabulary_with_a_lower_casing_tokenizer_warns():
    tokenizer = _word_tokenizer(CASED_WORDS, lower=True)
    assert lowercases(tokenizer)
    with pytest.warns(UserWarning, match=r"local-model is a cased model \(its vocabulary says so\).*do_lower_case=False"):
        check_casing(tokenizer, "local-model")


def test_a_cased_name_with_a_lower_casing_tokenizer_warns_and_uncased_is_fine():
    tokenizer = _word_tokenizer([word.lower() for word in CASED_WORDS], lower=True)
    with pytest.warns(UserWarning, match=r"its name says so"):
        check_casing(tokenizer, "someone/bert-base-cased")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_casing(tokenizer, "someone/bert-base-uncased")


def test_a_tokenizer_that_keeps_case_never_warns():
    tokenizer = _word_tokenizer(CASED_WORDS, lower=False)
    assert not lowercases(tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_casing(tokenizer, DEFAULT_MODEL)


def test_minilm_is_uncased_with_an_uncased_vocabulary_so_no_warning(minilm_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tokenizer = load_tokenizer(OFFLINE_MODEL)
    assert lowercases(tokenizer)


# ---------------------------------------------------------------- BioBERT from a fake, offline hub cache

PINNED = PINNED_REVISIONS[DEFAULT_MODEL]
MAIN = "0123456789abcdef0123456789abcdef01234567"  # a made-up commit for `main`


class _Tripwire:
    """Unpickling it creates ``marker``: proof that a pickled-weights file was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _write_snapshot(repo: Path, commit: str, files: dict[str, bytes]) -> None:
    """Files laid out as huggingface_hub caches them: ``blobs/<etag>`` and ``snapshots/<commit>/<name>`` links.

    The etag is the sha256 for LFS files (weights) and the git blob sha1 for the others; the
    links are relative, so a blob shared by two revisions is stored once.
    """
    for name, data in files.items():
        lfs = name.endswith((".bin", ".safetensors"))
        etag = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        blob = repo / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))


def _write_repo(cache: Path, repo_id: str, snapshots: dict[str, dict[str, bytes]], main: str) -> Path:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for commit, files in snapshots.items():
        _write_snapshot(repo, commit, files)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(main)  # no newline, as huggingface_hub writes it
    return repo


@dataclass
class FakeHub:
    cache: Path
    repo: Path
    marker: Path  # appears if any pytorch_model.bin is unpickled
    weights: dict[str, torch.Tensor]  # what the pinned model.safetensors holds
    torch_loads: list  # every torch.load call (weights_only loading never unpickles the tripwire)


def _tiny_cased_bert(revision_mark: str, vocabulary: list[str], seed: int) -> tuple[bytes, dict[str, torch.Tensor]]:
    config = BertConfig(
        vocab_size=len(vocabulary) + 1, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    config.snapshot = revision_mark  # kept in config.json: tells which revision's config was read
    torch.manual_seed(seed)
    weights = {name: tensor.contiguous() for name, tensor in BertModel(config, add_pooling_layer=False).state_dict().items()}
    return config.to_json_string().encode(), weights


@pytest.fixture
def fake_hub(tmp_path, monkeypatch) -> FakeHub:
    """dmis-lab/biobert-base-cased-v1.2 as its real file lists, with a tiny cased BERT, offline.

    ``main``: config.json, vocab.txt, pytorch_model.bin (a tripwire); the pinned commit: the same
    files and model.safetensors. No tokenizer_config.json, as on the hub. Each revision's config
    and vocabulary are marked, so a test can tell which revision was read.
    """
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both variables once, at import; transformers asks huggingface_hub.constants.
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    vocabulary = build_vocabulary(CASED_WORDS)
    tripwire = pickle.dumps(_Tripwire(tmp_path / "pickle-was-read"), protocol=2)  # torch.load's own protocol
    main_config, _ = _tiny_cased_bert("main", vocabulary, seed=1)
    pinned_config, weights = _tiny_cased_bert("pinned", vocabulary, seed=2)
    vocab = "".join(f"{token}\n" for token in vocabulary).encode()
    main = {"config.json": main_config, "vocab.txt": vocab + b"mainonly\n", "pytorch_model.bin": tripwire}
    pinned = {**main, "config.json": pinned_config, "vocab.txt": vocab, "model.safetensors": safetensors.torch.save(weights)}
    repo = _write_repo(cache, DEFAULT_MODEL, {MAIN: main, PINNED: pinned}, main=MAIN)
    torch_loads: list = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        torch_loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    return FakeHub(cache, repo, tmp_path / "pickle-was-read", weights, torch_loads)


def test_the_tripwires_would_catch_a_read_of_the_pickled_weights(fake_hub):
    """The checks below are not vacuous: loading pytorch_model.bin trips one detector or the other."""
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):  # the tripwire is no tensor
        AutoModelForTokenClassification.from_pretrained(DEFAULT_MODEL, revision=MAIN, use_safetensors=False)
    assert len(fake_hub.torch_loads) == 1
    with open(fake_hub.repo / "snapshots" / MAIN / "pytorch_model.bin", "rb") as file:
        pickle.load(file)  # noqa: S301 - our own tripwire
    assert fake_hub.marker.exists()


def _casing_warnings(record) -> list[str]:
    return [str(warning.message) for warning in record if "lower-cases" in str(warning.message)]


def test_biobert_loads_the_pinned_safetensors_revision(fake_hub, labels, capsys, recwarn):
    model, tokenizer = load_model_and_tokenizer(DEFAULT_MODEL, labels, device="cpu")
    assert model.config.snapshot == "pinned" and "mainonly" not in tokenizer.get_vocab()
    loaded = model.bert.state_dict()
    for name, tensor in fake_hub.weights.items():
        assert torch.equal(loaded[name], tensor), name
    assert not fake_hub.marker.exists() and fake_hub.torch_loads == [], "pytorch_model.bin must never be read"
    assert f"{DEFAULT_MODEL} at revision {PINNED}" in capsys.readouterr().out
    assert tokenizer.tokenize("BRCA1 mutations")[0].startswith("BRCA")
    assert _casing_warnings(recwarn) == []


def test_biobert_tokenizer_keeps_case_where_transformers_would_lower_case_it(fake_hub):
    assert not lowercases(load_tokenizer(DEFAULT_MODEL))
    default = AutoTokenizer.from_pretrained(DEFAULT_MODEL, revision=PINNED)  # no tokenizer_config.json: lower-cases
    assert lowercases(default)
    with pytest.warns(UserWarning, match=r"cased model \(its name and its vocabulary say so\)"):
        check_casing(default, DEFAULT_MODEL)


def test_a_revision_without_safetensors_is_an_error_not_a_conversion(fake_hub, labels):
    with pytest.raises(ModelNotAvailableError, match=rf"no safetensors weights at revision 'main'.*revision='{PINNED}'"):
        load_model_and_tokenizer(DEFAULT_MODEL, labels, revision="main", verbose=False)
    assert not fake_hub.marker.exists() and fake_hub.torch_loads == []


def test_conversion_is_never_requested_even_when_nothing_says_where_the_weights_are(fake_hub, labels, monkeypatch):
    """A repository whose cache knows nothing about its weights, and a transformers that believes it is online."""
    config, _ = _tiny_cased_bert("main", build_vocabulary(CASED_WORDS), seed=1)
    _write_repo(fake_hub.cache, "biobert-ner-tests/config-only", {MAIN: {"config.json": config}}, main=MAIN)
    conversions: list = []
    monkeypatch.delenv("DISABLE_SAFETENSORS_CONVERSION", raising=False)
    monkeypatch.setattr(transformers.modeling_utils, "is_offline_mode", lambda: False)

    def recording_conversion(repo_id, **kwargs):
        conversions.append(repo_id)
        return None, "main", False  # what it returns when the conversion service has nothing

    monkeypatch.setattr(transformers.modeling_utils, "auto_conversion", recording_conversion)
    with pytest.raises(OSError):  # transformers alone would ask for a conversion here
        AutoModelForTokenClassification.from_pretrained("biobert-ner-tests/config-only", use_safetensors=True)
    assert len(conversions) == 1
    with pytest.raises(ModelNotAvailableError, match="biobert-ner-tests/config-only"):
        load_model_and_tokenizer("biobert-ner-tests/config-only", labels, verbose=False)
    assert len(conversions) == 1 and "DISABLE_SAFETENSORS_CONVERSION" not in os.environ


def test_the_course_plan_counts_biobert_cached_only_at_the_pinned_revision(fake_hub):
    assert course._model_cached(DEFAULT_MODEL) and hub_model_cached(DEFAULT_MODEL)
    assert not hub_model_cached(DEFAULT_MODEL, revision="main")
    shutil.rmtree(fake_hub.repo / "snapshots" / PINNED)
    assert not course._model_cached(DEFAULT_MODEL)
