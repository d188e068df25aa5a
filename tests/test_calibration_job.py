"""Calibration from a gold file, through a whole job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.errors import InputError
from zslabel.runner import run_job
from zslabel.summary import format_run

from .conftest import LABELS, make_texts


def gold_file(write_parquet: Callable[..., Path], labels: list[str] | None = None) -> Path:
    texts = make_texts(30, seed=5)
    # make_texts names the true label in each text; the fake source is nudged towards it, so
    # it is right on most rows and its temperature can be learned.
    gold = labels or [t.split(": ")[1].split(" ")[0] for t in texts]
    return write_parquet({"text": texts, "label": gold}, name="gold.parquet")


def test_a_gold_file_fits_a_temperature_per_source(
    texts_file: Path, fake_job: Callable[..., JobConfig], write_parquet: Callable[..., Path]
) -> None:
    plain = run_job(fake_job(texts_file, selection={"per_class_top_fraction": 1.0}))
    plain_rows = pq.read_table(plain.output_dir / "labeled.parquet").to_pylist()
    calibrated = run_job(
        fake_job(
            texts_file,
            selection={"per_class_top_fraction": 1.0},
            calibration={"gold": str(gold_file(write_parquet))},
        )
    )
    report = calibrated.manifest["combine"]["calibration"]
    assert report["rows"] == 30
    fake = report["fake"]
    assert fake["temperature"] != pytest.approx(1.0, abs=1e-3)
    assert fake["nll_after"] <= fake["nll_before"]
    assert fake["ece_after"] <= fake["ece_before"] + 1e-9
    assert fake["reliability_after"]["count"]
    # The summary shows what the fit did on its rows: it minimises log-loss, not ECE.
    assert (
        f"temperature {fake['temperature']:.2f} (on those rows: log-loss "
        f"{fake['nll_before']:.3f} -> {fake['nll_after']:.3f}, ECE {fake['ece_before']:.3f} -> "
        f"{fake['ece_after']:.3f})"
    ) in format_run(calibrated)
    rows = pq.read_table(calibrated.output_dir / "labeled.parquet").to_pylist()
    # A temperature changes confidences, never the top label.
    assert [r["zs_label"] for r in rows] == [r["zs_label"] for r in plain_rows]
    assert [r["zs_confidence"] for r in rows] != [r["zs_confidence"] for r in plain_rows]


def test_gold_labels_must_be_job_labels(
    texts_file: Path, fake_job: Callable[..., JobConfig], write_parquet: Callable[..., Path]
) -> None:
    gold = gold_file(write_parquet, labels=["sports", "cooking"] * 15)
    with pytest.raises(InputError, match=r"gold labels \['cooking'\] are not labels of the job"):
        run_job(fake_job(texts_file, calibration={"gold": str(gold)}))
    assert set(LABELS) >= {"sports"}


def test_a_source_that_scores_too_few_gold_rows_stays_uncalibrated(
    texts_file: Path, fake_job: Callable[..., JobConfig], write_parquet: Callable[..., Path]
) -> None:
    job = fake_job(
        texts_file,
        sources=[{"kind": "fake"}, {"kind": "rules", "rules": {"sports": {"keywords": ["xyzzy"]}}}],
        calibration={"gold": str(gold_file(write_parquet))},
    )
    report = run_job(job).manifest["combine"]["calibration"]
    assert report["rules"] == {"skipped": "scored 0 gold row(s), needs 2", "gold_accuracy": None}
    assert report["fake"]["temperature"] > 0


def test_gold_accuracy_of_each_source_reaches_the_diagnostics_and_the_summary(
    texts_file: Path, fake_job: Callable[..., JobConfig], write_parquet: Callable[..., Path]
) -> None:
    from zslabel.summary import format_run

    # Gold says "finance" for every row: the fake source is right on a third of them, and a
    # rule that always says finance (on the rows it fires on) is right wherever it fires.
    gold = gold_file(write_parquet, labels=["finance"] * 30)
    rules = {"kind": "rules", "rules": {"finance": {"keywords": ["finance"]}}}
    result = run_job(
        fake_job(texts_file, sources=[{"kind": "fake"}, rules], calibration={"gold": str(gold)})
    )
    diagnostics = result.manifest["source_diagnostics"]
    assert diagnostics["accuracy_on"] == "the 30 calibration gold rows"
    assert diagnostics["sources"]["rules"]["accuracy"] == 1.0
    assert diagnostics["sources"]["fake"]["accuracy"] == pytest.approx(1 / 3, abs=0.01)
    summary = format_run(result)
    assert "gold acc." in summary
    assert "rules" in summary.split("gold acc.")[1]
