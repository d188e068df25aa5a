from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.errors import InputError, OutputError
from zslabel.export import ParquetTableWriter
from zslabel.runner import LabelingJob, run_job

DATA_FILES = ["labeled.parquet", "abstained.parquet", "train.parquet", "validation.parquet",
              "test.parquet", "manifest.json"]  # fmt: skip


def read(out: Path, name: str = "labeled.parquet") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = pq.read_table(out / name).to_pylist()
    return rows


def test_every_input_row_comes_out_once_in_order_with_its_columns(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(texts_file))
    rows = read(result.output_dir)
    source = pq.read_table(texts_file).to_pylist()
    assert [r["n"] for r in rows] == [r["n"] for r in source]
    assert [r["zs_row"] for r in rows] == list(range(60))
    assert rows[5]["zs_status"] == "invalid"
    assert rows[5]["zs_reason"] == "null_text"
    assert rows[5]["zs_label"] is None
    assert rows[17]["zs_reason"] == "empty_text"
    for row in rows:
        if row["zs_status"] != "invalid":
            scores = [row[f"zs_score_{k}"] for k in ("sports", "weather", "finance")]
            assert sum(scores) == pytest.approx(1.0, abs=1e-5)  # type: ignore[arg-type]
            assert row["zs_confidence"] == max(scores)  # type: ignore[type-var]


def test_counts_add_up_across_statuses_classes_and_files(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(texts_file))
    counts = result.counts
    assert sum(counts["status"].values()) == counts["rows"] == 60
    assert counts["status"]["invalid"] == 2
    per_class = sum(c["accepted"] + c["abstained"] for c in counts["classes"].values())
    assert per_class + counts["status"]["invalid"] == 60
    assert sum(counts["splits"].values()) == counts["status"]["accepted"]
    files = result.manifest["files"]
    assert files["abstained.parquet"]["rows"] == counts["status"]["abstained"]
    assert (
        sum(files[f"{s}.parquet"]["rows"] for s in counts["splits"]) == counts["status"]["accepted"]
    )
    split_rows = [r for s in counts["splits"] for r in read(result.output_dir, f"{s}.parquet")]
    assert {r["zs_status"] for r in split_rows} == {"accepted"}


