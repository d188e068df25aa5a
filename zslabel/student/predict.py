"""``zslabel predict``: apply a saved student to a Parquet input, streaming, batch by batch.

The output has the input's columns plus the student's label and confidence; rows whose text is
null, empty or not UTF-8 get nulls there, as they would be invalid to a labeling run. The file is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from zslabel.dataset import text_status
from zslabel.errors import InputError, OutputError
from zslabel.student.model import StudentModel
from zslabel.utf8 import text_values, utf8_safe_batch

LABEL = "zs_student_label"
CONFIDENCE = "zs_student_confidence"
BATCH_ROWS = 4096


def predict_file(
    model: StudentModel,
    input_path: str | Path,
    out_path: str | Path,
    *,
    text_column: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Label every row of ``input_path`` (a Parquet file or folder) into ``out_path``; returns
    the number of rows written."""
    source, out = Path(input_path), Path(out_path)
    column = text_column or model.text_column
    dataset = _open(source)
    names = dataset.schema.names
    if column not in names:
        raise InputError(
            f"{source}: text column {column!r} not found; columns are {', '.join(names)} "
            "(choose one with --text-column)"
        )
    kind = dataset.schema.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        raise InputError(f"{source}: text column {column!r} is {kind}, expected strings")
    clash = [name for name in (LABEL, CONFIDENCE) if name in names]
    if clash:
        raise InputError(f"{source}: column(s) {clash} already exist; the student adds them")
    schema = pa.schema(
        [*dataset.schema, pa.field(LABEL, pa.string()), pa.field(CONFIDENCE, pa.float32())]
    )
    labels = np.asarray(model.labels, dtype=object)
    rows = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc})") from None
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in dataset.to_batches(batch_size=batch_rows):
                values = text_values(batch.column(column))  # bytes where not UTF-8
                usable = np.asarray([text_status(v) is None for v in values], dtype=bool)
                texts = [_text(v) for v, ok in zip(values, usable, strict=True) if ok]
                label = np.full(len(values), None, dtype=object)
                confidence = np.zeros(len(values), dtype=np.float32)
                if texts:
                    probs = model.predict_proba(texts)
                    label[usable] = labels[probs.argmax(axis=1)]
                    confidence[usable] = probs.max(axis=1)
                writer.write_batch(
                    pa.RecordBatch.from_arrays(
                        [
                            *utf8_safe_batch(batch).columns,
                            pa.array(label, pa.string()),
                            pa.array(confidence, mask=~usable),
                        ],
                        schema=schema,
                    )
                )
                rows += batch.num_rows
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def _open(path: Path) -> ds.Dataset:
    if not path.exists():
        raise InputError(f"{path}: not found")
    try:
        return ds.dataset(path, format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file or folder ({exc})") from None


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
