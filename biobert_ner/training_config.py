"""What a training run is made of, as plain data: its settings, the loop's state, its parts.

* :class:`TrainingConfig`: every setting of a run (printed at the start, saved as ``settings.json``);
* :class:`TrainingState`: what the loop remembers between epochs and across a resume;
* :class:`TrainingRun`: the objects :func:`training.set_up_run` builds from the settings (model,
  optimizer, batches, ...), handed from one named step of the loop to the next.

They live apart from the loop (``training``) so that the modules the loop calls (``batching``,
``optimization``, ``checkpoints``, ``graphed_training``, ``run_outputs``) can name them without
importing the loop that imports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from .alignment import LabelStrategy, parse_label_strategy
from .decoding import DEFAULT_DECODING, Decoding, parse_decoding
from .modelling import DEFAULT_MODEL
from .paths import relative
from .precision import Precision, parse_precision

GRAPH_MODES = ("auto", "on", "off")


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
    layer_lr_decay: float = 1.0  # each encoder layer learns at this many times the rate of the one above (1: all alike)
    weight_decay: float = 0.01  # AdamW decay of matrices; biases and LayerNorm are never decayed
    warmup_ratio: float = 0.1  # share of all update steps over which the lr ramps up from 0
    max_grad_norm: float | None = 1.0  # clip the global gradient norm to this (None or 0: no clipping)
    gradient_accumulation_steps: int = 1  # micro-batches per update: update batch = batch_size x this x processes
    max_length: int = 128  # sub-words per sentence, [CLS]/[SEP] included; longer ones are cut (with a warning)
    label_strategy: LabelStrategy = LabelStrategy.ALL  # sub-words that carry a label in training: "all" (every piece) or "first" (F1 is per word anyway)
    decoding: Decoding = DEFAULT_DECODING  # how dev tags are read to pick the best epoch: "viterbi" (most probable valid IOB2) or "argmax"
    precision: Precision = Precision.AUTO  # "auto" | "fp32" | "bf16" | "fp16"; auto: bf16 where the hardware is fast at it
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
        # Strings (flags, JSON) are parsed here, once; the rest of the library sees the enums.
        self.precision = parse_precision(self.precision)
        self.label_strategy = parse_label_strategy(self.label_strategy)
        self.decoding = parse_decoding(self.decoding)
        if self.cuda_graphs not in GRAPH_MODES:
            raise ValueError(f"cuda_graphs must be one of {', '.join(GRAPH_MODES)}, not {self.cuda_graphs!r}")
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "max_length", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio is a share of the steps, between 0 and 1; got {self.warmup_ratio}")
        if not 0 < self.layer_lr_decay <= 1:
            raise ValueError(f"layer_lr_decay scales each layer's rate down from the top: between 0 (excluded) and 1; got {self.layer_lr_decay}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingConfig":
        """Settings from a dict (e.g. parsed JSON); an unknown key is an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready settings (an enum by its value)."""
        return {name: getattr(value, "value", value) for name, value in asdict(self).items()}

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
