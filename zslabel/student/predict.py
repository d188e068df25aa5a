"""``zslabel predict``: apply a saved student to a Parquet input, streaming, shard by shard.

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
import pyarrow.parquet as pq

from zslabel.config import InputSpec
from zslabel.dataset import InputDataset
from zslabel.errors import InputError, OutputError
from zslabel.student.model import StudentModel

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
    """Label every row of ``input_path`` (a Parquet file, folder or partitioned dataset, read
    as a labeling run reads it: hive partition columns, texts that are not UTF-8, large row
    groups) into ``out_path``; returns the number of rows written.

    Raises InputError naming the input and column where it cannot be read, OutputError where
    ``out_path`` cannot be written.
    """
    source, out = Path(input_path), Path(out_path)
    column = text_column or model.text_column
    if not source.exists():
        raise InputError(f"{source}: not found")
    spec = InputSpec(path=str(source), text_column=column, batch_rows=batch_rows)
    dataset = InputDataset(spec)
    names = dataset.column_names
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
            for shard in dataset.shards:
                # Usable texts as a labeling run sees them (null, empty or not UTF-8: invalid).
                texts = dataset.read_texts(shard)
                label = np.full(shard.num_rows, None, dtype=object)
                confidence = np.zeros(shard.num_rows, dtype=np.float32)
                usable = np.zeros(shard.num_rows, dtype=bool)
                usable[texts.valid_rows] = True
                if texts.texts:
                    probs = model.predict_proba(texts.texts)
                    label[texts.valid_rows] = labels[probs.argmax(axis=1)]
                    confidence[texts.valid_rows] = probs.max(axis=1)
                offset = 0
                for batch in dataset.iter_batches(shard):
                    part = slice(offset, offset + batch.num_rows)
                    writer.write_batch(
                        pa.RecordBatch.from_arrays(
                            [
                                *batch.columns,
                                pa.array(label[part], pa.string()),
                                pa.array(confidence[part], mask=~usable[part]),
                            ],
                            schema=schema,
                        )
                    )
                    offset += batch.num_rows
                rows += shard.num_rows
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows
