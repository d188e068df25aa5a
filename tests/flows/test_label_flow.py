"""The label-dataset flow, run under a temporary Prefect server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client

import zslabel.flows.label_dataset as label_flow
from tests.conftest import make_texts
from zslabel.config import load_job
from zslabel.errors import ConfigError, InputError, ModelError
from zslabel.flows.label_dataset import ShardsFailed, label_dataset
from zslabel.pipeline import score
from zslabel.runner import run_job

pytestmark = pytest.mark.usefixtures("prefect_server")

DATA_FILES = ("labeled.parquet", "abstained.parquet", "train.parquet", "validation.parquet",
              "test.parquet", "manifest.json")  # fmt: skip


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in DATA_FILES}


def test_the_flow_writes_what_the_library_writes(job_file: Path, tmp_path: Path) -> None:
    outcome = label_dataset(job_path=str(job_file))
    out = Path(outcome["output_dir"])
    assert outcome["run_info"]["shards"] == {"total": 6, "reused": 0, "scored": 6}
    assert outcome["manifest"]["counts"]["rows"] == 90
    flow_files = snapshot(out)
    shutil.rmtree(out)
    run_job(load_job(job_file))
    assert snapshot(out) == flow_files


def latest_artifacts() -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_latest_artifacts()}


def test_a_run_publishes_summary_class_and_link_artifacts(job_file: Path) -> None:
    outcome = label_dataset(job_path=str(job_file))
    artifacts = latest_artifacts()
    # Keyed by the job file's stem (job.yaml).
    summary = str(artifacts["zslabel-job-summary"].data)
    assert "90 rows labeled" in summary
    assert "```" not in summary.split("### Details")[0]  # tables, not the CLI text
    status = next(line for line in summary.splitlines() if line.startswith("| accepted |"))
    accepted = outcome["manifest"]["counts"]["status"]["accepted"]
    assert status.startswith(f"| accepted | {accepted} |")
    assert "| class | accepted | abstained | mean confidence (accepted) | cutoff |" in summary
    assert "| per_class_top_fraction | 0.5 |" in summary
    table = json.loads(str(artifacts["zslabel-job-classes"].data))
    assert {row["label"] for row in table} == {"sports", "weather", "finance"}
    assert artifacts["zslabel-job-progress"].data == 100.0
    out = Path(outcome["output_dir"])
    assert artifacts["zslabel-job-outputs"].data == f"[{out}]({out.as_uri()})"
    report = (out / "report.html").as_uri()
    assert artifacts["zslabel-job-report"].data == f"[report.html]({report})"


def test_two_jobs_keep_their_own_artifacts(job_file: Path) -> None:
    other = job_file.with_name("tickets v2.yaml")
    other.write_text(job_file.read_text().replace("dir: out", "dir: out-other"))
    first = label_dataset(job_path=str(job_file), overrides={"selection": {"min_margin": 0.9}})
    label_dataset(job_path=str(other))
    artifacts = latest_artifacts()
    mine, theirs = artifacts["zslabel-job-summary"], artifacts["zslabel-tickets-v2-summary"]
    assert mine.flow_run_id != theirs.flow_run_id
    # The first job's summary is still its own: its min_margin, its abstentions.
    assert "| min_margin | 0.9 |" in str(mine.data)
    assert "| min_margin | 0.9 |" not in str(theirs.data)
    abstained = first["manifest"]["counts"]["status"]["abstained"]
    assert f"| abstained | {abstained} |" in str(mine.data)


def test_a_job_mapping_runs_as_the_job_file_does(job_file: Path) -> None:
    from_file = label_dataset(job_path=str(job_file))
    expected = snapshot(Path(from_file["output_dir"]))
    shutil.rmtree(from_file["output_dir"])
    job = load_job(job_file).model_dump(mode="json")
    from_mapping = label_dataset(job=job, name="Quick Form!")
    assert from_mapping["output_dir"] == from_file["output_dir"]
    assert snapshot(Path(from_mapping["output_dir"])) == expected
    assert "zslabel-quick-form-summary" in latest_artifacts()
    with pytest.raises(ConfigError, match="exactly one of the parameters job_path and job"):
        label_dataset(job_path=str(job_file), job=job)


def clear(cache: Path) -> None:
    """Empty the test's feature cache (shared by every output), so that a run scores again."""
    shutil.rmtree(cache)
    cache.mkdir()


def test_a_failed_shard_fails_the_flow_and_the_rerun_resumes(
    job_file: Path, monkeypatch: pytest.MonkeyPatch, zslabel_cache: Path
) -> None:
    uninterrupted = label_dataset(job_path=str(job_file))
    out = Path(uninterrupted["output_dir"])
    expected = snapshot(out)
    shutil.rmtree(out)
    clear(zslabel_cache)

    original = score.score_shard

    def fail_on_shard_3(plan, shard, on_rows=None):  # type: ignore[no-untyped-def]
        if shard.index == 3:
            raise ModelError("injected failure")
        return original(plan, shard, on_rows)

    monkeypatch.setattr(score, "score_shard", fail_on_shard_3)
    with pytest.raises(ShardsFailed, match=r"1 of 6 shard\(s\) failed: shard 3 \(.*part-1"):
        label_dataset(job_path=str(job_file))
    assert not (out / "manifest.json").exists()

    monkeypatch.setattr(score, "score_shard", original)
    resumed = label_dataset(job_path=str(job_file))
    assert resumed["run_info"]["shards"] == {"total": 6, "reused": 5, "scored": 1}
    assert snapshot(out) == expected


