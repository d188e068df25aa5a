"""Runs write drift.json: three scheduled-like versions of one incremental job (the third with
injected shifts), through the library and the CLI, and a plain job rerun into its folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zslabel import cli
from zslabel.config import JobConfig
from zslabel.export import file_sha256
from zslabel.incremental import run_incremental
from zslabel.runner import run_job
from zslabel.summary import format_run

from .conftest import make_texts
from .test_drift import SELECTION, add_batch, finance_heavy, new_topic


def job_dict(data: Path, out: Path, **extra: Any) -> dict[str, Any]:
    return {
        "input": {"path": str(data), "text_column": "text", "shard_rows": 100},
        "labels": ["sports", "weather", "finance"],
        "sources": [{"kind": "fake"}],
        "selection": SELECTION,
        "output": {"dir": str(out)},
        **extra,
    }


def shifted(seed: int) -> list[str]:
    """A class-mix change, a new topic and an empty-text upstream fault in one batch."""
    return finance_heavy(150, seed=seed) + new_topic(90, seed=seed) + [""] * 60


def drift_of(folder: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((folder / "drift.json").read_text(encoding="utf-8"))
    return payload


def test_each_version_compares_with_the_last_and_fail_exits_1_with_the_version_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    config = JobConfig.from_dict(job_dict(data, out, incremental=True))
    results = []
    for i, texts in enumerate([make_texts(300, seed=1), make_texts(300, seed=2)], start=1):
        add_batch(data, f"batch{i}.parquet", texts)
        outcome = run_incremental(config)
        assert outcome is not None
        results.append(outcome[1])
    first, second = (drift_of(r.output_dir) for r in results)
    assert first["first_version"] is True
    assert first["baseline"] is None
    assert second["baseline"] == "../v0001"
    assert second["drifted"] is False
    assert second["crossed"] == []
    assert "drift: no drift" in format_run(results[1])
    assert "warning: drift" not in format_run(results[1])
    # The manifest lists drift.json with its hash: it is committed with the data it describes.
    manifest = results[1].manifest
    assert manifest["files"]["drift.json"]["sha256"] == file_sha256(out / "v0002" / "drift.json")

    # The third batch, through the CLI, with on_drift: fail.
    add_batch(data, "batch3.parquet", shifted(seed=3))
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps(job_dict(data, out, incremental=True, drift={"on_drift": "fail"})))
    assert cli.main(["label", str(job), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "warning: drift: psi" in captured.out
    assert "class mix changed: finance" in captured.out
    assert "warning: drift: invalid_rate +0.2 beyond ±0.05" in captured.out
    # The injected topic's words, in the summary (a hint of a class the label set lacks).
    assert "drift: new terms among abstained rows: aviso, " in captured.out
    assert "zslabel label:" in captured.err
    assert "threshold(s) crossed" in captured.err
    third = out / "v0003"
    index = json.loads((out / "versions.json").read_text())
    assert index["latest"] == "v0003"  # written and recorded despite the failure
    drift = drift_of(third)
    assert drift["drifted"] is True
    assert drift["on_drift"] == "fail"
    assert drift["baseline"] == "../v0002"
    assert {"psi", "abstain_rate", "invalid_rate"} <= {c["metric"] for c in drift["crossed"]}
    recorded = json.loads((third / "manifest.json").read_text())["drift"]
    assert recorded["drifted"] is True
    assert recorded["crossed"] == drift["crossed"]
    report = (third / "report.html").read_text(encoding="utf-8")
    assert '<section id="drift">' in report
    assert "CROSSED" in report
    assert "Class shares: previous and this version" in report


def test_a_plain_rerun_compares_with_the_outputs_it_replaces(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    add_batch(data, "batch.parquet", make_texts(300, seed=1))
    config = JobConfig.from_dict(job_dict(data, out))
    run_job(config)
    first = (out / "drift.json").read_bytes()
    assert json.loads(first)["first_version"] is True
    # An identical rerun is the same version: the same drift.json and manifest bytes.
    manifest = (out / "manifest.json").read_bytes()
    run_job(config)
    assert (out / "drift.json").read_bytes() == first
    assert (out / "manifest.json").read_bytes() == manifest
    # New data in the same folder: compared with the replaced outputs, read before the commit.
    add_batch(data, "batch.parquet", shifted(seed=4))
    result = run_job(config)
    drift = drift_of(out)
    assert drift["baseline"] == "."
    assert drift["drifted"] is True
    assert drift["baseline_profile"]["rows"] == 300
    assert drift["profile"]["rows"] == 300
    assert "warning: drift: psi" in format_run(result)
    assert not list(out.glob(".staging*"))  # nothing left behind


def test_drift_json_names_no_run_or_place_so_the_same_steps_give_the_same_bytes(
    tmp_path: Path,
) -> None:
    """Two output folders of one job, each labeled twice (the second time shifted data): their
    baselines and their comparisons are byte-identical, though their paths and run ids differ."""
    data = tmp_path / "data"
    results: dict[str, list[bytes]] = {"a": [], "b": []}
    for texts in (make_texts(200, seed=5), shifted(seed=6)):
        add_batch(data, "batch.parquet", texts)
        for name, kept in results.items():
            run_job(JobConfig.from_dict(job_dict(data, tmp_path / name)))
            kept.append((tmp_path / name / "drift.json").read_bytes())
    assert results["a"] == results["b"]
    assert json.loads(results["a"][1])["drifted"] is True


def test_a_failed_comparison_leaves_the_previous_outputs_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zslabel.errors import OutputError
    from zslabel.pipeline import drift

    data, out = tmp_path / "data", tmp_path / "out"
    add_batch(data, "batch.parquet", make_texts(100, seed=1))
    config = JobConfig.from_dict(job_dict(data, out))
    run_job(config)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def broken(*args: object, **kwargs: object) -> None:
        raise OutputError("injected: disk full")

    monkeypatch.setattr(drift, "compare", broken)
    add_batch(data, "batch.parquet", make_texts(100, seed=2))
    with pytest.raises(OutputError, match="injected"):
        run_job(config)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not list(out.glob(".staging*"))


def test_a_rerun_with_other_settings_is_not_failed_as_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new-user trial: the same data rerun with another per_class_top_fraction and
    ``on_drift: fail`` exited 1 on an abstain-rate change the user had asked for."""
    data, out = tmp_path / "data", tmp_path / "out"
    add_batch(data, "batch.parquet", make_texts(300, seed=1))
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps(job_dict(data, out, drift={"on_drift": "fail"})), encoding="utf-8")
    assert cli.main(["label", str(job), "--no-progress"]) == 0
    capsys.readouterr()
    stricter = ["--min-confidence", "0.95"]
    assert cli.main(["label", str(job), "--no-progress", *stricter]) == 0
    out_text = capsys.readouterr().out
    assert "warning: drift: abstain_rate" in out_text
    assert "beyond ±0.1" in out_text
    assert "the job's settings changed since the compared outputs" in out_text
    assert "selection.min_confidence" in out_text