def test_rerun_reuses_cached_scores_and_writes_identical_files(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    first = run_job(fake_job(texts_file))
    before = {name: (first.output_dir / name).read_bytes() for name in DATA_FILES}
    second = run_job(fake_job(texts_file))
    assert second.run_info["shards"] == {"total": 3, "reused": 3, "scored": 0}
    assert {name: (second.output_dir / name).read_bytes() for name in DATA_FILES} == before


def test_threshold_change_reuses_scores_but_changes_selection(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    first = run_job(fake_job(texts_file))
    wider = {"per_class_top_fraction": 1.0, "min_above_chance": 0.5}
    second = run_job(fake_job(texts_file, selection=wider))
    assert second.run_info["shards"]["reused"] == 3
    assert second.counts["status"]["accepted"] > first.counts["status"]["accepted"]
    # Every valid row is in its class's top fraction now; only the confidence floor sets some
    # aside (58 valid rows of 60).
    below_floor = second.counts["abstain_reasons"]["below_confidence_floor"]
    assert below_floor > 0
    assert second.counts["abstain_reasons"] == {"below_confidence_floor": below_floor}
    assert second.counts["status"]["accepted"] == 58 - below_floor
    third = run_job(
        fake_job(texts_file, selection={"per_class_top_fraction": 1.0, "min_above_chance": None})
    )
    assert third.counts["status"]["accepted"] == 58


def test_changed_text_rescores_only_its_shard(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    texts = [f"text {i}" for i in range(60)]
    path = write_parquet({"text": texts}, row_group_size=20)
    run_job(fake_job(path, input={"shard_rows": 20}))
    texts[45] = "changed"
    path = write_parquet({"text": texts}, row_group_size=20)
    again = run_job(fake_job(path, input={"shard_rows": 20}))
    assert again.run_info["shards"] == {"total": 3, "reused": 2, "scored": 1}


def test_other_formats_and_stale_files_are_cleaned(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    run_job(fake_job(texts_file))
    result = run_job(fake_job(texts_file, output={"format": "jsonl"}))
    out = result.output_dir
    assert not (out / "train.parquet").exists()
    lines = (out / "train.jsonl").read_text().splitlines()
    assert len(lines) == result.counts["splits"]["train"]
    assert {json.loads(line)["zs_status"] for line in lines} == {"accepted"}
    csv = run_job(fake_job(texts_file, output={"format": "csv"}))
    header = (csv.output_dir / "test.csv").read_text().splitlines()[0]
    assert '"zs_label"' in header
    assert not (out / "train.jsonl").exists()


def test_ids_must_be_unique(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    path = write_parquet({"text": ["a", "b", "c"], "id": ["x", "y", "x"]})
    with pytest.raises(InputError, match=r"duplicate value 'x' \(rows 0 and 2, counting from 0\)"):
        run_job(fake_job(path, input={"id_column": "id"}))
    # The stage-by-stage API checks them before its first stage, as run_job does.
    with pytest.raises(InputError, match=r"duplicate value 'x' \(rows 0 and 2, counting from 0\)"):
        LabelingJob(fake_job(path, input={"id_column": "id"}))


def test_split_assignment_follows_ids_not_row_order(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    texts = [f"item {i} sports" for i in range(40)]
    ids = [f"k{i}" for i in range(40)]
    forward = write_parquet({"text": texts, "id": ids}, name="f.parquet")
    backward = write_parquet({"text": texts[::-1], "id": ids[::-1]}, name="b.parquet")

    def splits(path: Path, out: str) -> dict[object, object]:
        result = run_job(fake_job(path, input={"id_column": "id"}, output={"dir": out}))
        return {r["id"]: r["zs_split"] for r in read(result.output_dir)}

    assert splits(forward, str(forward.parent / "o1")) == splits(
        backward, str(forward.parent / "o2")
    )


def test_input_columns_that_collide_with_outputs_are_an_error(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    path = write_parquet({"text": ["a", "b"], "zs_label": ["x", "y"]})
    with pytest.raises(InputError, match=r"\['zs_label'\] collide"):
        run_job(fake_job(path))


def test_output_path_that_is_a_file(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        run_job(fake_job(texts_file, output={"dir": str(tmp_path / "taken")}))


def test_a_failed_export_leaves_the_previous_output_intact(
    texts_file: Path, fake_job: Callable[..., JobConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_job(fake_job(texts_file))
    before = {name: (first.output_dir / name).read_bytes() for name in DATA_FILES}

    def broken(self: ParquetTableWriter, batch: pa.RecordBatch) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ParquetTableWriter, "write", broken)
    with pytest.raises(OSError, match="No space left"):
        run_job(fake_job(texts_file, selection={"per_class_top_fraction": 1.0}))
    assert {name: (first.output_dir / name).read_bytes() for name in DATA_FILES} == before
    assert not list(first.output_dir.glob(".staging-*"))


def test_manifest_records_provenance(texts_file: Path, fake_job: Callable[..., JobConfig]) -> None:
    manifest = run_job(fake_job(texts_file)).manifest
    assert manifest["input"]["rows"] == 60
    assert len(manifest["input"]["fingerprint"]) == 64
    assert manifest["sources"] == [{"name": "fake", "kind": "fake", "seed": 0, "weight": 1.0}]
    assert manifest["config"]["selection"]["per_class_top_fraction"] == 0.5
    assert set(manifest["selection"]["class_confidence_cutoffs"]) == {
        "sports",
        "weather",
        "finance",
    }
    assert "timings_s" not in manifest  # volatile run facts live in run.json
