"""Inputs and states that once passed silently or crashed: each now has one clear outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import JobConfig
from zslabel.drift.profile import read_manifest
from zslabel.errors import ConfigError, InputError
from zslabel.evaluate import evaluate
from zslabel.incremental import run_incremental
from zslabel.report import write_report
from zslabel.runner import run_job
from zslabel.student.data import read_pool

from .conftest import make_texts


def test_a_file_with_other_columns_is_named(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    write_parquet({"text": ["a", "b"]}, name="data/a.parquet")
    folder = write_parquet({"body": ["c"]}, name="data/b.parquet").parent
    with pytest.raises(InputError, match=r"b\.parquet: its columns differ") as missing:
        run_job(fake_job(folder))
    # Only what differs: an empty "extra []" read as if something were wrong with it too.
    assert "(missing 'text'; extra 'body')" in str(missing.value)
    write_parquet({"text": ["c"], "extra": [1]}, name="data/b.parquet")
    with pytest.raises(InputError, match=r"\(extra 'extra'\); all files") as extra:
        run_job(fake_job(folder))
    assert "missing" not in str(extra.value)


def test_an_incremental_root_names_its_latest_version(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    job = fake_job(data, incremental=True)
    for week in range(2):
        pq.write_table(pa.table({"text": make_texts(8, seed=week)}), data / f"w{week}.parquet")
        assert run_incremental(job) is not None
    root = Path(job.output.dir)
    latest = f"{root / 'v0002'} (the latest)"
    with pytest.raises(InputError, match="an incremental output folder") as evaluated:
        evaluate(root, "topic")
    assert str(evaluated.value).endswith(f"evaluate one of its versions, e.g. {latest}")
    with pytest.raises(InputError, match="an incremental output folder") as trained:
        read_pool(root)
    assert str(trained.value).endswith(f"train on one of its versions, e.g. {latest}")
    # Every command that needs one version folder says so: report and diff too.
    with pytest.raises(InputError, match="an incremental output folder") as reported:
        write_report(root)
    assert str(reported.value).endswith(f"report on one of its versions, e.g. {latest}")
    with pytest.raises(InputError, match="an incremental output folder") as compared:
        read_manifest(root)
    assert str(compared.value).endswith(f"compare one of its versions, e.g. {latest}")


def test_incremental_relabels_a_same_size_rewrite_and_waits_for_empty_files(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": ["sports one", "finance two"]}), data / "a.parquet")
    job = fake_job(data, incremental=True)
    assert run_incremental(job) is not None
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), data / "empty.parquet")
    assert run_incremental(job) is None  # nothing to label yet, and no error
    pq.write_table(pa.table({"text": ["sports one", "finance twx"]}), data / "a.parquet")
    outcome = run_incremental(job)
    assert outcome is not None
    assert [Path(f).name for f in outcome[0].files] == ["a.parquet"]


def test_jsonl_writes_binary_text_as_text_and_nan_as_null(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    path = write_parquet(
        {
            "text": pa.array([t.encode() for t in make_texts(9)], pa.binary()),
            "x": [float("nan")] * 9,
        }
    )
    result = run_job(
        fake_job(path, output={"format": "jsonl"}, selection={"per_class_top_fraction": 1.0})
    )
    rows = [
        json.loads(line) for line in (result.output_dir / "train.jsonl").read_text().splitlines()
    ]
    assert rows[0]["text"].startswith("news ")
    assert rows[0]["x"] is None


def test_a_damaged_cache_entry_is_scored_again(
    texts_file: Path, fake_job: Callable[..., JobConfig], zslabel_cache: Path
) -> None:
    first = run_job(fake_job(texts_file))
    entry = next((zslabel_cache / "features").rglob("*.npy"))
    entry.write_bytes(entry.read_bytes()[:40])
    again = run_job(fake_job(texts_file))
    assert again.run_info["shards"]["scored"] == 1
    assert (again.output_dir / "labeled.parquet").read_bytes() == (
        first.output_dir / "labeled.parquet"
    ).read_bytes()


def test_cleanup_never_touches_files_a_foreign_manifest_names(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.txt").write_text("keep me")
    (out / "notes.md").write_text("keep me too")
    (out / "manifest.json").write_text(json.dumps({"files": {"../victim.txt": {}, "notes.md": {}}}))
    run_job(fake_job(texts_file))
    assert (tmp_path / "victim.txt").exists()
    assert (out / "notes.md").exists()


def test_outputs_inside_the_input_folder_are_refused(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    folder = write_parquet({"text": ["a", "b"]}, name="data/a.parquet").parent
    with pytest.raises(ConfigError, match="inside the input folder"):
        run_job(fake_job(folder, output={"dir": str(folder / "out")}))


def test_split_names_must_be_plain() -> None:
    with pytest.raises(ConfigError, match=r"split name 'train/x'"):
        JobConfig.from_dict(
            {"input": {"path": "x"}, "labels": ["a", "b"],
             "output": {"dir": "o", "splits": {"train/x": 0.5, "test": 0.5}}}
        )  # fmt: skip


def test_cli_refuses_flags_it_would_ignore(
    texts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {{path: {texts_file}}}\nlabels: [a, b]\nsources: [{{kind: fake}}]\n"
        "output: {dir: out}\n"
    )
    assert main(["label", str(job), "--labels", "x,y"]) == 2
    assert "--labels applies without a job file" in capsys.readouterr().err
    assert main(["label", str(job), "--model", "/nonexistent"]) == 2
    assert "no embedding source" in capsys.readouterr().err


def test_a_dictionary_encoded_text_column_is_text(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    texts = pa.array(make_texts(12)).dictionary_encode()
    path = write_parquet({"text": texts})
    result = run_job(fake_job(path, output={"format": "csv"}))
    assert result.counts["rows"] == 12
    assert result.counts["status"]["invalid"] == 0
    assert len((result.output_dir / "train.csv").read_text().splitlines()) > 1


def test_eval_of_a_file_says_what_it_scores(write_parquet: Callable[..., Path]) -> None:
    """A trial gave eval a 'zslabel predict' output and read "pred.parquet/labeled.parquet:
    not found; run 'zslabel label' into pred.parquet first"."""
    predicted = write_parquet({"text": ["a"], "zs_student_label": ["x"]}, name="pred.parquet")
    with pytest.raises(InputError, match="a file; zslabel eval scores the output folder") as err:
        evaluate(predicted, "topic")
    assert "zs_student_label" in str(err.value)
