"""Fine-tuning a BERT for NER: one readable loop (its settings are `training_config.TrainingConfig`).

The loop in :func:`train` is the whole recipe, in the order it happens::

    for each epoch:
        for each batch:  forward -> loss -> backward -> clip -> step -> schedule
        evaluate on dev (entity F1) -> keep the best model -> log -> checkpoint -> maybe stop early

Everything else in this module is a small helper the loop calls by name. The recipe is the
one of Hugging Face's ``run_ner_no_trainer.py`` (AdamW without decay on biases and LayerNorm,
linear warm-up and decay, labels on first sub-words, Accelerate for devices and precision),
without its 600-line ``main``.

The same code runs on a laptop CPU, one GPU, or several GPUs with ``accelerate launch``:
Accelerate puts model and batches on the device, gives each process its own share of the
batches and averages gradients between processes. Outputs (``output_dir``)::

    settings.json      the TrainingConfig of the run
    metrics.jsonl      one line per epoch: losses, dev scores, speed
    curves.png         loss and dev F1 per epoch
    model/             the best epoch's model (dev entity F1): safetensors + tokenizer
    checkpoint/        the latest epoch: Accelerate's saved state + the loop state (for resume_from)
    metrics.json       dev scores of the best epoch and test scores of that model
"""

from __future__ import annotations

import json
import time
from typing import Callable, Sequence

import torch

from .alignment import IGNORE_INDEX
from .batching import labelled_per_batch, make_train_loader
from .checkpoints import resume_run
from .data import describe_dataset, label_names, load_data
from .files import atomic_write_json, atomic_write_text
from .graphed_training import make_graphed_step, prepare_keeping_forward, use_cuda_graphs
from .modelling import describe_model, load_model_and_tokenizer, resolve_model
from .optimization import describe_device, make_accelerator, make_optimizer, make_schedule
from .run_outputs import TrainingResult, write_epoch_outputs, write_final_outputs
from .training_config import TrainingConfig, TrainingRun, TrainingState



def evaluate_split(model, tokenizer, split, config: TrainingConfig, accelerator):
    """Entity scores and word-level loss of ``model`` on one split (each process predicts a share)."""
    from .evaluation import evaluate_tags, gold_word_tags, predict_words

    with accelerator.autocast():
        predictions = predict_words(
            accelerator.unwrap_model(model), tokenizer, split,
            batch_size=config.eval_batch_size, max_length=config.max_length, decoding=config.decoding,
            accelerator=accelerator,
        )
    return evaluate_tags(gold_word_tags(split), predictions.tags), predictions.loss


def load_training_inputs(config: "TrainingConfig", dataset, model, tokenizer, log):
    """The data set, model and tokenizer of a training run: those given, else loaded from the config.

    The model's labels must be the data's, in the same order: a model trained on another list
    would learn tag numbers that mean something else.
    """
    if dataset is None:
        dataset = load_data(config.data)
    else:
        log(f"data: the dataset given: {describe_dataset(dataset)}")
    if "validation" not in dataset:
        raise ValueError(f"training needs a validation split (to pick the best epoch); the data has {list(dataset)}")
    labels = label_names(dataset)
    if model is None:
        model, tokenizer = load_model_and_tokenizer(config.model, labels, device="cpu", verbose=False)
        log(describe_model(model, resolve_model(config.model), "cpu"))
    else:
        if tokenizer is None:
            raise ValueError("pass the model's tokenizer along with the model")
        log(describe_model(model, "the model given", next(model.parameters()).device))
    model_labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if model_labels != labels:
        raise ValueError(f"the model predicts {model_labels}, the data has labels {labels}: they must be the same list")
    return dataset, model, tokenizer


