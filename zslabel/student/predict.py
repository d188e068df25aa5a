"""``zslabel predict``: apply a saved student to a Parquet input, streaming, shard by shard.

The output has the input's columns plus the student's label, confidence and status: ``accepted``
(labeled), ``abstained`` (confidence under ``min_confidence``, or a text in a language the
student's encoder does not read: no label, its confidence kept) or ``invalid`` (text null, empty
or not UTF-8, as a labeling run would see it: label and confidence null). Languages are told
row by row as a labeling run tells them (:mod:`zslabel.pipeline.row_languages`): a trial's
English-only student labeled every German row, 0.26 of them right, all accepted.

The file is written under a temporary name and renamed when complete. :func:`advice` is
the line ``zslabel predict`` prints: what the student's confidence means and whether it was
adopted over its teacher, from its ``metrics.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.atomic import temporary_beside
from zslabel.config import InputSpec
from zslabel.dataset import InputDataset
from zslabel.errors import ConfigError, InputError, OutputError
from zslabel.input_texts import ShardTexts
from zslabel.pipeline.language import model_languages
from zslabel.pipeline.row_languages import MIN_CHARS, MIN_PROBABILITY
from zslabel.sources.languages import confident_languages
from zslabel.student.model import StudentModel
from zslabel.student.train import METRICS

LABEL = "zs_student_label"
CONFIDENCE = "zs_student_confidence"
STATUS = "zs_student_status"
ACCEPTED, ABSTAINED, INVALID = "accepted", "abstained", "invalid"
BATCH_ROWS = 4096


def predict_file(
    model: StudentModel,
    input_path: str | Path,
    out_path: str | Path,
    *,
    text_column: str | None = None,
    batch_rows: int = BATCH_ROWS,
    min_confidence: float = 0.0,
) -> int:
    """Label every row of ``input_path`` (a Parquet file, folder or partitioned dataset, read
    as a labeling run reads it: hive partition columns, texts that are not UTF-8, large row
    groups) into ``out_path``; returns the number of rows written. A row whose confidence (the
    student's top probability, in [0, 1]) is under ``min_confidence``, or whose text is in a
    language the student's encoder does not read (:func:`student_languages`), is abstained:
    no label.

    Raises InputError naming the input and column where it cannot be read, ConfigError for a
    ``min_confidence`` outside [0, 1], OutputError where ``out_path`` cannot be written.
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence {min_confidence:g}: must be between 0 and 1")
    languages = student_languages(model)
    source, out = Path(input_path), Path(out_path)
    column = text_column or model.text_column
    if not source.exists():
        raise InputError(f"{source}: not found")
    spec = InputSpec(path=str(source), text_column=column, batch_rows=batch_rows)
    dataset = InputDataset(spec)
    names = dataset.column_names
    clash = [name for name in (LABEL, CONFIDENCE, STATUS) if name in names]
    if clash:
        raise InputError(f"{source}: column(s) {clash} already exist; the student adds them")
    schema = pa.schema(
        [
            *dataset.schema,
            pa.field(LABEL, pa.string()),
            pa.field(CONFIDENCE, pa.float32()),
            pa.field(STATUS, pa.string()),
        ]
    )
    rows = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_beside(out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc})") from None
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for shard in dataset.shards:
                # Usable texts as a labeling run sees them (null, empty or not UTF-8: invalid).
                texts = dataset.read_texts(shard)
                columns = _predictions(model, texts, shard.num_rows, min_confidence, languages)
                offset = 0
                for batch in dataset.iter_batches(shard):
                    part = slice(offset, offset + batch.num_rows)
                    added = [column[part] for column in columns]
                    writer.write_batch(
                        pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)
                    )
                    offset += batch.num_rows
                rows += shard.num_rows
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def student_languages(model: StudentModel) -> frozenset[str] | None:
    """The languages the student's encoder reads, or None where rows are not checked: its
    job labeled rows in every language (``selection.abstain_uncovered_languages: false``), or
    the encoder may read any (unknown or multilingual, as
    :func:`zslabel.pipeline.row_languages.covered_languages`)."""
    if not model.training.get("abstain_uncovered_languages", True):
        return None
    languages = model_languages(model.encoder.model)
    if not languages or "multilingual" in languages:
        return None
    return frozenset(languages)


