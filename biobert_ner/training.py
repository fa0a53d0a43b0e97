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
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .alignment import IGNORE_INDEX, LabelStrategy, encode_dataset
from .checkpoints import TrainingState, load_checkpoint, save_checkpoint  # noqa: F401 (re-exported)
from .files import atomic_write_json, atomic_write_text
from .modelling import DEFAULT_MODEL
from .paths import relative

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GRAPH_MODES = ("auto", "on", "off")


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
    classifier_lr_scale: float = 1.0  # the new classifier head learns at this many times learning_rate
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
    cuda_graphs: str = "auto"  # "auto" | "on" | "off": replay each step from a CUDA graph (auto: on one CUDA GPU, see graphed_training)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        LabelStrategy(self.label_strategy)  # raises for anything but "first"/"all"
        if self.cuda_graphs not in GRAPH_MODES:
            raise ValueError(f"cuda_graphs must be one of {', '.join(GRAPH_MODES)}, not {self.cuda_graphs!r}")
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
        # Printed at the start of every run and stored in notebook outputs: folders as repository-relative
        # paths, so the printout is the same on every machine (settings.json keeps the real paths).
        width = max(len(f.name) for f in fields(self))
        return "\n".join(f"  {name:<{width}} = {_shown_setting(name, value)!r}" for name, value in self.to_dict().items())


def _shown_setting(name: str, value: Any) -> Any:
    """A setting as printed: a folder relative to the repository; anything else (and ``resume_from="latest"``) as is."""
    if name in ("output_dir", "resume_from") and value and value != "latest":
        return relative(value)
    return value


# ---------------------------------------------------------------- precision and optimizer


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX): bf16 matmuls are then ~4x faster.

    Without them torch still computes in bf16, but by emulation, slower than fp32.
    """
    # torch's own CPU feature probe is private (torch._C._cpu): torch has no public API that names
    # bf16 instructions (torch.backends.cpu.get_cpu_capability() says only "AVX512"), so it is
    # guarded and falls back to the kernel's list of CPU flags.
    try:
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


def optimizer_groups(model: torch.nn.Module, config: TrainingConfig) -> list[dict]:
    """:func:`parameter_groups`, each with its learning rate; the classifier head's scaled by ``classifier_lr_scale``.

    The encoder starts from pretrained weights and needs small steps; the classifier head
    starts random, and with a few hundred updates in all it may need bigger ones to catch up.
    """
    head = {id(parameter) for parameter in model.classifier.parameters()} if config.classifier_lr_scale != 1 else set()
    groups = []
    for group in parameter_groups(model, config.weight_decay):
        body = [p for p in group["params"] if id(p) not in head]
        top = [p for p in group["params"] if id(p) in head]
        groups.append({**group, "params": body, "lr": config.learning_rate})
        if top:
            groups.append({**group, "params": top, "lr": config.learning_rate * config.classifier_lr_scale})
    return groups


def make_accelerator(config: TrainingConfig):
    """An ``accelerate.Accelerator`` for this run's precision and gradient accumulation."""
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import parse_flag_from_env

    # Accelerate keeps its settings in process-wide singletons and refuses a second
    # Accelerator with other settings (a notebook training in fp32 and then in bf16).
    # Forget the previous run's settings; the process group of a launched run is kept.
    # ``_reset_state`` is private, but it is what Accelerate's own tests use between runs, and
    # no public call resets the singletons (``Accelerator.free_memory`` keeps the settings).
    AcceleratorState._reset_state()
    GradientState._reset_state()
    # The device decides the precision, so ask for it before the Accelerator exists, reading
    # ACCELERATE_USE_CPU as Accelerate does (set it for several CPU processes under torchrun).
    device = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device
    mixed_precision = resolve_precision(config.precision, device)
    # The loop steps the scheduler once per update itself (eager loop: only when gradients are synced;
    # graphed loop: every step), and counts updates per process: Accelerate must not step it again.
    return Accelerator(
        mixed_precision=mixed_precision, gradient_accumulation_steps=config.gradient_accumulation_steps,
        step_scheduler_with_optimizer=False,
    )


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
    cuda_graphs: bool = False  # whether the steps were replayed from CUDA graphs

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


def load_inputs(config: TrainingConfig, dataset, model, tokenizer, log):
    """The data set, model and tokenizer of a run: those given, else loaded from the config; checked to match."""
    from . import data as data_module
    from .modelling import describe_model, load_model_and_tokenizer, resolve_model

    if dataset is None:
        dataset = data_module.load_data(config.data)
    else:
        log(f"data: the dataset given: {data_module.describe_dataset(dataset)}")
    if "validation" not in dataset:
        raise ValueError(f"training needs a validation split (to pick the best epoch); the data has {list(dataset)}")
    labels = data_module.label_names(dataset)
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