def set_up_run(config: TrainingConfig, dataset, model, tokenizer) -> TrainingRun:
    """Settings, device, data, model, batches, optimizer and schedule; resumed from a checkpoint if asked."""
    from accelerate.utils import set_seed

    from .batching import batch_lengths, padding_fraction
    from .graphed_training import length_buckets

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    accelerator = make_accelerator(config)
    log = accelerator.print  # prints once, on the main process
    log(f"training settings:\n{config}")
    set_seed(config.seed)  # python, numpy, torch (and CUDA): the new classifier head starts the same every run
    dataset, model, tokenizer = load_training_inputs(config, dataset, model, tokenizer, log)
    graphs, graphs_reason = use_cuda_graphs(config, accelerator)
    on_gpu = accelerator.device.type == "cuda"
    # Multiples of 8 tokens suit tensor cores; on a CPU they would only add padding.
    train_loader, sampler = make_train_loader(dataset["train"], tokenizer, config, pad_to_multiple_of=8 if on_gpu else None)
    if on_gpu:
        torch.set_float32_matmul_precision("high")  # TF32 for whatever still runs in fp32 (Ampere and newer)
    if graphs:
        model.to(accelerator.device)
    optimizer = make_optimizer(model, config, accelerator.device, graphs)
    examples = train_loader.dataset
    if graphs:  # the graphed step owns batches and autocast itself
        model, optimizer = prepare_keeping_forward(accelerator, model, optimizer)
    else:
        model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    schedule = make_schedule(optimizer, config, len(train_loader), accelerator)  # after prepare: this process's batches
    run = TrainingRun(config, accelerator, dataset, model, tokenizer, optimizer, schedule.scheduler, train_loader, sampler,
                      TrainingState(), log)
    run.labelled_per_batch = labelled_per_batch(examples, len(sampler))
    lengths = batch_lengths(sampler, epoch=0)
    run.padding = padding_fraction(lengths)
    if graphs:
        run.graphed_step = make_graphed_step(run, length_buckets(config.max_length))
        run.padding = run.graphed_step.padding_fraction(lengths)
    if config.resume_from:
        resume_run(run)
    _log_plan(run, schedule, graphs_reason)
    if run.is_main:
        atomic_write_json(run.output_dir / "settings.json", config.to_dict())
        # Rewritten from the loop state: a resumed run's log holds exactly the epochs it carries on from.
        atomic_write_text(run.output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in run.state.history))
    return run


def _log_plan(run: TrainingRun, schedule, graphs_reason: str) -> None:
    """Device and precision, update counts, and the padding of length-grouped vs random batches."""
    from .batching import LengthGroupedBatchSampler, batch_lengths, padding_fraction

    config, accelerator, sampler = run.config, run.accelerator, run.sampler
    random_padding = padding_fraction(
        batch_lengths(LengthGroupedBatchSampler(sampler.lengths, config.batch_size, seed=config.seed, group_by_length=False))
    )
    run.log(describe_device(config, accelerator, accelerator.mixed_precision, torch.get_num_threads()) + f" | {graphs_reason}")
    run.log(
        f"steps: {schedule.updates_per_epoch} updates/epoch x {config.epochs} epochs = {schedule.total_updates} "
        f"({schedule.warmup_updates} warm-up); {config.batch_size} sentences x {config.gradient_accumulation_steps} "
        f"accumulation x {accelerator.num_processes} process(es) per update | padding: {run.padding:.1%} of tokens "
        f"({random_padding:.1%} with random batches)"
    )


