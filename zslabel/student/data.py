"""The labeled pool of an output folder, as the student sees it.

The student trains on the exported train split. It reads those rows from ``labeled.parquet``
(always Parquet, whatever ``output.format`` the split files have; its ``zs_split`` column says
which split each row is in) together with every other scored row, which self-training relabels,
except rows abstained for a language no model of the job covers: their scores are noise, and
the most confident of them would be trained on in later rounds. Gold, when asked for, is read
only to be scored against.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.selection import UNCOVERED_LANGUAGE
from zslabel.version_index import version_hint

MANIFEST = "manifest.json"
LABELED = "labeled.parquet"
TRAIN, VALIDATION = "train", "validation"
VALID_STATUSES = ("accepted", "abstained")


@dataclass(frozen=True)
class Pool:
    """Every scored row of a labeling run: its text, the teacher's probabilities and split."""

    output_dir: Path
    label_names: tuple[str, ...]
    text_column: str
    texts: list[str]
    rows: np.ndarray  # zs_row of each pool row
    teacher_probs: np.ndarray  # (n, k) the combined zero-shot probabilities
    split: np.ndarray  # object: split name, None for rows not accepted
    # int64 label index; -1 where gold is null, k (no label) where it names no label of the job,
    # so that such rows count as wrong as in ``zslabel eval``; None without a gold column.
    gold: np.ndarray | None
    config: dict[str, Any]  # the job as the manifest records it
    manifest_sha256: str
    # The manifest's hashes of the train split and of labeled.parquet: unlike the manifest's
    # own bytes, they stay put when a report is rendered again into the folder.
    train_file_sha256: str | None
    labeled_file_sha256: str | None

    @property
    def teacher_label(self) -> np.ndarray:
        return np.asarray(self.teacher_probs.argmax(axis=1), dtype=np.int64)

    @property
    def in_train(self) -> np.ndarray:
        return np.asarray(self.split == TRAIN, dtype=bool)

    @property
    def in_validation(self) -> np.ndarray:
        return np.asarray(self.split == VALIDATION, dtype=bool)

    @property
    def held_out(self) -> np.ndarray:
        """Rows of every split but train: no round of self-training ever trains on them."""
        return np.asarray([s is not None and s != TRAIN for s in self.split], dtype=bool)

    @property
    def work_dir(self) -> Path:
        configured = self.config.get("output", {}).get("work_dir")
        return Path(configured).expanduser() if configured else self.output_dir / ".zslabel"


def read_pool(output_dir: str | Path, gold_column: str | None = None) -> Pool:
    """Read an output folder of ``zslabel label``; errors name the file and what is missing."""
    folder = Path(output_dir)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        hint = version_hint(folder, "train on")
        if hint:
            raise InputError(hint)
        raise InputError(f"{manifest_path}: not found; run 'zslabel label' into {folder} first")
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    config: dict[str, Any] = manifest.get("config") or {}
    if config.get("multi_label"):
        raise InputError(f"{manifest_path}: a multi-label job; the student needs one label per row")
    label_names = tuple(label["name"] for label in manifest["labels"])
    text_column = str(config.get("input", {}).get("text_column", "text"))
    path = folder / LABELED
    if not path.is_file():
        raise InputError(f"{path}: not found; the output folder is incomplete, label it again")
    schema = pq.read_schema(path)
    scores = [columns.score_column(name) for name in label_names]
    wanted = [text_column, columns.ROW, columns.STATUS, columns.SPLIT, *scores]
    missing = [name for name in wanted if name not in schema.names]
    if missing:
        raise InputError(f"{path}: column(s) {missing} not found; columns are {schema.names}")
    if gold_column is not None and gold_column not in schema.names:
        raise InputError(
            f"{path}: gold column {gold_column!r} not found; columns are {', '.join(schema.names)}"
        )
    reason = [columns.REASON] if columns.REASON in schema.names else []
    read = [*wanted, *reason, *([gold_column] if gold_column else [])]
    table = pq.read_table(path, columns=read)
    probs = np.column_stack(
        [table.column(name).to_numpy(zero_copy_only=False) for name in scores]
    ).astype(np.float64)
    status = np.asarray(table.column(columns.STATUS).to_pylist(), dtype=object)
    valid = np.isin(status, VALID_STATUSES) & ~np.isnan(probs).any(axis=1)
    if reason:
        valid &= np.asarray(table.column(columns.REASON).to_pylist()) != UNCOVERED_LANGUAGE
    texts = [_text(value) for value in np.asarray(table.column(text_column).to_pylist())[valid]]
    gold = None
    if gold_column is not None:
        index = {name: k for k, name in enumerate(label_names)}
        values = np.asarray(table.column(gold_column).to_pylist(), dtype=object)[valid]
        unknown = len(label_names)
        gold = np.asarray(
            [-1 if g is None else index.get(str(g), unknown) for g in values], dtype=np.int64
        )
    files = manifest.get("files", {})
    train_name = next((name for name in files if name.split(".")[0] == TRAIN), None)
    return Pool(
        output_dir=folder,
        label_names=label_names,
        text_column=text_column,
        texts=texts,
        rows=table.column(columns.ROW).to_numpy()[valid],
        teacher_probs=probs[valid],
        split=np.asarray(table.column(columns.SPLIT).to_pylist(), dtype=object)[valid],
        gold=gold,
        config=config,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        train_file_sha256=files[train_name]["sha256"] if train_name else None,
        labeled_file_sha256=files.get(LABELED, {}).get("sha256"),
    )


def _text(value: object) -> str:
    # A binary text column holds UTF-8 (rows that do not decode were marked invalid).
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
