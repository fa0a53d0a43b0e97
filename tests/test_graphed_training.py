"""The GPU fast path on a CPU: length buckets, the padding row, the same update as the eager loop, and its fallback."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import cross_entropy

from biobert_ner.alignment import IGNORE_INDEX, encode_dataset
from biobert_ner.batching import make_collator
from biobert_ner.graphed_training import (
    BucketedTrainStep,
    bucket_for,
    bucketed_padding_fraction,
    length_buckets,
    pad_examples,
    prepare_keeping_forward,
    use_cuda_graphs,
)
from biobert_ner.optimization import make_accelerator, parameter_groups
from biobert_ner.training import TrainingConfig


def test_buckets_are_multiples_of_16_up_to_max_length():
    assert length_buckets(128) == [16, 32, 48, 64, 80, 96, 112, 128]
    assert length_buckets(100) == [16, 32, 48, 64, 80, 96, 100]
    assert [bucket_for(n, length_buckets(128)) for n in (1, 16, 17, 47, 128)] == [16, 16, 32, 48, 128]
    with pytest.raises(ValueError, match="longer than the largest bucket"):
        bucket_for(129, length_buckets(128))


def test_bucketed_padding_counts_every_row_at_its_buckets_length():
    # a full batch [10, 12] padded to 16, and a short batch [20] topped up to 2 rows of 32
    assert bucketed_padding_fraction([[10, 12], [20]], [16, 32], batch_size=2) == pytest.approx(1 - 42 / 96)


def test_the_padding_row_attends_to_one_position_and_has_no_label():
    table = pad_examples([{"input_ids": [2, 7, 3], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100]}], 4, pad_id=0)
    assert table["input_ids"].tolist() == [[2, 7, 3, 0], [0, 0, 0, 0]]
    assert table["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert table["labels"].tolist() == [[-100, 1, -100, -100], [-100] * 4]


def _tiny_without_dropout(corpus):
    from biobert_ner.data import label_names
    from biobert_ner.modelling import build_tiny_bert

    model, tokenizer = build_tiny_bert(label_names(corpus), seed=3)
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model, tokenizer


def test_a_bucketed_step_is_the_eager_loops_update(corpus):
    """Padding to a bucket and topping up a short batch with the padding row change no weight."""
    model, tokenizer = _tiny_without_dropout(corpus)
    examples = encode_dataset(corpus["train"].select(range(5)), tokenizer, max_length=256, strategy="first").select_columns(
        ["input_ids", "attention_mask", "labels"]).to_list()
    twin, _ = _tiny_without_dropout(corpus)
    twin.load_state_dict(model.state_dict())
    labelled_per_batch = 40.0

    # the eager loop's update: a batch of 3 padded to its longest sentence
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-3)
    batch = make_collator(tokenizer)([examples[i] for i in (0, 2, 4)])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
    (loss / labelled_per_batch).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

    # the bucketed step: the same 3 sentences in a batch of 4 rows (one padding row), padded to a bucket
    lengths = [len(example["input_ids"]) for example in examples]
    step = BucketedTrainStep(
        twin, torch.optim.AdamW(parameter_groups(twin, 0.01), lr=1e-3), examples, lengths, buckets=length_buckets(256, width=48),
        batch_size=4, pad_id=tokenizer.pad_token_id, labelled_per_batch=labelled_per_batch, max_grad_norm=1.0,
        autocast_dtype=None, use_graphs=False,
    )
    bucket = step.bucket_of([0, 2, 4])
    assert bucket > batch["input_ids"].shape[1]  # really padded further than the eager batch
    step.step(step.batch_rows([[0, 2, 4]])[0], bucket)

    loss_sum, labelled = step.take_loss()
    assert loss_sum == pytest.approx(loss.item(), rel=1e-5)
    assert labelled == int((batch["labels"] != IGNORE_INDEX).sum())
    for (name, expected), actual in zip(model.named_parameters(), twin.parameters()):
        assert torch.allclose(expected, actual, atol=1e-6), name


def test_cuda_graphs_fall_back_on_a_cpu_and_say_why():
    config = TrainingConfig(precision="fp32")
    accelerator = make_accelerator(config)
    assert use_cuda_graphs(config, accelerator) == (False, "CUDA graphs: off (no CUDA device (device: cpu))")
    assert use_cuda_graphs(TrainingConfig(cuda_graphs="off"), accelerator)[0] is False
    with pytest.raises(ValueError, match="cuda_graphs='on' cannot be honoured: no CUDA device"):
        use_cuda_graphs(TrainingConfig(cuda_graphs="on"), accelerator)
    with pytest.raises(ValueError, match="cuda_graphs must be one of auto, on, off"):
        TrainingConfig(cuda_graphs="yes")


def test_the_graphed_model_is_checkpointed_but_keeps_its_own_forward(tmp_path, corpus):
    """bf16: Accelerate's prepare would wrap the forward in its autocast; the graphed step needs the model's own."""
    from biobert_ner.data import label_names
    from biobert_ner.modelling import build_tiny_bert

    accelerator = make_accelerator(TrainingConfig(precision="bf16"))
    assert accelerator.mixed_precision == "bf16"
    model, _ = build_tiny_bert(label_names(corpus))
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-3)
    model, optimizer = prepare_keeping_forward(accelerator, model, optimizer)

    assert model.forward.__func__ is type(model).forward
    accelerator.save_state(tmp_path / "state")
    assert {"model.safetensors", "optimizer.bin"} <= {p.name for p in (tmp_path / "state").iterdir()}
