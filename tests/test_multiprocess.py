"""The training loop under ``accelerate launch`` with two CPU processes (gloo): the multi-GPU code path, without GPUs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

# Run by each of the two processes. It records the sentences (as input ids) that its batches
# held, so the test can check that the processes trained on different shares of the data.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import biobert_ner.batching as batching
    from biobert_ner.training import TrainingConfig, train

    seen = []
    make_collator = batching.make_collator

    def recording_collator(tokenizer, **kwargs):
        collate = make_collator(tokenizer, **kwargs)
        def record(examples):
            seen.extend(tuple(example["input_ids"]) for example in examples)
            return collate(examples)
        return record

    batching.make_collator = recording_collator
    config = TrainingConfig.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    result = train(config)

    from accelerate import PartialState
    state = PartialState()
    out = Path(config.output_dir)
    (out / f"seen-{state.process_index}.json").write_text(json.dumps(seen))
    (out / f"result-{state.process_index}.json").write_text(json.dumps(
        {"processes": state.num_processes, "best_dev_f1": result.best_dev_f1, "history": result.history}
    ))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_train_on_different_shards(tmp_path, tiny_model_dir):
    from biobert_ner.training import TrainingConfig

    out = tmp_path / "run"
    config = TrainingConfig(
        model=str(tiny_model_dir),
        output_dir=str(out),
        epochs=2,
        batch_size=4,
        max_train_sentences=160,  # 40 batches: 20 for each process, none repeated to even them out
        max_length=256,
        precision="fp32",
        learning_rate=1e-2,
        warmup_ratio=0.0,
        num_threads=1,
    )
    (tmp_path / "settings.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "run_training.py").write_text(SCRIPT)
    # torchrun starts the processes; ACCELERATE_USE_CPU makes Accelerate join them with gloo on
    # the CPU (``accelerate launch --cpu`` would need MPI for more than one process).
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(tmp_path / "run_training.py"), str(tmp_path / "settings.json"),
    ]  # fmt: skip
    environment = {
        **os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"
    }
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]

    results = [json.loads((out / f"result-{rank}.json").read_text()) for rank in range(2)]
    assert [r["processes"] for r in results] == [2, 2]
    timings = ("epoch_seconds", "sentences_per_second")  # each process measures its own clock
    agreed = [[{k: v for k, v in record.items() if k not in timings} for record in r["history"]] for r in results]
    assert agreed[0] == agreed[1]  # every process has the same metrics

    # Different shards: in each epoch, no sentence trained on by both processes, all 160 trained on.
    seen = [json.loads((out / f"seen-{rank}.json").read_text()) for rank in range(2)]
    assert len(seen[0]) == len(seen[1]) == 2 * 80  # 2 epochs x 80 sentences per process
    for epoch in range(2):
        shares = [{tuple(ids) for ids in process_seen[80 * epoch : 80 * (epoch + 1)]} for process_seen in seen]
        assert shares[0].isdisjoint(shares[1])
        assert len(shares[0] | shares[1]) == 160

    # Metrics written once, by the main process.
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert all(json.loads(line)["sentences_per_process"] == [80, 80] for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert (out / "model" / "model.safetensors").is_file() and (out / "checkpoint" / "training_state.json").is_file()
    assert "Traceback" not in completed.stderr

    # Dev scores gathered from the two processes equal a single-process evaluation of the saved best model.
    from biobert_ner.data import load_data
    from biobert_ner.evaluation import evaluate_tags, gold_word_tags, predict_word_tags
    from biobert_ner.modelling import load_model_and_tokenizer

    dev = load_data("bundled")["validation"]
    model, tokenizer = load_model_and_tokenizer(str(out / "model"), verbose=False)
    report = evaluate_tags(gold_word_tags(dev), predict_word_tags(model, tokenizer, dev, max_length=256, decoding="viterbi"))
    assert metrics["dev"]["predicted_entities"] > 0  # the model predicts something, so the check below means something
    assert report.entity_f1 == pytest.approx(metrics["dev"]["entity_f1"])
    assert (report.predicted_entities, report.correct_entities) == (
        metrics["dev"]["predicted_entities"], metrics["dev"]["correct_entities"]
    )
