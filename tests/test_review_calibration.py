"""Issue 17, 1a: human reviews calibrate only when the job asks for it.

Reviewed rows are the hard, abstained ones, a biased sample: fitted as calibration gold they move
every other row's confidence, status and split. By default they are applied to their own rows and
nothing else moves; ``calibration: {reviews: true}`` fits the temperature on them, and the
summary says on how many rows. Every example runs through the command line (fake source, no
model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import load_job
from zslabel.errors import ConfigError
from zslabel.review import HUMAN_REVIEW

from .conftest import LABELS, make_texts

ROWS = 60
JOB = """\
input: {path: input.parquet, text_column: text, id_column: doc_id}
labels: [sports, weather, finance]
sources:
  - {kind: fake}
  - {kind: fake, seed: 5, name: second}
selection: {per_class_top_fraction: 0.5}
output: {dir: out}
"""


def write_job(folder: Path, extra: str = "") -> Path:
    pq.write_table(
        pa.table({"text": make_texts(ROWS), "doc_id": [f"d{i}" for i in range(ROWS)]}),
        folder / "input.parquet",
    )
    job = folder / "job.yaml"
    job.write_text(JOB + extra)
    return job


def label(capsys: pytest.CaptureFixture[str], job: Path) -> tuple[str, dict[str, Any]]:
    assert main(["label", str(job), "--no-progress"]) == 0
    out = capsys.readouterr().out
    return out, json.loads((job.parent / "out" / "manifest.json").read_text())


def labeled(job: Path) -> dict[str, dict[str, Any]]:
    rows = pq.read_table(job.parent / "out" / "labeled.parquet").to_pylist()
    return {row["doc_id"]: row for row in rows}


def import_five_reviews(
    capsys: pytest.CaptureFixture[str], job: Path, rows: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """A person reviews five abstained rows (the hard ones) and disagrees with three."""
    abstained = [r for r in rows.values() if r["zs_status"] == "abstained"][:5]
    assert len(abstained) == 5
    humans = {
        r["doc_id"]: (
            next(name for name in LABELS if name != r["zs_label"]) if i < 3 else r["zs_label"]
        )
        for i, r in enumerate(abstained)
    }
    out = job.parent / "out"
    tasks = json.loads((out / "review.label_studio.json").read_text())
    exported = []
    for i, task in enumerate(tasks):
        given = humans.get(task["data"]["zs_key"])
        result = [
            {"from_name": "label", "to_name": "text", "type": "choices"}
            | {"value": {"choices": [given]}}
        ]
        annotations = [] if given is None else [{"id": i, "was_cancelled": False, "result": result}]
        exported.append({"id": i + 1, **task, "annotations": annotations})
    export = job.parent / "label-studio-export.json"
    export.write_text(json.dumps(exported))
    assert main(["import-reviews", str(export), "--job", str(job)]) == 0
    assert "Stored 5 review(s)" in capsys.readouterr().out
    return humans


def machine_view(
    rows: dict[str, dict[str, Any]], skip: dict[str, str], columns: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The unreviewed rows' label, confidence, margin, status and reason (and ``columns``)."""
    names = ("zs_label", "zs_confidence", "zs_margin", "zs_status", "zs_reason", *columns)
    return {key: tuple(r[c] for c in names) for key, r in rows.items() if key not in skip}


def test_reviews_do_not_move_any_other_row_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = write_job(tmp_path)
    label(capsys, job)
    before = labeled(job)
    humans = import_five_reviews(capsys, job, before)

    summary, manifest = label(capsys, job)
    after = labeled(job)
    # Every unreviewed row keeps its exact label, confidence, margin and status.
    assert machine_view(after, humans) == machine_view(before, humans)
    assert len(machine_view(after, humans)) == ROWS - 5
    # The reviewed rows are accepted with the human label.
    for key, human in humans.items():
        assert (after[key]["zs_status"], after[key]["zs_label"], after[key]["zs_reason"]) == (
            "accepted",
            human,
            HUMAN_REVIEW,
        )
    assert manifest["combine"].get("calibration") is None
    assert "  reviews: 5 applied\n" in summary
    assert (
        "  calibration: none; the 5 review(s) are not used (calibration: {reviews: true} fits "
        "the temperature on them)\n"
    ) in summary
    assert "calibrated on" not in summary


