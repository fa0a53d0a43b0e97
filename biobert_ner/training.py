"""Fine-tuning a BERT for NER: one readable loop, with the settings at the top.

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
    checkpoint/        the latest epoch: model, optimizer, scheduler, RNG states (for resume_from)
    metrics.json       dev scores of the best epoch and test scores of that model
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .alignment import IGNORE_INDEX, LabelStrategy, encode_dataset
from .files import atomic_directory, atomic_write_json, atomic_write_text
from .modelling import DEFAULT_MODEL

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# ---------------------------------------------------------------- settings


@dataclass
class TrainingConfig:
    """Every setting of a training run. Printed at the start, saved as ``settings.json``."""

    model: str = DEFAULT_MODEL  # hub id, local model folder, or "minilm" (offline pretrained BERT)
    data: str = "bundled"  # "bundled", a corpus name (biobert-ner data list), a folder of train/devel/test TSV files, or a hub data set id
    output_dir: str = "runs/ner"  # where model/, checkpoint/ and the metrics files go
    epochs: int = 3  # passes over the training set
    batch_size: int = 32  # sentences per micro-batch, per process
    learning_rate: float = 5e-5  # peak learning rate, reached at the end of warm-up
    weight_decay: float = 0.01  # AdamW decay of matrices; biases and LayerNorm are never decayed
    warmup_ratio: float = 0.1  # share of all update steps over which the lr ramps up from 0
    max_grad_norm: float | None = 1.0  # clip the global gradient norm to this (None or 0: no clipping)
    gradient_accumulation_steps: int = 1  # micro-batches per update: update batch = batch_size x this x processes
    max_length: int = 128  # sub-words per sentence, [CLS]/[SEP] included; longer ones are cut (with a warning)
    label_strategy: str = "first"  # sub-words that carry a label in training: "first" or "all" (F1 is per word anyway)
    precision: str = "auto"  # "auto" | "fp32" | "bf16" | "fp16"; auto: bf16 where the hardware is fast at it
    group_by_length: bool = True  # batches of similar-length sentences: less padding, same training
    seed: int = 42  # one seed for the new classifier head, dropout and batch order
    early_stopping_patience: int | None = None  # stop after this many epochs without a better dev F1 (None: never)
    max_train_sentences: int | None = None  # train on the first N sentences only (quick runs, profiling)
    eval_batch_size: int = 64  # sentences per batch when predicting dev and test
    num_threads: int | None = None  # CPU threads for torch (None: torch's choice, one per core)
    resume_from: str | None = None  # a checkpoint folder, or "latest" (output_dir/checkpoint), to continue from
    checkpoint_every_epoch: bool = True  # write a resumable checkpoint after every epoch

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        LabelStrategy(self.label_strategy)  # raises for anything but "first"/"all"
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "max_length", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio is a share of the steps, between 0 and 1; got {self.warmup_ratio}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingConfig":
        """Settings from a dict (e.g. parsed JSON); an unknown key is an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "TrainingConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        width = max(len(f.name) for f in fields(self))
        return "\n".join(f"  {name:<{width}} = {value!r}" for name, value in self.to_dict().items())


# ---------------------------------------------------------------- precision and optimizer


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX): bf16 matmuls are then ~4x faster.

    Without them torch still computes in bf16, but by emulation, slower than fp32.
    """
    try:  # torch's own CPU feature probe (a private helper, so guarded)
        capabilities = torch._C._cpu._get_cpu_capability()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    except Exception:  # noqa: BLE001 - fall back to the kernel's view of the CPU
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``TrainingConfig.precision`` -> Accelerate's ``mixed_precision`` ("no", "bf16" or "fp16") on ``device``."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "no"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA GPU; on this device use 'bf16' or 'fp32'")
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices only.

    Decay pulls weights towards 0. For biases and LayerNorm gains/shifts (the 1-D tensors)
    that is no regularisation, only a bias towards a wrong value, so BERT never decayed them.
    """
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_accelerator(config: TrainingConfig):
    """An ``accelerate.Accelerator`` for this run's precision and gradient accumulation."""
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import parse_flag_from_env

    # Accelerate keeps its settings in process-wide singletons and refuses a second
    # Accelerator with other settings (a notebook training in fp32 and then in bf16).
    # Forget the previous run's settings; the process group of a launched run is kept.
    AcceleratorState._reset_state()
    GradientState._reset_state()
    # The device decides the precision, so ask for it before the Accelerator exists, reading
    # ACCELERATE_USE_CPU as Accelerate does (set it for several CPU processes under torchrun).
    device = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device
    mixed_precision = resolve_precision(config.precision, device)
    return Accelerator(mixed_precision=mixed_precision, gradient_accumulation_steps=config.gradient_accumulation_steps)


