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


def score_column(label: str) -> str:
    return f"{SCORE_PREFIX}{label}"


def source_columns(source: str) -> tuple[str, str]:
    """Each source's own top label and confidence, kept when several sources are combined."""
    return f"zs_source_{source}_label", f"zs_source_{source}_confidence"


def window_column(source: str) -> str:
    """For a source scoring long texts in windows: the window that decided its top label."""
    return f"zs_source_{source}_window"


def output_fields(
    label_names: Sequence[str], source_names: Sequence[str] = (), window_sources: Sequence[str] = ()
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
) -> pa.Schema:
    added = output_fields(label_names, source_names, window_sources)
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
) -> list[pa.Array]:
    """The added columns for one batch, aligned with its rows.

    ``source_probs`` holds each source's probabilities when several are combined, else nothing.
    """
    n = len(label)
    names = np.asarray(label_names, dtype=object)
    scored = label >= 0
    per_source: list[pa.Array] = []
    for own in source_probs:
        own_scored = ~np.isnan(own).any(axis=1)
        top = np.argmax(np.nan_to_num(own, nan=-1.0), axis=1)
        per_source.append(pa.array(np.where(own_scored, names[top], None), pa.string()))
        per_source.append(
            pa.array(
                np.nan_to_num(own.max(axis=1, initial=0.0)).astype(np.float32), mask=~own_scored
            )
        )
    return [
        pa.array(np.arange(start_row, start_row + n, dtype=np.int64)),
        pa.array(np.where(scored, names[np.maximum(label, 0)], None), pa.string()),
        pa.array(confidence.astype(np.float32), mask=~scored),
        pa.array(margin.astype(np.float32), mask=~scored),
        pa.array(np.asarray(STATUS_NAMES, dtype=object)[status], pa.string()),
        pa.array(list(reason), pa.string()),
        pa.array(list(split), pa.string()),
        *(pa.array(probs[:, k].astype(np.float32), mask=~scored) for k in range(len(label_names))),
        *per_source,
        *(pa.array(w.astype(np.int16), mask=w < 0) for w in windows),
    ]