def _predictions(
    model: StudentModel,
    texts: ShardTexts,
    rows: int,
    min_confidence: float,
    languages: frozenset[str] | None = None,
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The label, confidence and status columns of one shard of ``rows`` rows; rows in a
    language outside ``languages`` (None: any is read) are abstained."""
    label = np.full(rows, None, dtype=object)
    confidence = np.zeros(rows, dtype=np.float32)
    usable = np.zeros(rows, dtype=bool)
    usable[texts.valid_rows] = True
    status = np.full(rows, INVALID, dtype=object)
    if texts.texts:
        probs = model.predict_proba(texts.texts)
        top = probs.max(axis=1)
        confident = top >= min_confidence
        if languages is not None:
            codes = confident_languages(texts.texts, MIN_CHARS, MIN_PROBABILITY)
            confident &= np.array([not code or code in languages for code in codes], dtype=bool)
        names = np.asarray(model.labels, dtype=object)[probs.argmax(axis=1)]
        label[texts.valid_rows] = np.where(confident, names, None)
        confidence[texts.valid_rows] = top
        status[texts.valid_rows] = np.where(confident, ACCEPTED, ABSTAINED)
    return (
        pa.array(label, pa.string()),
        pa.array(confidence, mask=~usable),
        pa.array(status, pa.string()),
    )


def advice(model: StudentModel, folder: str | Path) -> str:
    """One line on a saved student: whether it was adopted over its teacher (the decision of
    :mod:`zslabel.student.adoption`, with gold accuracy on the held-out rows when training had
    a gold column) and what its confidence means, from the ``metrics.json`` that ``zslabel
    train`` wrote with the model in ``folder`` (inside it, or beside the default
    ``DIR/student/model``). A student is not calibrated by training: its confidence is its
    head's own probability (docs/student.md: mean 0.754 against a true accuracy of 0.850 on AG
    News), so it ranks rows but is no probability of being right. Never raises: a missing or
    unreadable ``metrics.json`` leaves those figures out."""
    metrics = student_metrics(Path(folder))
    decision = metrics.get("adoption") or model.adoption or {}
    final = (metrics.get("rounds") or [{}])[-1]
    estimated = (
        f"estimated accuracy {_show(decision.get('student_estimate'))} vs teacher "
        f"{_show(decision.get('teacher_estimate'))}"
    )
    gold_favours_student = False
    for part, words in (("held_out", "held-out"), ("pool", "all")):
        # Held-out rows are confident ones the student did not train on: a trial's 23 read
        # 1.000 for both while all 285 pool rows read student 0.868, teacher 0.886.
        gold = ((final.get("gold") or {}).get(part)) or {}
        if gold.get("student", {}).get("accuracy") is not None:
            student, teacher = gold["student"]["accuracy"], gold["teacher"]["accuracy"]
            estimated += (
                f"; gold accuracy on {words} {gold['student'].get('rows', 'n/a')} pool rows "
                f"{_show(student)} vs teacher {_show(teacher)}"
            )
            gold_favours_student |= part == "held_out" and student > teacher
    if model.adopted is True:
        verdict = f"the student was adopted over its teacher ({estimated})"
    elif model.adopted is False and gold_favours_student:
        # The rule decides without gold and cannot show that a student beats its teacher
        # (docs/student.md); a trial read "the teacher's labels are the better ones" beside
        # held-out gold of 0.950 against 0.939.
        verdict = (
            f"this student was not adopted ({estimated}); the gold-free estimate favours the "
            "teacher's labels, the held-out gold the student's: compare them on more "
            "hand-labeled rows before choosing"
        )
    elif model.adopted is False:
        verdict = (
            f"this student was not adopted ({estimated}); the teacher's labels are the better ones"
        )
    else:
        verdict = "whether this student beats its teacher is unknown (saved before adoption)"
    return f"{verdict}; {_confidence_meaning(metrics, final)}"


def student_metrics(folder: Path) -> dict[str, Any]:
    """The ``metrics.json`` of the student saved in ``folder``: ``folder/metrics.json`` (a
    student saved with ``--out``), else the default layout's ``DIR/student/metrics.json`` when
    it records this folder as its model; ``{}`` when there is none or it cannot be read."""
    for path in (folder / METRICS, folder.parent / METRICS):
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(metrics, dict):
            continue
        recorded = metrics.get("model_dir")
        if path.parent == folder or (recorded and _same(Path(recorded), folder)):
            return metrics
    return {}


def _confidence_meaning(metrics: dict[str, Any], final: dict[str, Any]) -> str:
    calibration = metrics.get("calibration") or {}
    if calibration.get("temperature") is not None:
        return (
            f"{CONFIDENCE} is calibrated (temperature {calibration['temperature']:.3g}): a "
            "confidence of 0.8 means about 8 in 10 such rows are right"
        )
    estimates = final.get("estimates") or {}
    agreement = (final.get("validation") or {}).get("agreement")
    figures = (
        f" (mean {_show(estimates['student_mean_confidence'])} on its pool, where it agrees "
        f"with {_show(agreement)} of the teacher's validation labels)"
        if estimates.get("student_mean_confidence") is not None
        else ""
    )
    return (
        f"{CONFIDENCE} is not calibrated{figures}: use it to rank rows or as a cutoff you "
        "measured, not as a probability of being right"
    )


def _same(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return first.absolute() == second.absolute()


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