# ---------------------------------------------------------------- loop state, checkpoints


@dataclass
class TrainingState:
    """What the loop has to remember between epochs (and across a resume)."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer updates done
    best_dev_f1: float = -1.0  # -1: even an F1 of 0 after the first epoch is "the best so far"
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)  # one record per finished epoch
    best_dev_report: dict | None = None


def rng_states() -> dict:
    """Python, NumPy, torch and CUDA random states, as plain lists and tensors (``weights_only`` loadable)."""
    version, internal, gauss = random.getstate()
    _, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(
        ("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached"])
    )
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(folder: str | os.PathLike[str], model, optimizer, scheduler, state: TrainingState, config: TrainingConfig) -> Path:
    """Everything needed to continue exactly where the run stopped, written atomically.

    ``model.safetensors`` holds the weights; ``training_state.pt`` holds optimizer moments,
    scheduler position, RNG states and the loop state. A crash mid-save leaves the previous
    checkpoint as it was (``files.atomic_directory``).
    """
    from safetensors.torch import save_model as save_weights

    with atomic_directory(folder) as temporary:
        save_weights(model, str(temporary / "model.safetensors"))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_states(),
                "state": asdict(state),
                "settings": config.to_dict(),
            },
            temporary / "training_state.pt",
        )
    return Path(folder)


def load_checkpoint(folder: str | os.PathLike[str], model, optimizer, scheduler, config: TrainingConfig) -> TrainingState:
    """Restore weights, optimizer, scheduler and RNG states from :func:`save_checkpoint`; return the loop state.

    Loaded with ``weights_only=True``: a checkpoint can only hold tensors and plain data, never code.
    """
    from safetensors.torch import load_model as load_weights

    folder = Path(folder)
    if not (folder / "training_state.pt").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint (no training_state.pt); checkpoints are in <output_dir>/checkpoint")
    saved = torch.load(folder / "training_state.pt", weights_only=True, map_location="cpu")
    load_weights(model, str(folder / "model.safetensors"))  # read on the CPU, copied onto the model's device
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_states(saved["rng"])
    ignored = {"resume_from", "output_dir", "num_threads", "epochs", "early_stopping_patience"}
    changed = {k: (v, getattr(config, k)) for k, v in saved["settings"].items() if k not in ignored and getattr(config, k, v) != v}
    if changed:
        warnings.warn(f"resuming with settings that differ from the checkpoint's (saved, now): {changed}", stacklevel=2)
    return TrainingState(**saved["state"])


# ---------------------------------------------------------------- the run


@dataclass
class TrainingResult:
    history: list[dict]  # one record per epoch (metrics.jsonl)
    best_dev_f1: float
    best_epoch: int  # 1-based
    output_dir: Path
    sentences_per_second: float  # training only (no evaluation), all processes together
    padding_fraction: float  # share of pad tokens in the training batches of the first epoch
    train_seconds: float  # time in the training loop proper (no evaluation, no saving)
    dev_report: dict | None  # evaluation.EvaluationReport.to_dict() of the best epoch
    test_report: dict | None  # the best model on the test split (None without one)
    stopped_early: bool
    precision: str  # what the run computed in: "fp32", "bf16" or "fp16" (autocast; weights stay fp32)
    model: Any = field(default=None, repr=False)  # the best model (weights of best_epoch), unwrapped
    tokenizer: Any = field(default=None, repr=False)

    @property
    def test_f1(self) -> float | None:
        return None if self.test_report is None else self.test_report["entity_f1"]


def evaluate_split(model, tokenizer, split, config: TrainingConfig, accelerator):
    """Entity scores and word-level loss of ``model`` on one split (each process predicts a share)."""
    from .evaluation import evaluate_tags, gold_word_tags, predict_words

    with accelerator.autocast():
        predictions = predict_words(
            accelerator.unwrap_model(model), tokenizer, split,
            batch_size=config.eval_batch_size, max_length=config.max_length, accelerator=accelerator,
        )
    return evaluate_tags(gold_word_tags(split), predictions.tags), predictions.loss


def _save_figure(figure, path: Path) -> None:
    """``savefig`` to a temporary name, then rename: a half-written PNG never replaces a good one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=100)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _describe_run(config, accelerator, mixed_precision, threads) -> str:
    precision = {"no": "fp32", "bf16": "bf16 autocast (fp32 weights)", "fp16": "fp16 autocast + loss scaling"}[mixed_precision]
    why = ""
    if config.precision == "auto":
        why = " (auto: " + ("the hardware has fast bf16" if mixed_precision == "bf16" else "no fast bf16 here") + ")"
    return (
        f"device: {accelerator.device} x {accelerator.num_processes} process(es) | precision: {precision}{why}"
        + (f" | CPU threads: {threads}" if accelerator.device.type == "cpu" else "")
    )


