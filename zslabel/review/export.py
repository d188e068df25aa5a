"""The review files a run writes: which labeled rows go to people, streamed to both tools' files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.export import file_sha256, filter_rows
from zslabel.review.argilla import argilla_record
from zslabel.review.fields import (
    ARGILLA_FILE,
    HUMAN_REVIEW,
    LABEL_STUDIO_CONFIG_FILE,
    LABEL_STUDIO_FILE,
    as_text,
)
from zslabel.review.label_studio import label_studio_task, labeling_config
from zslabel.rowkeys import row_key

# Rows read at a time; each row for review becomes a Python dict of every column (~2 KB).
BATCH_ROWS = 2048


def write_review_files(folder: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Write both review files from ``folder/labeled.parquet`` and the Label Studio labeling
    config for the tasks; return their manifest entries.

    Streams the labeled rows batch by batch, reading only the columns the files need.
    """
    # No read-ahead: the default pre-buffers whole column chunks, tens of MB on a large output.
    labeled = pq.ParquetFile(folder / "labeled.parquet", pre_buffer=False)
    names = labeled.schema_arrow.names
    config = manifest["config"]["input"]
    id_column = config.get("id_column")
    # An image-only job (CLIP sources) may have no text column: its rows go out without text.
    text_column = config["text_column"] if config["text_column"] in names else None
    sources = [
        (s["name"], *columns.source_columns(s["name"]))
        for s in manifest["sources"]
        if columns.source_columns(s["name"])[0] in names
    ]
    wanted = list(
        dict.fromkeys(
            [
                *([text_column] if text_column else []),
                *([id_column] if id_column else []),
                columns.ROW,
                columns.LABEL,
                columns.CONFIDENCE,
                columns.STATUS,
                columns.REASON,
                *(c for _, label_col, conf_col in sources for c in (label_col, conf_col)),
            ]
        )
    )
    method = str(manifest.get("combine", {}).get("method", "combined"))
    studio_path, argilla_path = folder / LABEL_STUDIO_FILE, folder / ARGILLA_FILE
    rows = 0
    with (
        open(studio_path, "w", encoding="utf-8", newline="\n") as studio,
        open(argilla_path, "w", encoding="utf-8", newline="\n") as argilla,
    ):
        studio.write("[")
        for row in _rows_for_review(labeled, wanted, sources):
            # A string always: a JSON number above 2**53 comes back rounded from a browser.
            key = row_key(row[id_column] if id_column else row[columns.ROW])
            text = as_text(row[text_column]) if text_column else ""
            if rows:
                studio.write(",")
            studio.write("\n")
            _dump(studio, label_studio_task(row, key, text, sources, method))
            _dump(argilla, argilla_record(row, key, text, method))
            argilla.write("\n")
            rows += 1
        studio.write("\n]\n" if rows else "]\n")
    config_path = folder / LABEL_STUDIO_CONFIG_FILE
    labels = [label["name"] for label in manifest["labels"]]
    config_path.write_text(labeling_config(labels), encoding="utf-8", newline="\n")
    return {
        ARGILLA_FILE: {"rows": rows, "sha256": file_sha256(argilla_path)},
        LABEL_STUDIO_FILE: {"rows": rows, "sha256": file_sha256(studio_path)},
        LABEL_STUDIO_CONFIG_FILE: {"sha256": file_sha256(config_path)},
    }


def _rows_for_review(
    labeled: pq.ParquetFile, wanted: list[str], sources: list[tuple[str, str, str]]
) -> Iterator[dict[str, Any]]:
    """Abstained rows, and accepted ones whose sources' top labels differ; never reviewed ones.

    Rows are picked with Arrow compute first, so only the rows written out become Python
    objects (texts included): the labeled file may be large, the review set is a fraction.
    """
    for batch in labeled.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        status = batch.column(columns.STATUS)
        conflict = pa.array(np.zeros(batch.num_rows, dtype=bool))
        labels = [batch.column(label_col) for _, label_col, _ in sources]
        for i, first in enumerate(labels):
            for second in labels[i + 1 :]:
                differ = pc.not_equal(first, second)  # null where either abstained
                conflict = pc.or_(conflict, pc.fill_null(differ, False))
        wanted_rows = pc.or_(
            pc.equal(status, "abstained"), pc.and_(pc.equal(status, "accepted"), conflict)
        )
        not_reviewed = pc.fill_null(pc.not_equal(batch.column(columns.REASON), HUMAN_REVIEW), True)
        # filter_rows: a string_view text column cannot be filtered as it is.
        yield from filter_rows(batch, pc.and_(wanted_rows, not_reviewed)).to_pylist()


def _dump(handle: IO[str], payload: Any) -> None:
    handle.write(json.dumps(payload, ensure_ascii=False, sort_keys=True))
