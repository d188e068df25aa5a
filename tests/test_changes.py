"""A rerun into the same folder says what it changed; a dry run says so (issue 17, 2c)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from zslabel.changes import change_lines, compare
from zslabel.cli.jobargs import dry_run
from zslabel.config import JobConfig
from zslabel.runner import run_job
from zslabel.summary import format_run


def test_rerun_with_another_top_fraction_prints_the_change(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    first = run_job(fake_job(texts_file, selection={"per_class_top_fraction": 0.5}))
    assert "changes" not in first.manifest
    assert "replaced the previous outputs" not in format_run(first)
    second = run_job(fake_job(texts_file, selection={"per_class_top_fraction": 0.7}))
    before, after = first.manifest["counts"], second.manifest["counts"]
    gained = after["status"]["accepted"] - before["status"]["accepted"]
    assert gained > 0
    changes = second.manifest["changes"]
    assert changes["status"] == {"accepted": gained, "abstained": -gained}
    assert changes["settings"] == {"selection.per_class_top_fraction": [0.5, 0.7]}
    per_class = {
        name: after["classes"][name]["accepted"] - before["classes"][name]["accepted"]
        for name in after["classes"]
    }
    assert changes["accepted"] == {name: n for name, n in per_class.items() if n}
    summary = format_run(second)
    assert f"rows by status: accepted +{gained}, abstained -{gained}" in summary
    assert "selection.per_class_top_fraction: 0.5 -> 0.7" in summary
    written = json.loads((second.output_dir / "manifest.json").read_text(encoding="utf-8"))
    assert written["changes"] == changes


def test_identical_rerun_records_no_change(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    run_job(fake_job(texts_file))
    again = run_job(fake_job(texts_file))
    assert "changes" not in again.manifest


def test_changed_labels_and_model_are_named() -> None:
    previous = {
        "config": {"labels": [{"name": "billing", "descriptions": []}], "selection": {}},
        "sources": [{"name": "embedding", "model": {"name": "small", "revision": "1"}}],
        "counts": {"status": {"accepted": 5}, "classes": {"billing": {"accepted": 5}}},
    }
    current = {
        "config": {
            "labels": [{"name": "billing", "descriptions": []}, {"name": "refund"}],
            "selection": {},
        },
        "sources": [{"name": "embedding", "model": {"name": "large", "revision": "2"}}],
        "counts": {
            "status": {"accepted": 7},
            "classes": {"billing": {"accepted": 4}, "refund": {"accepted": 3}},
        },
    }
    changes = compare(previous, current)
    assert changes["accepted"] == {"billing": -1, "refund": 3}
    assert changes["settings"] == {
        "labels.refund": [None, "{}"],
        "model.embedding": ["small 1", "large 2"],
    }
    assert change_lines(changes) == [
        "rows by status: accepted +2",
        "accepted per class: billing -1, refund +3",
        "labels.refund: (absent) -> {}",
        "model.embedding: small 1 -> large 2",
    ]


def test_unreadable_previous_manifest_is_said(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    config = fake_job(texts_file)
    out = Path(config.output.dir)
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("{not json", encoding="utf-8")
    result = run_job(config)
    assert "unreadable" in result.manifest["changes"]
    assert "could not be read" in format_run(result)


def test_dry_run_says_so_at_the_top(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path, tiny_model: Path
) -> None:
    real = fake_job(texts_file, sources=[{"kind": "embedding", "model": str(tiny_model)}])
    assert not format_run(run_job(real)).startswith("DRY RUN")
    summary = format_run(run_job(dry_run(real, output_dir=str(tmp_path / "dry"))))
    assert summary.splitlines()[0].startswith("DRY RUN")


def test_one_source_setting_is_one_change_and_a_new_source_one_line() -> None:
    """A rerun with another temperature showed ``sources: [{"aggregate": "max", ...`` cut at
    60 characters, with the change itself out of sight."""

    def manifest(temperature: float, extra: list[dict[str, object]]) -> dict[str, object]:
        embedding = {"name": "embedding", "kind": "embedding", "model": "default"}
        sources = [{**embedding, "temperature": temperature, "aggregate": "max"}, *extra]
        return {"config": {"labels": [], "sources": sources}}

    rules = {"name": "rules", "kind": "rules", "rules": [{"label": "billing", "any": ["x"]}]}
    changes = compare(manifest(0.05, []), manifest(0.07, [rules]))
    assert changes["settings"] == {
        "sources.embedding.temperature": [0.05, 0.07],
        "sources.rules": [None, '{"kind": "rules", "rules": [{"any": ["x"], "label": "billing"}]}'],
    }
    assert change_lines(changes)[0] == "sources.embedding.temperature: 0.05 -> 0.07"
    assert change_lines(changes)[1].startswith('sources.rules: (absent) -> {"kind": "rules",')
