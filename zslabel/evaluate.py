"""Score a labeled output folder against a gold column. The only place gold is ever read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.runner import LABELED


def evaluate(output_dir: str | Path, gold_column: str) -> dict[str, Any]:
    """Accuracy and macro-F1 of the accepted rows, coverage, and the forced-label figures.

    ``forced`` is what every valid row would score if it took its top label: the ceiling that
    selection trades coverage against.
    """
    path = Path(output_dir) / LABELED
    if not path.is_file():
        raise InputError(f"{path}: not found; run 'zslabel label' into {output_dir} first")
    schema = pq.read_schema(path)
    if gold_column not in schema.names:
        raise InputError(
            f"{path}: gold column {gold_column!r} not found; columns are {', '.join(schema.names)}"
        )
    table = pq.read_table(path, columns=[gold_column, columns.LABEL, columns.STATUS])
    return score_labels(
        gold=table.column(0).to_pylist(),
        predicted=table.column(1).to_pylist(),
        status=table.column(2).to_pylist(),
        label_names=_label_names(schema.names),
    )


def score_labels(
    gold: Sequence[object],
    predicted: Sequence[str | None],
    status: Sequence[str],
    label_names: Sequence[str],
) -> dict[str, Any]:
    """The figures of :func:`evaluate` from aligned per-row values (gold may hold None)."""
    gold_array = np.asarray([None if g is None else str(g) for g in gold], dtype=object)
    predicted_array = np.asarray(predicted, dtype=object)
    status_array = np.asarray(status, dtype=object)
    has_gold = np.asarray([g is not None for g in gold_array], dtype=bool)
    valid = ((status_array == "accepted") | (status_array == "abstained")) & has_gold
    accepted = (status_array == "accepted") & has_gold
    return {
        "rows": len(gold_array),
        "rows_with_gold": int(has_gold.sum()),
        "valid_rows": int(valid.sum()),
        "accepted_rows": int(accepted.sum()),
        "coverage": _ratio(accepted.sum(), valid.sum()),
        "accepted": _metrics(gold_array[accepted], predicted_array[accepted], label_names),
        "forced": _metrics(gold_array[valid], predicted_array[valid], label_names),
        "gold_labels_not_in_job": sorted(set(gold_array[has_gold]) - set(label_names)),
    }


def _label_names(names: Sequence[str]) -> list[str]:
    prefix = columns.SCORE_PREFIX
    return [name.removeprefix(prefix) for name in names if name.startswith(prefix)]


def _metrics(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    per_class = {}
    f1s = []
    for label in labels:
        tp = int(np.sum((predicted == label) & (gold == label)))
        predicted_as = int(np.sum(predicted == label))
        actual = int(np.sum(gold == label))
        precision = _ratio(tp, predicted_as)
        recall = _ratio(tp, actual)
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else 0.0
        )
        if actual or predicted_as:  # as scikit-learn: classes absent from both do not count
            f1s.append(f1)
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": round(f1, 4),
            "support": actual,
            "predicted": predicted_as,
        }
    return {
        "rows": len(gold),
        "accuracy": _ratio(np.sum(gold == predicted), len(gold)),
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
        "per_class": per_class,
    }


def _ratio(numerator: Any, denominator: Any) -> float | None:
    return round(float(numerator) / float(denominator), 4) if denominator else None