def test_transient_errors_are_retried(job_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = score.score_shard

    def flaky(plan, shard, on_rows=None):  # type: ignore[no-untyped-def]
        calls.append(shard.index)
        if shard.index == 2 and calls.count(2) == 1:
            raise OSError("connection reset by peer")
        return original(plan, shard, on_rows)

    monkeypatch.setattr(score, "score_shard", flaky)
    monkeypatch.setattr(
        label_flow, "score_shard", label_flow.score_shard.with_options(retry_delay_seconds=0)
    )
    outcome = label_dataset(job_path=str(job_file))
    assert calls.count(2) == 2
    assert outcome["manifest"]["counts"]["rows"] == 90


def test_incremental_runs_label_only_new_files(job_file: Path) -> None:
    overrides = {"incremental": True}
    first = label_dataset(job_path=str(job_file), overrides=overrides)
    assert first["version"]["version"] == "v0001"
    assert first["manifest"]["counts"]["rows"] == 90

    pq.write_table(pa.table({"text": make_texts(12, seed=9)}), job_file.parent / "data/new.parquet")
    second = label_dataset(job_path=str(job_file), overrides=overrides)
    assert second["version"]["version"] == "v0002"
    assert second["manifest"]["counts"]["rows"] == 12
    assert [Path(f).name for f in second["version"]["files"]] == ["new.parquet"]

    third = label_dataset(job_path=str(job_file), overrides=overrides)
    assert third == {"output_dir": str(job_file.parent / "out"), "version": None, "new_files": 0}
    index = json.loads((job_file.parent / "out/versions.json").read_text())
    assert [v["version"] for v in index["versions"]] == ["v0001", "v0002"]
    assert index["latest"] == "v0002"
    assert pq.read_table(job_file.parent / "out/v0002/labeled.parquet").num_rows == 12


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_output_as_threads(
    job_file: Path, zslabel_cache: Path
) -> None:
    threads = label_dataset(job_path=str(job_file))
    expected = snapshot(Path(threads["output_dir"]))
    clear(zslabel_cache)
    dask_out = job_file.parent / "out-dask"
    dask = label_dataset(
        job_path=str(job_file),
        overrides={"runner": {"kind": "dask", "workers": 2}, "output": {"dir": str(dask_out)}},
    )
    assert dask["run_info"]["shards"]["scored"] == 6  # cache cleared: really scored on Dask
    got = snapshot(dask_out)
    for name in DATA_FILES[:-1]:
        assert got[name] == expected[name], name
    manifests = [json.loads(files["manifest.json"]) for files in (expected, got)]
    for manifest in manifests:
        manifest["config"].pop("runner")
        manifest["config"]["output"].pop("dir")
        # The card and the report are titled after the output folder, which differs here.
        for document in ("README.md", "report.html"):
            manifest["files"].pop(document)
    assert manifests[0] == manifests[1]


def test_the_flow_refines_as_the_library_does(tiny_model: Path, tmp_path: Path) -> None:
    """select-rows and write-outputs are separate tasks: the refinement travels in Selected."""
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": make_texts(40)}), data, row_group_size=10)
    job = tmp_path / "refine.yaml"
    job.write_text(
        "input: {path: data.parquet, text_column: text, shard_rows: 10}\n"
        "labels: [sports, weather, finance]\n"
        f"sources: [{{kind: embedding, model: '{tiny_model}',\n"
        "            refine: {passes: 2, weight: 0.5, top_fraction: 0.3}}]\n"
        "selection: {per_class_top_fraction: 0.5}\n"
        "output: {dir: out}\n"
    )
    outcome = label_dataset(job_path=str(job))
    out = Path(outcome["output_dir"])
    record = outcome["manifest"]["refinement"]["embedding"]
    assert min(label["cosine"] for label in record["labels"].values()) < 1.0
    flow_files = snapshot(out)
    shutil.rmtree(out)
    run_job(load_job(job))
    assert snapshot(out) == flow_files


def test_a_duplicate_id_fails_the_flow_before_any_shard_is_scored(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = job_file.parent / "data"
    for i, part in enumerate(sorted(data.glob("*.parquet"))):
        table = pq.read_table(part)
        ids = [f"t{i * 30 + row}" for row in range(table.num_rows)]
        pq.write_table(table.append_column("id", pa.array(ids)), part)
    pq.write_table(pa.table({"text": ["again"], "id": ["t7"]}), data / "part-3.parquet")
    job_file.write_text(
        job_file.read_text().replace("text_column: text", "text_column: text, id_column: id")
    )
    scored: list[int] = []
    original = score.score_shard

    def counting(plan, shard, on_rows=None):  # type: ignore[no-untyped-def]
        scored.append(shard.index)
        return original(plan, shard, on_rows)

    monkeypatch.setattr(score, "score_shard", counting)
    with pytest.raises(
        InputError,
        match=r"id column 'id' has duplicate value 't7' \(rows 7 and 90, counting from 0: row 7 "
        r"of part-0\.parquet and row 0 of part-3\.parquet\)",
    ):
        label_dataset(job_path=str(job_file))
    assert scored == []