def test_a_new_version_under_other_settings_is_not_failed_as_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same kind, for incremental jobs: a version is compared with the version before it,
    and the settings changed since that version (a stricter threshold here; an upgrade that
    moved the defaults alike) explain its drift instead of failing it."""
    data, out = tmp_path / "data", tmp_path / "out"
    job = tmp_path / "job.yaml"
    raw = job_dict(data, out, incremental=True, drift={"on_drift": "fail"})
    job.write_text(json.dumps(raw), encoding="utf-8")
    add_batch(data, "batch1.parquet", make_texts(300, seed=1))
    assert cli.main(["label", str(job), "--no-progress"]) == 0
    add_batch(data, "batch2.parquet", make_texts(300, seed=2))
    capsys.readouterr()
    stricter = ["--min-confidence", "0.95"]
    assert cli.main(["label", str(job), "--no-progress", *stricter]) == 0
    out_text = capsys.readouterr().out
    assert "warning: drift: abstain_rate" in out_text
    assert "the job's settings changed since the compared outputs" in out_text
    manifest = json.loads((out / "v0002" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["changes"]["settings"] == {"selection.min_confidence": [0.6, 0.95]}
    assert manifest["changes"]["since"] == "../v0001"
    assert "settings changed since ../v0001:" in out_text
    assert "replaced the previous outputs" not in out_text
    # The same change with the same settings as v0002: a real drift fails again.
    add_batch(data, "batch3.parquet", shifted(seed=3))
    assert cli.main(["label", str(job), "--no-progress", *stricter]) == 1
    assert "changes" not in json.loads((out / "v0003" / "manifest.json").read_text())