def test_reviews_calibrate_when_the_job_asks_and_the_summary_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Valid without a gold file: the reviews alone calibrate.
    job = write_job(tmp_path, "calibration: {reviews: true}\n")
    assert load_job(job).calibration is not None
    first_summary, first = label(capsys, job)
    assert first["combine"].get("calibration") is None  # no reviews yet: nothing to fit on
    assert "  calibration: none yet; 0 review(s) to fit on, needs 2\n" in first_summary
    before = labeled(job)
    humans = import_five_reviews(capsys, job, before)

    summary, manifest = label(capsys, job)
    report = manifest["combine"]["calibration"]
    assert (report["gold"], report["rows"], report["reviews"]) == (None, 5, 5)
    assert (report["gold_file_rows"], report["review_rows"]) == (0, 5)
    temperatures = [report[name]["temperature"] for name in ("fake", "second")]
    assert all(t != 1.0 for t in temperatures)
    assert (
        "  calibrated on 5 rows (0 gold file, 5 reviews), temperature "
        f"fake {temperatures[0]:.2f}, second {temperatures[1]:.2f}\n"
    ) in summary
    # Opted in, the fit on the reviewed rows moves the others' confidences.
    after = labeled(job)
    moved = [
        key
        for key in before
        if key not in humans and after[key]["zs_confidence"] != before[key]["zs_confidence"]
    ]
    assert len(moved) == ROWS - 5


def test_gold_file_and_reviews_count_separately(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    texts = make_texts(8, seed=3)
    pq.write_table(
        pa.table({"text": texts, "label": [t.split(": ")[1].split(" ")[0] for t in texts]}),
        tmp_path / "gold.parquet",
    )
    job = write_job(tmp_path, "calibration: {gold: gold.parquet}\n")
    summary, first = label(capsys, job)
    fitted = first["combine"]["calibration"]["fake"]["temperature"]
    assert f"  calibrated on 8 rows (8 gold file, 0 reviews), temperature fake {fitted:.2f}" in (
        summary
    )
    before = labeled(job)
    humans = import_five_reviews(capsys, job, before)

    # Not asked for: the gold file alone, as before the reviews.
    summary, manifest = label(capsys, job)
    assert manifest["combine"]["calibration"]["fake"]["temperature"] == fitted
    assert "  calibrated on 8 rows (8 gold file, 0 reviews)" in summary
    assert machine_view(labeled(job), humans) == machine_view(before, humans)

    job.write_text(JOB + "calibration: {gold: gold.parquet, reviews: true}\n")
    summary, manifest = label(capsys, job)
    report = manifest["combine"]["calibration"]
    assert (report["rows"], report["gold_file_rows"], report["review_rows"]) == (13, 8, 5)
    assert report["fake"]["temperature"] != fitted
    assert "  calibrated on 13 rows (8 gold file, 5 reviews), temperature fake " in summary


def test_calibration_needs_a_gold_file_or_reviews(tmp_path: Path) -> None:
    job = write_job(tmp_path, "calibration: {column: label}\n")
    with pytest.raises(ConfigError, match=r"calibration needs a gold file .* or the job's reviews"):
        load_job(job)
    job.write_text(JOB + "calibration: {reviews: true}\n")
    spec = load_job(job).calibration
    assert spec is not None
    assert (spec.gold, spec.reviews) == (None, True)
    job.write_text(JOB + "calibration: {gold: gold.parquet}\n")
    spec = load_job(job).calibration
    assert spec is not None
    assert spec.reviews is False


def test_reviews_do_not_move_any_other_rows_split_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = write_job(tmp_path)
    label(capsys, job)
    before = labeled(job)
    humans = import_five_reviews(capsys, job, before)
    label(capsys, job)
    split = ("zs_split",)
    assert machine_view(labeled(job), humans, split) == machine_view(before, humans, split)
