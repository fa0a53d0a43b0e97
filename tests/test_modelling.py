"""Model resolution and loading: names, folders, hub ids, offline errors, labels, safetensors only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from biobert_ner.modelling import (
    DEFAULT_MODEL,
    OFFLINE_MODEL,
    SPECIAL_TOKENS,
    ModelNotAvailableError,
    build_tiny_bert,
    build_vocabulary,
    describe,
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


def test_other_names_are_hub_ids():
    choice = resolve_model(DEFAULT_MODEL)
    assert (choice.source, choice.is_local) == (DEFAULT_MODEL, False)
    assert "hub" in choice.description


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
        from biobert_ner.modelling import ModelNotAvailableError, load_model_and_tokenizer
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
    line = describe(model, "tiny", "cpu")
    assert re.fullmatch(r"model: tiny \| \d+\.\dK parameters \| device: cpu", line)
    assert describe(model, resolve_model(OFFLINE_MODEL), torch.device("cpu")).startswith("model: all-MiniLM-L6-v2")


def test_pick_device_honours_a_request():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda", "mps")