def use_cuda_graphs(config: TrainingConfig, accelerator) -> tuple[bool, str]:
    """Whether this run replays its steps from CUDA graphs, and why (printed at the start of the run).

    Graphs pay where launching kernels costs more than running them: one CUDA GPU. They need a
    whole update per step (no gradient accumulation) and no fp16 loss scaling (its overflow
    check reads a value back from the GPU at every step).
    """
    problems = []
    if accelerator.device.type != "cuda":
        problems.append(f"no CUDA device (device: {accelerator.device})")
    if accelerator.num_processes > 1:
        problems.append(f"{accelerator.num_processes} processes (graphs are used with one)")
    if config.gradient_accumulation_steps > 1:
        problems.append("gradient accumulation")
    if accelerator.mixed_precision == "fp16":
        problems.append("fp16 loss scaling")
    if config.cuda_graphs == "off":
        return False, "CUDA graphs: off (cuda_graphs='off')"
    if problems and config.cuda_graphs == "on":
        raise ValueError(f"cuda_graphs='on' cannot be honoured: {'; '.join(problems)}; use cuda_graphs='auto' or 'off'")
    if problems:
        return False, f"CUDA graphs: off ({'; '.join(problems)})"
    return True, "CUDA graphs: on (each step replayed from a graph per length bucket; see graphed_training)"


@dataclass
class TrainingRun:
    """Everything one run carries from step to step: set up by :func:`set_up_run`, used by the named steps."""

    config: TrainingConfig
    accelerator: Any
    dataset: Any
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    train_loader: Any
    sampler: Any
    state: TrainingState
    log: Callable[[str], None]
    graphed_step: Any = None  # a graphed_training.BucketedTrainStep, or None for the eager loop
    best_weights: dict | None = None  # a copy of the best epoch's weights, kept in memory until the end
    labelled_per_batch: float = 1.0  # mean labelled sub-words per batch: the loss divides by it
    train_seconds: float = 0.0
    sentences_seen: int = 0
    padding: float = 0.0

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process


def _labelled_per_batch(examples, batches: int) -> float:
    """Mean labelled sub-words per batch over the whole training set (see :func:`train_one_epoch`)."""
    labelled = sum(label != IGNORE_INDEX for example in examples for label in example["labels"])
    return labelled / batches


def make_optimizer(model, config: TrainingConfig, device: torch.device, graphs: bool):
    """Fused AdamW (one kernel pass over all parameters instead of a dozen per tensor).

    For CUDA graphs the learning rate is a GPU tensor (the scheduler writes into it between
    replays) and the optimizer ``capturable``; the scheduler still reads a plain float base rate.
    """
    fused = device.type in ("cpu", "cuda")
    groups = optimizer_groups(model, config)
    if not graphs:
        return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)
    for group in groups:
        group["initial_lr"] = group["lr"]  # a float: the scheduler then never reads the GPU
        group["lr"] = torch.tensor(group["lr"], device=device)
    return torch.optim.AdamW(groups, lr=torch.tensor(config.learning_rate, device=device), fused=True, capturable=True)


def set_up_run(config: TrainingConfig, dataset, model, tokenizer) -> TrainingRun:
    """Settings, device, data, model, batches, optimizer and schedule; resumed from a checkpoint if asked."""
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    from .batching import LengthGroupedBatchSampler, batch_lengths, padding_fraction
    from .graphed_training import length_buckets

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    accelerator = make_accelerator(config)
    log = accelerator.print  # prints once, on the main process
    log(f"training settings:\n{config}")
    set_seed(config.seed)  # python, numpy, torch (and CUDA): the new classifier head starts the same every run
    dataset, model, tokenizer = load_inputs(config, dataset, model, tokenizer, log)
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
    if graphs:
        # The graphed step owns batches and autocast itself. Model and optimizer are still prepared, so
        # that save_state/load_state find them, but the model keeps its own forward (no autocast wrapper).
        model, optimizer = accelerator.prepare(model, optimizer)
        model = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    else:
        model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    # Step counts only now: after prepare, each of N processes sees 1/N of the batches.
    updates_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_updates = config.epochs * updates_per_epoch
    warmup_updates = round(config.warmup_ratio * total_updates)
    scheduler = accelerator.prepare(get_linear_schedule_with_warmup(optimizer, warmup_updates, total_updates))
    run = TrainingRun(config, accelerator, dataset, model, tokenizer, optimizer, scheduler, train_loader, sampler, TrainingState(), log)
    run.labelled_per_batch = _labelled_per_batch(examples, len(sampler))
    lengths = batch_lengths(sampler, epoch=0)
    run.padding = padding_fraction(lengths)
    if graphs:
        run.graphed_step = _make_graphed_step(run, length_buckets(config.max_length))
        run.padding = run.graphed_step.padding_fraction(lengths)
    if config.resume_from:
        _resume(run)
    random_padding = padding_fraction(
        batch_lengths(LengthGroupedBatchSampler(sampler.lengths, config.batch_size, seed=config.seed, group_by_length=False))
    )
    log(_describe_run(config, accelerator, accelerator.mixed_precision, torch.get_num_threads()) + f" | {graphs_reason}")
    log(
        f"steps: {updates_per_epoch} updates/epoch x {config.epochs} epochs = {total_updates} ({warmup_updates} warm-up); "
        f"{config.batch_size} sentences x {config.gradient_accumulation_steps} accumulation x {accelerator.num_processes} "
        f"process(es) per update | padding: {run.padding:.1%} of tokens ({random_padding:.1%} with random batches)"
    )
    if run.is_main:
        atomic_write_json(run.output_dir / "settings.json", config.to_dict())
        # Rewritten from the loop state: a resumed run's log holds exactly the epochs it carries on from.
        atomic_write_text(run.output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in run.state.history))
    return run