def train_one_epoch(run: TrainingRun, epoch: int) -> dict:
    """One pass over the training batches: forward -> loss -> backward -> clip -> step -> schedule.

    The loss is summed over labelled sub-words and divided by their mean count per batch (not
    by each batch's own count): every word then weighs the same, whether its batch holds short
    or long sentences. The model's own ``.loss`` is a per-batch mean, which gives the words of
    a batch of short sentences up to 4x more weight than those of a batch of long ones:
    harmless when batches are random mixes, a skew when they are length-grouped.
    """
    from torch.nn.functional import cross_entropy
    from tqdm.auto import tqdm

    config, accelerator, model = run.config, run.accelerator, run.model
    if run.graphed_step is not None:
        return _train_one_epoch_graphed(run, epoch)
    model.train()
    # The same batches on every process for this epoch; Accelerate hands each process its share.
    run.sampler.set_epoch(epoch)
    run.train_loader.set_epoch(epoch)
    loss_sum = torch.zeros((), device=accelerator.device)  # summed on the device: no sync per step
    labelled_seen = torch.zeros((), device=accelerator.device)
    sentences = 0
    progress = tqdm(run.train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not run.is_main, leave=False)
    for number, batch in enumerate(progress, start=1):
        with accelerator.accumulate(model):  # sums gradients over micro-batches; no DDP sync until the update
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"].flatten()  # -100 on pads, special tokens (and continuation pieces for "first")
            token_losses = cross_entropy(logits.flatten(0, 1).float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
            accelerator.backward(token_losses / run.labelled_per_batch)  # divides by gradient_accumulation_steps; scales for fp16
            if accelerator.sync_gradients:  # last micro-batch of an update
                if config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                run.optimizer.step()
                run.scheduler.step()
                run.optimizer.zero_grad(set_to_none=True)
                run.state.step += 1
        loss_sum += token_losses.detach()
        labelled_seen += (labels != IGNORE_INDEX).sum()
        sentences += batch["input_ids"].shape[0]
        if number % 20 == 0:  # .item() waits for the GPU: only now and then
            progress.set_postfix(loss=f"{(loss_sum / labelled_seen).item():.4f}")
    progress.close()
    return {"loss_sum": loss_sum.item(), "labelled": labelled_seen.item(), "sentences": sentences}


def _train_one_epoch_graphed(run: TrainingRun, epoch: int) -> dict:
    """The same epoch, each step replayed from a CUDA graph (:mod:`biobert_ner.graphed_training`)."""
    from tqdm.auto import tqdm

    step = run.graphed_step
    run.model.train()
    batches = run.sampler.batches(epoch)
    rows = step.batch_rows(batches)  # every batch's rows, copied to the GPU once per epoch
    for number in tqdm(range(len(batches)), desc=f"epoch {epoch + 1}/{run.config.epochs}", disable=not run.is_main, leave=False):
        step.step(rows[number], step.bucket_of(batches[number]))
        run.scheduler.step()  # writes the next learning rate into the optimizer's GPU tensor
        run.state.step += 1
    loss_sum, labelled = step.take_loss()  # the one wait for the GPU in this epoch
    return {"loss_sum": loss_sum, "labelled": labelled, "sentences": sum(len(batch) for batch in batches)}


def evaluate_and_keep_best(run: TrainingRun, epoch: int, totals: dict, epoch_seconds: float) -> dict:
    """Dev scores after an epoch; a better dev F1 than ever before keeps a copy of these weights."""
    accelerator, state = run.accelerator, run.state
    # One small all-gather per epoch: loss sums, labelled sub-words and sentences of every process.
    gathered = accelerator.gather(torch.tensor([[totals["loss_sum"], totals["labelled"], totals["sentences"]]], device=accelerator.device))
    per_process_sentences = [int(n) for n in gathered[:, 2].tolist()]
    run.sentences_seen += sum(per_process_sentences)
    dev, dev_loss = evaluate_split(run.model, run.tokenizer, run.dataset["validation"], run.config, accelerator)
    record = {
        "epoch": epoch + 1,
        "step": state.step,
        "learning_rate": float(run.scheduler.get_last_lr()[0]),  # a GPU tensor with CUDA graphs
        "train_loss": float(gathered[:, 0].sum() / gathered[:, 1].sum()),  # per labelled sub-word
        "dev_loss": dev_loss,
        "dev_f1": dev.entity_f1,
        "dev_precision": dev.precision,
        "dev_recall": dev.recall,
        "epoch_seconds": epoch_seconds,
        "sentences_per_second": sum(per_process_sentences) / epoch_seconds,
        "sentences_per_process": per_process_sentences,
    }
    state.history.append(record)
    state.epoch = epoch + 1
    if dev.entity_f1 > state.best_dev_f1:  # keep the best epoch's model, not the latest
        state.best_dev_f1, state.best_epoch, state.epochs_without_improvement = dev.entity_f1, epoch + 1, 0
        state.best_dev_report = dev.to_dict()
        weights = accelerator.unwrap_model(run.model).state_dict()
        run.best_weights = {name: tensor.detach().clone() for name, tensor in weights.items()}
    else:
        state.epochs_without_improvement += 1
    run.log(
        f"epoch {epoch + 1}: train loss {record['train_loss']:.4f} | dev loss {dev_loss:.4f} | dev F1 {dev.entity_f1:.4f} "
        f"(P {dev.precision:.4f} R {dev.recall:.4f}) | {record['sentences_per_second']:.1f} sentences/s"
        + (" | best so far" if state.best_epoch == epoch + 1 else "")
    )
    return record


def finish(run: TrainingRun, stopped_early: bool) -> TrainingResult:
    """The best epoch's weights back in the model, scored on test, saved; ``metrics.json`` written."""
    accelerator, state = run.accelerator, run.state
    best = accelerator.unwrap_model(run.model)
    if run.best_weights is not None:
        best.load_state_dict(run.best_weights)
    test_report = None
    if "test" in run.dataset:
        test, _ = evaluate_split(run.model, run.tokenizer, run.dataset["test"], run.config, accelerator)
        test_report = test.to_dict()
        run.log(f"best epoch {state.best_epoch}: dev F1 {state.best_dev_f1:.4f} | test F1 {test.entity_f1:.4f}")
    speed = run.sentences_seen / run.train_seconds if run.train_seconds else 0.0
    result = TrainingResult(
        history=state.history, best_dev_f1=state.best_dev_f1, best_epoch=state.best_epoch, output_dir=run.output_dir,
        sentences_per_second=speed, padding_fraction=run.padding, train_seconds=run.train_seconds,
        dev_report=state.best_dev_report, test_report=test_report, stopped_early=stopped_early,
        precision={"no": "fp32"}.get(accelerator.mixed_precision, accelerator.mixed_precision),
        model=best, tokenizer=run.tokenizer, cuda_graphs=run.graphed_step is not None,
    )
    if run.is_main:
        write_final_outputs(run, result)
    accelerator.wait_for_everyone()
    return result


def train(
    config: TrainingConfig,
    *,
    dataset=None,
    model=None,
    tokenizer=None,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> TrainingResult:
    """Fine-tune ``config.model`` on ``config.data`` (or the ``dataset``/``model``/``tokenizer`` given).

    Set up; then each epoch: train, evaluate on dev and keep the best weights, write the log,
    curves and checkpoint, maybe stop early; finally score the best model on test and save it.
    ``callbacks`` are called with each epoch's record (the dict written to ``metrics.jsonl``),
    e.g. to draw live curves in a notebook.
    """
    run = set_up_run(config, dataset, model, tokenizer)
    patience, stopped_early = config.early_stopping_patience, False
    for epoch in range(run.state.epoch, config.epochs):
        if patience is not None and run.state.epochs_without_improvement >= patience:
            run.log(f"early stopping: no better dev F1 for {patience} epoch(s); best was epoch {run.state.best_epoch}")
            stopped_early = True
            break
        started = time.perf_counter()
        totals = train_one_epoch(run, epoch)  # returns once the device has finished the epoch
        epoch_seconds = time.perf_counter() - started
        run.train_seconds += epoch_seconds
        record = evaluate_and_keep_best(run, epoch, totals, epoch_seconds)
        write_epoch_outputs(run, record)
        for callback in callbacks:
            callback(record)
    return finish(run, stopped_early)
