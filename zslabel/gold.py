"""A small hand-labeled file for calibration: texts and their gold class indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from zslabel.config import CalibrationSpec
from zslabel.dataset import text_status
from zslabel.errors import InputError


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
    index = {name: k for k, name in enumerate(label_names)}
    texts, labels, skipped = [], [], 0
    unknown: set[str] = set()
    for text, gold in zip(
        table.column(column).to_pylist(), table.column(spec.column).to_pylist(), strict=True
    ):
        if gold is None or text_status(text) is not None:
            skipped += 1
            continue
        if str(gold) not in index:
            unknown.add(str(gold))
            continue
        texts.append(text.decode() if isinstance(text, bytes) else text)
        labels.append(index[str(gold)])
    if unknown:
        raise InputError(
            f"{spec.gold}: gold labels {sorted(unknown)} are not labels of the job "
            f"({', '.join(label_names)})"
        )
    if len(texts) < 2:
        raise InputError(
            f"{spec.gold}: calibration needs at least 2 labeled rows, got {len(texts)}"
        )
    return GoldSet(texts, np.asarray(labels, dtype=np.int64), skipped)
