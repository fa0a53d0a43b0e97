"""The fast path of the training loop on a GPU: length buckets and CUDA graphs.

Why it exists. A training step of BERT-base on 32 sentences does about 1 ms of matrix work on
a modern GPU, but launches about 1,500 small kernels (each layer's matmuls, softmax, dropout,
layer norms, their gradients, the optimizer). Launched one by one from Python, those launches
take 30-40 ms: the GPU waits for Python most of the time, and a bigger GPU does not help.

A CUDA graph records the kernels of one whole step once and replays them with a single launch.
A graph replays fixed shapes on fixed memory, so:

* batches are padded to a few **length buckets** (16, 32, 48, ... sub-words) instead of each to
  its own longest sentence: a handful of shapes, one graph each;
* the whole training set lives on the GPU, padded to the longest bucket; a step receives only
  the row numbers of its sentences and gathers them itself (inside the graph);
* a short last batch is topped up with an all-padding row whose labels are all ignored, so it
  changes neither the loss nor any gradient;
* the optimizer (fused AdamW, ``capturable=True``) reads its learning rate from a GPU tensor
  that the scheduler updates between replays;
* the loss is summed into a GPU tensor and read once per epoch, not per step: reading it
  would make Python wait for the GPU.

The first batch of each bucket runs eagerly (a real training step, on a side stream, as CUDA
graphs require before capture); the next one is captured and every later one replays. Each
step does exactly what the eager loop does: zero the gradients, forward, summed cross-entropy
over labelled sub-words divided by their mean count per batch, backward, clip, optimizer step.
On a CPU the same class runs the same step eagerly (``use_graphs=False``), which is how the
tests check it without a GPU.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch.nn.functional import cross_entropy

from .alignment import IGNORE_INDEX

if TYPE_CHECKING:
    from .training_config import TrainingConfig, TrainingRun

BUCKET_WIDTH = 16  # sub-words between two padded lengths: few graphs, little extra padding


def length_buckets(max_length: int, width: int = BUCKET_WIDTH) -> list[int]:
    """The padded lengths a batch can have: multiples of ``width`` up to ``max_length`` (which is always one).

    ``length_buckets(128)`` -> ``[16, 32, 48, 64, 80, 96, 112, 128]``.
    """
    buckets = list(range(width, max_length, width))
    return buckets + [max_length]


def bucket_for(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``length`` sub-words."""
    for bucket in buckets:
        if length <= bucket:
            return bucket
    raise ValueError(f"a sentence of {length} sub-words is longer than the largest bucket ({buckets[-1]})")


def bucketed_padding_fraction(batch_lengths: Sequence[Sequence[int]], buckets: Sequence[int], batch_size: int) -> float:
    """Share of pad tokens when every batch is ``batch_size`` rows of its bucket's length (what the graphs compute)."""
    padded = sum(bucket_for(max(lengths), buckets) * batch_size for lengths in batch_lengths if lengths)
    real = sum(sum(lengths) for lengths in batch_lengths)
    return (padded - real) / padded if padded else 0.0


