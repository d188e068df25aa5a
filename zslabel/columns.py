"""The ``zs_*`` columns zslabel adds to every output row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from zslabel.errors import InputError
from zslabel.selection import STATUS_NAMES

ROW = "zs_row"
LABEL = "zs_label"
CONFIDENCE = "zs_confidence"
MARGIN = "zs_margin"
STATUS = "zs_status"
REASON = "zs_reason"
SPLIT = "zs_split"
SCORE_PREFIX = "zs_score_"
LABELS = "zs_labels"  # multi-label mode: every assigned label


def score_column(label: str) -> str:
    return f"{SCORE_PREFIX}{label}"


def source_columns(source: str) -> tuple[str, str]:
    """Each source's own top label and confidence, kept when several sources are combined."""
    return f"zs_source_{source}_label", f"zs_source_{source}_confidence"


def window_column(source: str) -> str:
    """For a source scoring long texts in windows: the window that decided its top label."""
    return f"zs_source_{source}_window"


def output_fields(
    label_names: Sequence[str],
    source_names: Sequence[str] = (),
    window_sources: Sequence[str] = (),
    *,
    multi_label: bool = False,
) -> list[pa.Field]:
    per_source = [
        field
        for name in source_names
        for field in (
            pa.field(source_columns(name)[0], pa.string()),
            pa.field(source_columns(name)[1], pa.float32()),
        )
    ]
    return [
        pa.field(ROW, pa.int64(), nullable=False),
        pa.field(LABEL, pa.string()),
        *([pa.field(LABELS, pa.list_(pa.string()))] if multi_label else []),
        pa.field(CONFIDENCE, pa.float32()),
        pa.field(MARGIN, pa.float32()),
        pa.field(STATUS, pa.string(), nullable=False),
        pa.field(REASON, pa.string()),
        pa.field(SPLIT, pa.string()),
        *(pa.field(score_column(name), pa.float32()) for name in label_names),
        *per_source,
        *(pa.field(window_column(name), pa.int16()) for name in window_sources),
    ]


def output_schema(
    input_schema: pa.Schema,
    label_names: Sequence[str],
    source_names: Sequence[str],
    window_sources: Sequence[str],
    origin: str,
    *,
    multi_label: bool = False,
) -> pa.Schema:
    added = output_fields(label_names, source_names, window_sources, multi_label=multi_label)
    clash = sorted(set(input_schema.names) & {f.name for f in added})
    if clash:
        raise InputError(
            f"{origin}: input column(s) {clash} collide with columns zslabel adds; "
            "rename them before labeling"
        )
    return pa.schema([*input_schema, *added])


def zs_arrays(
    *,
    start_row: int,
    label: np.ndarray,
    confidence: np.ndarray,
    margin: np.ndarray,
    status: np.ndarray,
    reason: Sequence[str | None],
    split: Sequence[str | None],
    probs: np.ndarray,
    source_probs: Sequence[np.ndarray],
    windows: Sequence[np.ndarray],
    label_names: Sequence[str],
    assigned: np.ndarray | None = None,
) -> list[pa.Array]:
    """The added columns for one batch, aligned with its rows.

    ``source_probs`` holds each source's probabilities when several are combined, else nothing;
    ``assigned`` the (rows, k) label sets of a multi-label job (``zs_labels``), else None.
    """
    n = len(label)
    names = np.asarray(label_names, dtype=object)
    scored = label >= 0
    per_source: list[pa.Array] = []
    for own in source_probs:
        # Multi-label sources may score some labels of a row and abstain on the others.
        own_scored = ~np.isnan(own).all(axis=1)
        filled = np.nan_to_num(own, nan=-1.0)
        top = np.argmax(filled, axis=1)
        per_source.append(pa.array(np.where(own_scored, names[top], None), pa.string()))
        per_source.append(
            pa.array(filled.max(axis=1, initial=0.0).astype(np.float32), mask=~own_scored)
        )
    return [
        pa.array(np.arange(start_row, start_row + n, dtype=np.int64)),
        pa.array(np.where(scored, names[np.maximum(label, 0)], None), pa.string()),
        *([_label_lists(assigned, scored, names)] if assigned is not None else []),
        pa.array(confidence.astype(np.float32), mask=~scored),
        pa.array(margin.astype(np.float32), mask=~scored),
        pa.array(np.asarray(STATUS_NAMES, dtype=object)[status], pa.string()),
        pa.array(list(reason), pa.string()),
        pa.array(list(split), pa.string()),
        # A label a multi-label source left unscored has a null score, not a made-up one.
        *(
            pa.array(probs[:, k].astype(np.float32), mask=np.isnan(probs[:, k]))
            for k in range(len(label_names))
        ),
        *per_source,
        *(pa.array(w.astype(np.int16), mask=w < 0) for w in windows),
    ]


def _label_lists(assigned: np.ndarray, scored: np.ndarray, names: np.ndarray) -> pa.Array:
    """Each scored row's assigned labels in label order; null for rows without scores."""
    lists = [list(names[row]) if ok else None for row, ok in zip(assigned, scored, strict=True)]
    return pa.array(lists, pa.list_(pa.string()))
