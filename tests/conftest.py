"""Shared fixtures: small Parquet inputs, fake-source jobs and a tiny model built on the spot."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# As the CLI sets it: a progress bar from a model a test saves is no output of the command.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(autouse=True)
def zslabel_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A cache folder of this test (features, int8 exports), never the user's: the feature
    cache is shared by every output by default, so a test that shared it with others would
    find their entries (scored and reused counts would depend on the order of tests).
    Subprocesses and Prefect workers inherit it. Outside ``tmp_path``, so that tests of what
    a command writes there see the same files as before."""
    folder = tmp_path_factory.mktemp("zslabel-cache")
    monkeypatch.setenv("ZSLABEL_CACHE_DIR", str(folder))
    return folder


LABELS = ["sports", "weather", "finance"]
WORDS = {
    "sports": ["match", "goal", "team", "league"],
    "weather": ["rain", "storm", "sunny", "forecast"],
    "finance": ["stocks", "bank", "market", "interest"],
}


def make_texts(n: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    texts = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = rng.sample(WORDS[label], 2)
        texts.append(f"news {i}: {label} today, {words[0]} and {words[1]}")
    return texts


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[..., Path]:
    """Write a table (dict of columns) to a Parquet file under tmp_path."""

    def write(
        columns: dict[str, Any], name: str = "input.parquet", row_group_size: int | None = None
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
        return path

    return write


@pytest.fixture
def texts_file(write_parquet: Callable[..., Path]) -> Path:
    texts: list[str | None] = list(make_texts(60))
    texts[5] = None
    texts[17] = "   "
    return write_parquet(
        {"text": texts, "doc_id": [f"d{i}" for i in range(60)], "n": list(range(60))},
        row_group_size=25,
    )


@pytest.fixture
def fake_job(tmp_path: Path) -> Callable[..., JobConfig]:
    """A job over ``path`` with the model-free fake source; keyword args override sections."""

    def build(path: Path, **sections: Any) -> JobConfig:
        raw: dict[str, Any] = {
            "input": {"path": str(path), "text_column": "text", "shard_rows": 25},
            "labels": LABELS,
            "sources": [{"kind": "fake"}],
            "selection": {"per_class_top_fraction": 0.5},
            "output": {"dir": str(tmp_path / "out")},
        }
        for key, value in sections.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        return JobConfig.from_dict(raw)

    return build


def topics(texts: list[str]) -> list[str]:
    """The class make_texts wrote into each text: the gold label."""
    return [next(label for label in LABELS if f": {label} " in text) for text in texts]


@pytest.fixture
def student_pool(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig], tiny_model: Path
) -> Callable[[int], Path]:
    """``make(rounds)``: the output folder of 150 topic texts (gold column ``topic``) labeled
    by the fake source, its job training a student on the tiny model with ``rounds``
    self-training rounds."""

    def make(rounds: int) -> Path:
        # Imported here: the runner pulls in torch, which most tests never need.
        from zslabel.runner import run_job

        texts = make_texts(150)
        path = write_parquet({"text": texts, "topic": topics(texts)})
        config = fake_job(path, student={"model": str(tiny_model), "rounds": rounds})
        return run_job(config).output_dir

    return make


def word_pieces() -> list[str]:
    """Letters and continuation pieces for a tiny vocabulary, so that any lower-case word
    ("politics", "a1") stays distinct to the tokenizer instead of becoming [UNK]: zslabel
    refuses labels whose prompts a model cannot tell apart."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [*letters, *(f"##{c}" for c in letters + "0123456789")]


def save_tiny_bert(
    folder: Path, id2label: dict[int, str] | None = None, *, head: bool = True
) -> Path:
    """A randomly initialised, BERT-shaped model saved like a hub checkpoint (safetensors).

    With ``id2label`` it is a sequence classifier (an NLI model when a label is "entailment"),
    unless ``head`` is False: then a bare encoder whose config still names those labels. Such
    models spell out unknown words in letters (:func:`word_pieces`), as NLI tests name made-up
    labels; the plain encoder keeps the vocabulary its measured tests were written against.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    words = sorted({w for ws in WORDS.values() for w in ws} | set(LABELS))
    extra = ["news", "today", "this", "example", "is", "about", "text", "."]
    pieces = word_pieces() if id2label is not None else []
    vocab = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *extra, *"0123456789:,", *pieces
    ]  # fmt: skip
    # transformers 5 takes the vocabulary itself; a vocab_file argument is silently ignored.
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(folder)
    labels = id2label or {}
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **({"id2label": labels, "label2id": {n: i for i, n in labels.items()}} if labels else {}),
    )
    torch.manual_seed(0)
    network = BertForSequenceClassification(config) if labels and head else BertModel(config)
    network.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random sentence encoder."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def english_model(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny encoder with a model card that says it covers English alone."""
    folder = shutil.copytree(tiny_model, tmp_path / "tiny-en")
    (folder / "README.md").write_text("---\nlanguage: en\nlicense: mit\n---\n# tiny\n")
    return folder