def pad_examples(examples: Sequence[dict], max_length: int, pad_id: int) -> dict[str, torch.Tensor]:
    """All examples as three ``(N + 1, max_length)`` tensors; the extra last row is an all-padding sentence.

    The padding row attends to its first position only (a row that attends to nothing would
    make attention divide by zero) and has every label ignored, so it adds nothing to the loss.
    """
    count = len(examples) + 1
    input_ids = np.full((count, max_length), pad_id, dtype=np.int64)
    attention_mask = np.zeros((count, max_length), dtype=np.int64)
    labels = np.full((count, max_length), IGNORE_INDEX, dtype=np.int64)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        input_ids[row, :length] = example["input_ids"]
        attention_mask[row, :length] = example["attention_mask"]
        labels[row, :length] = example["labels"]
    attention_mask[-1, 0] = 1
    return {key: torch.from_numpy(value) for key, value in
            (("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels))}


class BucketedTrainStep:
    """One optimizer update per call, on a batch given as row numbers; replayed from a CUDA graph on a GPU.

    ``step(rows, length)``: ``rows`` is a ``(batch_size,)`` LongTensor of example rows (the
    padding row ``len(examples)`` tops up a short batch), ``length`` the batch's bucket.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        examples: Sequence[dict],
        lengths: Sequence[int],
        *,
        buckets: Sequence[int],
        batch_size: int,
        pad_id: int,
        labelled_per_batch: float,
        max_grad_norm: float | None,
        autocast_dtype: torch.dtype | None,
        use_graphs: bool,
    ) -> None:
        self.model, self.optimizer = model, optimizer
        self.device = next(model.parameters()).device
        self.buckets = list(buckets)
        self.lengths = np.asarray(lengths)  # sub-words per example, to pick each batch's bucket without the GPU
        self.table = {key: value.to(self.device) for key, value in pad_examples(examples, self.buckets[-1], pad_id).items()}
        self.padding_row = len(examples)
        self.batch_size = batch_size
        self.labelled_per_batch = labelled_per_batch
        self.max_grad_norm = max_grad_norm
        self.autocast_dtype = autocast_dtype
        self.use_graphs = use_graphs
        # Static memory the graphs read and write: allocated once, before any capture.
        self.rows = torch.full((batch_size,), self.padding_row, dtype=torch.long, device=self.device)
        self.loss_sum = torch.zeros((), device=self.device)  # summed token losses since the last reset
        self.labelled_sum = torch.zeros((), device=self.device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.warmed_up: set[int] = set()
        self.pool = torch.cuda.graph_pool_handle() if use_graphs else None  # one memory pool for all buckets

    def bucket_of(self, batch: Sequence[int]) -> int:
        """The padded length of a batch: the bucket of its longest sentence."""
        return bucket_for(int(self.lengths[list(batch)].max()), self.buckets)

    def padding_fraction(self, batch_lengths: Sequence[Sequence[int]]) -> float:
        return bucketed_padding_fraction(batch_lengths, self.buckets, self.batch_size)

    def batch_rows(self, batches: Sequence[Sequence[int]]) -> torch.Tensor:
        """All batches of an epoch as one ``(batches, batch_size)`` tensor on the device, short ones topped up."""
        rows = np.full((len(batches), self.batch_size), self.padding_row, dtype=np.int64)
        for number, batch in enumerate(batches):
            rows[number, : len(batch)] = batch
        return torch.from_numpy(rows).to(self.device)

    def step(self, rows: torch.Tensor, length: int) -> None:
        """One update on the sentences ``rows``, padded to ``length``."""
        self.rows.copy_(rows, non_blocking=True)
        if not self.use_graphs:
            self._update(length)
        elif length in self.graphs:
            self.graphs[length].replay()
        elif length in self.warmed_up:
            self._capture(length)
            self.graphs[length].replay()  # capturing records the kernels without running them
        else:
            self._warm_up(length)

    def take_loss(self) -> tuple[float, float]:
        """``(summed token loss, labelled sub-words)`` since the last call; waits for the GPU once."""
        totals = torch.stack([self.loss_sum, self.labelled_sum]).tolist()
        self.loss_sum.zero_()
        self.labelled_sum.zero_()
        return totals[0], totals[1]

    def _update(self, length: int) -> None:
        """The training step itself, exactly as the eager loop does it (this is what a graph records)."""
        input_ids, attention_mask, labels = (self.table[key].index_select(0, self.rows)[:, :length]
                                             for key in ("input_ids", "attention_mask", "labels"))
        self.optimizer.zero_grad(set_to_none=False)  # the gradients keep their memory: graphs write into it
        with self._autocast():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        token_losses = cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        (token_losses / self.labelled_per_batch).backward()
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.loss_sum += token_losses.detach()
        self.labelled_sum += (labels != IGNORE_INDEX).sum()

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        # cache_enabled=False: autocast's cache of cast weights does not survive into a graph replay.
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def _warm_up(self, length: int) -> None:
        """A real, eager step on a side stream: lazy initialisations happen here, not inside the capture."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._update(length)
        torch.cuda.current_stream().wait_stream(side)
        self.warmed_up.add(length)

    def _capture(self, length: int) -> None:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self._update(length)
        self.graphs[length] = graph


def use_cuda_graphs(config: "TrainingConfig", accelerator) -> tuple[bool, str]:
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


def prepare_keeping_forward(accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
    """Model and optimizer registered with Accelerate, so that ``save_state``/``load_state`` find them.

    With mixed precision, ``accelerator.prepare`` also sets an autocast-wrapped forward on the
    model object. The graphed step autocasts itself (with the cache off, see
    ``BucketedTrainStep._autocast``), so that wrapper is removed: the model's class forward is
    used again. (``unwrap_model(keep_fp32_wrapper=False)`` would also peel off the decorators
    transformers puts on ``forward``.)
    """
    model, optimizer = accelerator.prepare(model, optimizer)
    if "forward" in vars(model):
        del model.forward
    return model, optimizer


def make_graphed_step(run: "TrainingRun", buckets: list[int]) -> BucketedTrainStep:
    """The run's model, optimizer and training sentences, as one graphed step per bucket."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(run.accelerator.mixed_precision)
    return BucketedTrainStep(
        run.model, run.optimizer, run.train_loader.dataset, run.sampler.lengths, buckets=buckets,
        batch_size=run.config.batch_size, pad_id=run.tokenizer.pad_token_id, labelled_per_batch=run.labelled_per_batch,
        max_grad_norm=run.config.max_grad_norm, autocast_dtype=dtype, use_graphs=True,
    )
