"""A small hand-labeled file for calibration: texts and their gold class indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from zslabel.config import CalibrationSpec
from zslabel.dataset import text_status
from zslabel.errors import InputError
from zslabel.labelnames import describe_mismatch, label_index, lookup
from zslabel.utf8 import text_values, utf8_safe


@dataclass(frozen=True)
class GoldSet:
    texts: list[str]
    label: np.ndarray  # class index per text
    skipped: int  # rows without a usable text or gold label


def load_gold(spec: CalibrationSpec, label_names: Sequence[str], text_column: str) -> GoldSet:
    column = spec.text_column or text_column
    try:
        table = pq.read_table(spec.gold)
    except (OSError, ValueError) as exc:
        raise InputError(f"{spec.gold}: cannot read the calibration gold file ({exc})") from None
    for wanted in (column, spec.column):
        if wanted not in table.column_names:
            raise InputError(
                f"{spec.gold}: column {wanted!r} not found; columns are "
                f"{', '.join(table.column_names)}"
            )
    index = label_index(label_names)
    texts: list[str] = []
    labels: list[int] = []
    skipped = 0
    unknown: set[str] = set()
    # Texts that are not UTF-8 come as bytes (skipped as invalid); labels, with U+FFFD.
    for text, gold in zip(
        text_values(table.column(column)),
        utf8_safe(table.column(spec.column)).to_pylist(),
        strict=True,
    ):
        if gold is None or text_status(text) is not None:
            skipped += 1
            continue
        k = lookup(gold, index)
        if k is None:
            unknown.add(str(gold))
            continue
        texts.append(text.decode() if isinstance(text, bytes) else str(text))
        labels.append(k)
    if unknown:
        hints = [describe_mismatch(label, label_names) for label in sorted(unknown)]
        raise InputError(
            f"{spec.gold}: column {spec.column!r}: gold labels {sorted(unknown)} are not labels "
            f"of the job ({', '.join(label_names)})" + "".join(f"; {h}" for h in hints if h)
        )
    if len(texts) < 2:
        raise InputError(
            f"{spec.gold}: calibration needs at least 2 labeled rows, got {len(texts)}"
        )
    return GoldSet(texts, np.asarray(labels, dtype=np.int64), skipped)
