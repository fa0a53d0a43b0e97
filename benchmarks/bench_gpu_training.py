"""Training speed on one GPU: a BERT-base-sized model, 3 epochs over 5,400 synthetic sentences.

    python -m benchmarks.bench_gpu_training                   # train() and the Trainer, side by side
    python -m benchmarks.bench_gpu_training --runs ours       # train() alone

The model is ``BertConfig()`` (BERT-base: 12 layers, hidden 768, vocabulary 30,522), randomly
initialised: the speed of BioBERT without downloading it. The sentences (~25 words) are built
by concatenating sentences of the bundled corpus and cutting them to a random length, so
words, entity density and tags look like real data; the F1 reached is not the point here, but
it is scored on held-out text all the same: training sentences are built from the corpus's
train split, dev sentences from its validation and test splits (less any sentence that is also
in train), so no dev sentence contains a sentence trained on.
Sub-words come from the all-MiniLM-L6-v2 WordPiece tokenizer when its package is installed
(same vocabulary size as BERT-base), else from a vocabulary built from the corpus.

Runs, in one process, on the same sentences and initial weights, batch size and epochs:
:func:`biobert_ner.training.train` at its defaults (bf16 autocast, length-grouped batches padded
to length buckets, each step replayed from a CUDA graph, fused AdamW), the same without CUDA
graphs (``ours_eager``) and in fp32/TF32 (``ours_fp32``), and Hugging Face's ``Trainer`` recipe of
``run_ner.py`` at its defaults (fp32, random batches) and tuned (bf16 + ``group_by_length``).
No per-epoch checkpoints unless ``--checkpoints`` (each one writes model + optimizer: 1.3 GB).
Prints JSON: card, wall time of the whole ``train()`` call, time in the training loop,
sentences/s, peak GPU memory, dev F1 under both decodings and the ratios; writes it to
``benchmarks/results/gpu_training.json`` (``--output``) with the commit and the machine.
Refuses to run without a CUDA GPU.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

from benchmarks.common import add_output_argument, finish, logs_to_stderr, result_path, start_record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=5400, help="training sentences (default 5,400)")
    parser.add_argument("--dev-sentences", type=int, default=600, help="validation sentences, scored after each epoch")
    parser.add_argument("--words", type=int, default=25, help="mean words per sentence (lengths vary +-10)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--checkpoints", action="store_true", help="also write a resumable checkpoint every epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of ours, ours_eager, ours_fp32, trainer_default, trainer_tuned")
    add_output_argument(parser, result_path("gpu_training"))
    args = parser.parse_args(argv)
    if args.sentences < 1 or args.dev_sentences < 1 or args.words < 1 or args.epochs < 1:
        parser.error("--sentences, --dev-sentences, --words and --epochs must be positive")
    return args


Pool = list[tuple[list, list]]  # corpus sentences as (words, tag ids)


def sentence_pools(corpus) -> tuple[Pool, Pool]:
    """Corpus sentences to build training sentences from (the train split) and dev sentences from.

    The dev pool is the validation and test splits less every sentence that is also in train (a
    corpus can repeat a sentence across splits): dev F1 is then measured on text never trained on.
    """
    def sentences(split: str) -> Pool:
        return [(list(tokens), list(tags)) for tokens, tags in zip(corpus[split]["tokens"], corpus[split]["ner_tags"])]

    train = sentences("train")
    seen = {tuple(tokens) for tokens, _ in train}
    held_out = [sentence for split in ("validation", "test") for sentence in sentences(split) if tuple(sentence[0]) not in seen]
    return train, held_out


def synthetic_sentences(pool: Pool, count: int, mean_words: int, rng: random.Random) -> tuple[list, list]:
    """``count`` sentences of ``mean_words +- 10`` words: sentences of ``pool`` chained, cut at a random length.

    Each synthetic sentence starts at the start of a corpus sentence, so its tags are valid
    IOB2 (a cut at the end can shorten the last entity but never leaves an ``I-`` first).
    """
    all_tokens, all_tags = [], []
    for _ in range(count):
        length = max(1, rng.randint(mean_words - 10, mean_words + 10))
        tokens, tags = [], []
        while len(tokens) < length:
            more_tokens, more_tags = rng.choice(pool)
            tokens += more_tokens
            tags += more_tags
        all_tokens.append(tokens[:length])
        all_tags.append(tags[:length])
    return all_tokens, all_tags


def build_dataset(args):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

    from biobert_ner.data import label_names, load_bundled_corpus

    corpus = load_bundled_corpus()
    labels = label_names(corpus)
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=labels))})
    rng = random.Random(args.seed)
    train_pool, dev_pool = sentence_pools(corpus)
    splits = {}
    for name, pool, count in (("train", train_pool, args.sentences), ("validation", dev_pool, args.dev_sentences)):
        tokens, tags = synthetic_sentences(pool, count, args.words, rng)
        splits[name] = Dataset.from_dict({"tokens": tokens, "ner_tags": tags}, features=features)
    return DatasetDict(splits), labels, corpus


def build_tokenizer(corpus):
    """The MiniLM WordPiece tokenizer if installed, else one over the corpus words (both fast tokenizers)."""
    from transformers import BertTokenizer

    from biobert_ner.modelling import build_vocabulary, load_tokenizer, minilm_path

    path = minilm_path()
    if path is not None:
        return load_tokenizer(str(path)), "all-MiniLM-L6-v2 WordPiece (30,522 pieces, uncased)"
    words = [token for split in corpus.values() for tokens in split["tokens"] for token in tokens]
    vocabulary = build_vocabulary(words, max_words=30_000)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}, do_lower_case=False)
    return tokenizer, f"WordPiece over the corpus words ({len(vocabulary)} pieces)"


RUNS = ("ours", "ours_eager", "ours_fp32", "trainer_default", "trainer_tuned")


def make_model(labels, seed: int):
    """BERT-base (``BertConfig()``), randomly initialised: the same weights for every run of a seed."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(seed)
    config = BertConfig(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    return BertForTokenClassification(config)


def run_ours(dataset, labels, tokenizer, args, **settings) -> dict:
    """:func:`biobert_ner.training.train` at its defaults (``settings`` changes some), timed as a whole."""
    import torch

    from biobert_ner.training import TrainingConfig, train

    model = make_model(labels, args.seed)
    from benchmarks.bench_training import scores_by_decoding

    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as folder:
        config = TrainingConfig(
            model="BertConfig() random init", output_dir=folder, epochs=args.epochs, batch_size=args.batch_size,
            seed=args.seed, checkpoint_every_epoch=args.checkpoints, **{"precision": args.precision, **settings},
        )
        torch.cuda.synchronize()
        started = time.perf_counter()
        with logs_to_stderr():
            result = train(config, dataset=dataset, model=model, tokenizer=tokenizer)
        torch.cuda.synchronize()
        wall = time.perf_counter() - started
    with logs_to_stderr():  # the best epoch's model, in fp32, read both ways (as the Trainer runs are)
        scores = scores_by_decoding(result.model.float().eval(), tokenizer, dataset, config.decoding)
    return {
        "wall_seconds": wall,  # the whole train() call: set-up, epochs, dev scoring, saving the best model
        "train_seconds": result.train_seconds,  # the training loop proper
        "sentences_per_second": result.sentences_per_second,
        "padding_fraction": result.padding_fraction,
        "precision": result.precision,
        "cuda_graphs": result.cuda_graphs,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "dev_f1_during_training": result.best_dev_f1,  # under the run's autocast and decoding
        "dev_f1_last_epoch": result.history[-1]["dev_f1"],
        **{key: value for key, value in scores.items() if key.startswith("dev_f1") or key == "decoding"},
    }


def run_trainer_recipe(dataset, labels, tokenizer, args, tuned: bool) -> dict:
    import torch

    from benchmarks.bench_training import run_trainer

    torch.cuda.reset_peak_memory_stats()
    settings = argparse.Namespace(model=None, batch_size=args.batch_size, learning_rate=5e-5, epochs=args.epochs, threads=None)
    with logs_to_stderr():  # the Trainer prints its loss dicts: never into the JSON
        outcome = run_trainer(dataset, settings, tuned=tuned, seed=args.seed, make_model=lambda: (make_model(labels, args.seed), tokenizer))
    outcome["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return outcome


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "bench_gpu_training: no CUDA GPU is visible (torch.cuda.is_available() is False). This benchmark measures "
            "GPU training; for CPU numbers run python -m benchmarks.bench_training.",
            file=sys.stderr,
        )
        return 2
    record = start_record("gpu_training")
    with logs_to_stderr():  # logs to stderr: stdout is the JSON only
        dataset, labels, corpus = build_dataset(args)
        tokenizer, tokenizer_description = build_tokenizer(corpus)
    torch.ones(1, device="cuda").sum().item()  # start CUDA before the first run: no run pays for it
    runners = {
        "ours": lambda: run_ours(dataset, labels, tokenizer, args),
        "ours_eager": lambda: run_ours(dataset, labels, tokenizer, args, cuda_graphs="off"),
        "ours_fp32": lambda: run_ours(dataset, labels, tokenizer, args, precision="fp32"),
        "trainer_default": lambda: run_trainer_recipe(dataset, labels, tokenizer, args, tuned=False),
        "trainer_tuned": lambda: run_trainer_recipe(dataset, labels, tokenizer, args, tuned=True),
    }
    runs = {}
    for name in args.runs.split(","):
        print(f"--- {name}", file=sys.stderr, flush=True)
        runs[name] = runners[name]()
    ratio = lambda a, b: runs[a]["sentences_per_second"] / runs[b]["sentences_per_second"] if a in runs and b in runs else None  # noqa: E731
    report = {
        "card": torch.cuda.get_device_name(0),
        "model": "BertConfig() (BERT-base size), random init",
        "parameters": sum(p.numel() for p in make_model(labels, args.seed).parameters()),
        "tokenizer": tokenizer_description,
        "sentences": args.sentences,
        "dev_sentences": args.dev_sentences,
        "dev_held_out": "dev sentences built from the corpus's validation and test sentences that are not in train",
        "mean_words": args.words,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "runs": runs,
        "speed_ours_vs_trainer_default": ratio("ours", "trainer_default"),
        "speed_ours_vs_trainer_tuned": ratio("ours", "trainer_tuned"),
        "speed_graphs_vs_eager": ratio("ours", "ours_eager"),
        "speed_bf16_vs_tf32_with_graphs": ratio("ours", "ours_fp32"),
    }
    if "ours" in runs and "trainer_default" in runs:
        report["targets"] = {
            "at_least_3x_trainer_default": report["speed_ours_vs_trainer_default"] >= 3,
            "whole_train_call_under_10_seconds": runs["ours"]["wall_seconds"] < 10,
        }
    finish(record, report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