def load_inputs(config: TrainingConfig, dataset, model, tokenizer, log):
    """The data set, model and tokenizer of a run: those given, else loaded from the config; checked to match."""
    from . import data as data_module
    from .modelling import describe, load_model_and_tokenizer, resolve_model

    if dataset is None:
        dataset = data_module.load_data(config.data)
    else:
        log(f"data: the dataset given: {data_module.describe(dataset)}")
    if "validation" not in dataset:
        raise ValueError(f"training needs a validation split (to pick the best epoch); the data has {list(dataset)}")
    labels = data_module.label_names(dataset)
    if model is None:
        model, tokenizer = load_model_and_tokenizer(config.model, labels, device="cpu", verbose=False)
        log(describe(model, resolve_model(config.model), "cpu"))
    else:
        if tokenizer is None:
            raise ValueError("pass the model's tokenizer along with the model")
        log(describe(model, "the model given", next(model.parameters()).device))
    model_labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if model_labels != labels:
        raise ValueError(f"the model predicts {model_labels}, the data has labels {labels}: they must be the same list")
    return dataset, model, tokenizer


def make_train_loader(train_split, tokenizer, config: TrainingConfig, *, pad_to_multiple_of: int | None = None):
    """Tokenized, label-aligned training sentences in (length-grouped) batches: ``(loader, sampler)``."""
    from torch.utils.data import DataLoader

    from .batching import LengthGroupedBatchSampler, make_collator

    if config.max_train_sentences:
        train_split = train_split.select(range(min(config.max_train_sentences, len(train_split))))
    encoded = encode_dataset(train_split, tokenizer, max_length=config.max_length, strategy=config.label_strategy)
    # Plain Python lists: on a fast GPU, reading Arrow rows one at a time costs more than the model.
    examples = encoded.select_columns(["input_ids", "attention_mask", "labels"]).to_list()
    lengths = [len(example["input_ids"]) for example in examples]
    sampler = LengthGroupedBatchSampler(lengths, config.batch_size, seed=config.seed, group_by_length=config.group_by_length)
    collate = make_collator(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
    return DataLoader(examples, batch_sampler=sampler, collate_fn=collate), sampler


def train(
    config: TrainingConfig,
    *,
    dataset=None,
    model=None,
    tokenizer=None,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> TrainingResult:
    """Fine-tune ``config.model`` on ``config.data`` (or the ``dataset``/``model``/``tokenizer`` given).

    ``callbacks`` are called with each epoch's record (the dict written to ``metrics.jsonl``),
    e.g. to draw live curves in a notebook.
    """
    from accelerate.utils import set_seed
    from safetensors.torch import load_model as load_weights
    from torch.nn.functional import cross_entropy
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from .batching import LengthGroupedBatchSampler, batch_lengths, padding_fraction
    from .modelling import save_model
    from .plotting import plot_training_curves

    # ---- set-up: settings, device, data, model
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    accelerator = make_accelerator(config)
    main = accelerator.is_main_process
    log = accelerator.print  # prints once, on the main process
    output_dir = Path(config.output_dir)
    log(f"training settings:\n{config}")
    set_seed(config.seed)  # python, numpy, torch (and CUDA): the new classifier head starts the same every run
    dataset, model, tokenizer = load_inputs(config, dataset, model, tokenizer, log)
    on_gpu = accelerator.device.type == "cuda"
    # Multiples of 8 tokens suit tensor cores; on a CPU they would only add padding.
    train_loader, sampler = make_train_loader(dataset["train"], tokenizer, config, pad_to_multiple_of=8 if on_gpu else None)
    padding = padding_fraction(batch_lengths(sampler, epoch=0))
    random_padding = padding_fraction(
        batch_lengths(LengthGroupedBatchSampler(sampler.lengths, config.batch_size, seed=config.seed, group_by_length=False))
    )
    # The loss is summed over labelled sub-words and divided by their mean count per batch (not
    # by each batch's own count): every word then weighs the same, whether its batch holds short
    # or long sentences. The model's own ``.loss`` is a per-batch mean, which gives the words of
    # a batch of short sentences up to 4x more weight than those of a batch of long ones:
    # harmless when batches are random mixes, a skew when they are length-grouped.
    labelled = sum(label != IGNORE_INDEX for example in train_loader.dataset for label in example["labels"])
    labelled_per_batch = labelled / len(sampler)
    if on_gpu:
        torch.set_float32_matmul_precision("high")  # TF32 for whatever still runs in fp32 (Ampere and newer)

    # fused: one pass over each parameter instead of a dozen; several times faster on CPU and GPU.
    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.learning_rate, fused=fused)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    # Step counts only now: after prepare, each of N processes sees 1/N of the batches.
    updates_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_updates = config.epochs * updates_per_epoch
    warmup_updates = round(config.warmup_ratio * total_updates)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_updates, total_updates)

    state = TrainingState()
    if config.resume_from:
        checkpoint = output_dir / "checkpoint" if config.resume_from == "latest" else Path(config.resume_from)
        state = load_checkpoint(checkpoint, accelerator.unwrap_model(model), optimizer, scheduler, config)
        log(f"resumed from {checkpoint}: {state.epoch} epoch(s) done, best dev F1 {state.best_dev_f1:.4f} (epoch {state.best_epoch})")

    threads = torch.get_num_threads()
    log(_describe_run(config, accelerator, accelerator.mixed_precision, threads))
    log(
        f"steps: {updates_per_epoch} updates/epoch x {config.epochs} epochs = {total_updates} ({warmup_updates} warm-up); "
        f"{config.batch_size} sentences x {config.gradient_accumulation_steps} accumulation x {accelerator.num_processes} "
        f"process(es) per update | padding: {padding:.1%} of tokens ({random_padding:.1%} with random batches)"
    )
    if main:
        atomic_write_json(output_dir / "settings.json", config.to_dict())
        # Rewritten from the loop state: a resumed run's log holds exactly the epochs it carries on from.
        atomic_write_text(output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state.history))

    # ---- the loop
    train_seconds, sentences_seen = 0.0, 0
    stopped_early = False
    patience = config.early_stopping_patience
    for epoch in range(state.epoch, config.epochs):
        if patience is not None and state.epochs_without_improvement >= patience:
            log(f"early stopping: no better dev F1 for {patience} epoch(s); best was epoch {state.best_epoch}")
            stopped_early = True
            break
        model.train()
        # The same batches on every process for this epoch; Accelerate hands each process its share.
        sampler.set_epoch(epoch)
        train_loader.set_epoch(epoch)
        loss_sum = torch.zeros((), device=accelerator.device)  # summed on the device: no sync per step
        labelled_seen = torch.zeros((), device=accelerator.device)
        batches = sentences = 0
        started = time.perf_counter()
        progress = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not main, leave=False)
        for batch in progress:
            with accelerator.accumulate(model):  # sums gradients over micro-batches; no DDP sync until the update
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                labels = batch["labels"].flatten()  # -100 on pads, special tokens (and continuation pieces for "first")
                token_losses = cross_entropy(logits.flatten(0, 1).float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
                loss = token_losses / labelled_per_batch  # see labelled_per_batch above
                accelerator.backward(loss)  # divides by gradient_accumulation_steps; scales for fp16
                if accelerator.sync_gradients:  # last micro-batch of an update
                    if config.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    state.step += 1
            loss_sum += token_losses.detach()
            labelled_seen += (labels != IGNORE_INDEX).sum()
            batches += 1
            sentences += batch["input_ids"].shape[0]
            if batches % 20 == 0:  # .item() waits for the GPU: only now and then
                progress.set_postfix(loss=f"{(loss_sum / labelled_seen).item():.4f}")
        progress.close()
        epoch_loss = loss_sum.item()  # waits for the GPU to finish the epoch: the time below is the real one
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        # One small all-gather per epoch: loss sums, labelled sub-words and sentences of every process.
        totals = accelerator.gather(torch.tensor([[epoch_loss, labelled_seen.item(), sentences]], device=accelerator.device))
        per_process_sentences = [int(n) for n in totals[:, 2].tolist()]
        sentences_seen += sum(per_process_sentences)

        dev, dev_loss = evaluate_split(model, tokenizer, dataset["validation"], config, accelerator)
        record = {
            "epoch": epoch + 1,
            "step": state.step,
            "learning_rate": scheduler.get_last_lr()[0],
            "train_loss": float(totals[:, 0].sum() / totals[:, 1].sum()),  # per labelled sub-word
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
            if main:
                save_model(accelerator.unwrap_model(model), tokenizer, output_dir / "model")
        else:
            state.epochs_without_improvement += 1
        log(
            f"epoch {epoch + 1}: train loss {record['train_loss']:.4f} | dev loss {dev_loss:.4f} | dev F1 {dev.entity_f1:.4f} "
            f"(P {dev.precision:.4f} R {dev.recall:.4f}) | {record['sentences_per_second']:.1f} sentences/s"
            + (" | best so far" if state.best_epoch == epoch + 1 else "")
        )
        if main:
            with open(output_dir / "metrics.jsonl", "a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
            _save_figure(plot_training_curves(state.history, best_epoch=state.best_epoch), output_dir / "curves.png")
            if config.checkpoint_every_epoch:
                save_checkpoint(output_dir / "checkpoint", accelerator.unwrap_model(model), optimizer, scheduler, state, config)
        for callback in callbacks:
            callback(record)
        accelerator.wait_for_everyone()  # nobody runs ahead while the main process writes

    # ---- the best model, scored on test
    best = accelerator.unwrap_model(model)
    load_weights(best, str(output_dir / "model" / "model.safetensors"))  # the best epoch's weights, from disk
    test_report = None
    if "test" in dataset:
        test, _ = evaluate_split(model, tokenizer, dataset["test"], config, accelerator)
        test_report = test.to_dict()
        log(f"best epoch {state.best_epoch}: dev F1 {state.best_dev_f1:.4f} | test F1 {test.entity_f1:.4f}")
    speed = sentences_seen / train_seconds if train_seconds else 0.0
    result = TrainingResult(
        history=state.history,
        best_dev_f1=state.best_dev_f1,
        best_epoch=state.best_epoch,
        output_dir=output_dir,
        sentences_per_second=speed,
        padding_fraction=padding,
        train_seconds=train_seconds,
        dev_report=state.best_dev_report,
        test_report=test_report,
        stopped_early=stopped_early,
        precision={"no": "fp32"}.get(accelerator.mixed_precision, accelerator.mixed_precision),
        model=best,
        tokenizer=tokenizer,
    )
    if main:
        atomic_write_json(
            output_dir / "metrics.json",
            {
                "model": config.model,
                "best_epoch": state.best_epoch,
                "epochs_run": state.epoch,
                "stopped_early": stopped_early,
                "dev": state.best_dev_report,
                "test": test_report,
                "precision": result.precision,
                "processes": accelerator.num_processes,
                "sentences_per_second": speed,
                "train_seconds": train_seconds,
                "padding_fraction": padding,
            },
        )
    accelerator.wait_for_everyone()
    return result