def _make_graphed_step(run: TrainingRun, buckets: list[int]):
    from .graphed_training import BucketedTrainStep

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(run.accelerator.mixed_precision)
    return BucketedTrainStep(
        run.model, run.optimizer, run.train_loader.dataset, run.sampler.lengths, buckets=buckets,
        batch_size=run.config.batch_size, pad_id=run.tokenizer.pad_token_id, labelled_per_batch=run.labelled_per_batch,
        max_grad_norm=run.config.max_grad_norm, autocast_dtype=dtype, use_graphs=True,
    )


def _resume(run: TrainingRun) -> None:
    config = run.config
    checkpoint = run.output_dir / "checkpoint" if config.resume_from == "latest" else Path(config.resume_from)
    run.state = load_checkpoint(checkpoint, run.accelerator, config)
    if run.state.best_epoch and (run.output_dir / "model" / "model.safetensors").is_file():
        from safetensors.torch import load_file

        run.best_weights = load_file(str(run.output_dir / "model" / "model.safetensors"))  # the best epoch so far
    run.log(f"resumed from {checkpoint}: {run.state.epoch} epoch(s) done, best dev F1 {run.state.best_dev_f1:.4f} (epoch {run.state.best_epoch})")


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


def write_epoch_outputs(run: TrainingRun, record: dict) -> None:
    """The epoch's line in ``metrics.jsonl``, the curves, the best model so far and a resumable checkpoint."""
    from .plotting import plot_training_curves

    if run.is_main:
        with open(run.output_dir / "metrics.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        _save_figure(plot_training_curves(run.state.history, best_epoch=run.state.best_epoch), run.output_dir / "curves.png")
        if run.config.checkpoint_every_epoch:
            if run.state.best_epoch == record["epoch"]:  # a resumed run needs the best model so far on disk too
                _save_best_model(run)
            save_checkpoint(run.output_dir / "checkpoint", run.accelerator, run.state, run.config)
    run.accelerator.wait_for_everyone()  # nobody runs ahead while the main process writes


def _save_best_model(run: TrainingRun) -> None:
    """``output_dir/model``: the best epoch's weights (from memory) with the tokenizer."""
    from .modelling import save_model

    model = run.accelerator.unwrap_model(run.model)
    current = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    model.load_state_dict(run.best_weights)
    save_model(model, run.tokenizer, run.output_dir / "model")
    model.load_state_dict(current)


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
        from .modelling import save_model

        save_model(best, run.tokenizer, run.output_dir / "model", extra_files=_model_folder_files(run, result))
        atomic_write_json(run.output_dir / "metrics.json", _metrics_summary(run, result))
    accelerator.wait_for_everyone()
    return result


def _model_folder_files(run: TrainingRun, result: TrainingResult) -> dict[str, str]:
    """The model card and the settings inference needs (:mod:`biobert_ner.model_card`)."""
    from .data import label_names
    from .model_card import CARD_FILE, NER_SETTINGS_FILE, model_card, ner_settings

    card = model_card(run.config, labels=label_names(run.dataset), dev=result.dev_report, test=result.test_report,
                      best_epoch=result.best_epoch)
    return {CARD_FILE: card, NER_SETTINGS_FILE: json.dumps(ner_settings(run.config), indent=2) + "\n"}


def _metrics_summary(run: TrainingRun, result: TrainingResult) -> dict:
    return {
        "model": run.config.model,
        "best_epoch": result.best_epoch,
        "epochs_run": run.state.epoch,
        "stopped_early": result.stopped_early,
        "dev": result.dev_report,
        "test": result.test_report,
        "precision": result.precision,
        "cuda_graphs": result.cuda_graphs,
        "processes": run.accelerator.num_processes,
        "sentences_per_second": result.sentences_per_second,
        "train_seconds": result.train_seconds,
        "padding_fraction": result.padding_fraction,
    }


def _describe_run(config, accelerator, mixed_precision, threads) -> str:
    precision = {"no": "fp32", "bf16": "bf16 autocast (fp32 weights)", "fp16": "fp16 autocast + loss scaling"}[mixed_precision]
    why = ""
    if config.precision == "auto":
        why = " (auto: " + ("the hardware has fast bf16" if mixed_precision == "bf16" else "no fast bf16 here") + ")"
    return (
        f"device: {accelerator.device} x {accelerator.num_processes} process(es) | precision: {precision}{why}"
        + (f" | CPU threads: {threads}" if accelerator.device.type == "cpu" else "")
    )


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
