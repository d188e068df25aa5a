"""An output folder loads into Hugging Face ``datasets`` splits with the documented calls."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest

import zslabel
from zslabel.config import JobConfig

from .conftest import LABELS, make_texts
from .test_reused_ids import weekly_job, write_week


@pytest.fixture(autouse=True)
def _quiet() -> None:
    datasets.disable_progress_bars()


def _split_rows(out: Path) -> dict[str, int]:
    manifest = json.loads((out / "manifest.json").read_text())
    fmt = manifest["config"]["output"]["format"]
    return {
        name: manifest["files"][f"{name}.{fmt}"]["rows"]
        for name in manifest["config"]["output"]["splits"]
    }


def _rows(loaded: Any) -> dict[str, int]:
    return {name: split.num_rows for name, split in loaded.items()}


def test_load_dataset_of_the_output_folder(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    out = zslabel.run_job(fake_job(texts_file)).output_dir
    expected = _split_rows(out)
    assert set(expected) == {"train", "validation", "test"}

    # Every split by name, from the manifest.
    loaded = datasets.load_dataset(
        "parquet", data_files=zslabel.hf_data_files(out), cache_dir=str(tmp_path / "hf")
    )
    assert _rows(loaded) == expected
    train = loaded["train"]
    assert {"text", "doc_id", "zs_label", "zs_confidence", "zs_status"} <= set(train.features)
    assert set(train["zs_status"]) == {"accepted"}
    assert set(train["zs_label"]) <= set(LABELS)

    # The folder itself: its README.md (a dataset card) lists the split files.
    assert _rows(datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))) == expected
    # The parquet builder over the folder: split names inferred from the file names.
    by_name = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "hf"))
    assert _rows(by_name) == expected

    # Any file by name: every row, or the rows set aside for review.
    files = {"labeled": str(out / "labeled.parquet"), "review": str(out / "abstained.parquet")}
    every = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert every["labeled"].num_rows == 60
    assert set(every["review"]["zs_status"]) == {"abstained"}


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_any_format_and_split_names(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path, fmt: str
) -> None:
    splits = {"train": 0.6, "holdout": 0.25, "validación": 0.15}
    out = zslabel.run_job(fake_job(texts_file, output={"format": fmt, "splits": splits})).output_dir
    data_files = zslabel.hf_data_files(out)
    assert set(data_files) == set(splits)
    builder = {"parquet": "parquet", "jsonl": "json", "csv": "csv"}[fmt]
    loaded = datasets.load_dataset(builder, data_files=data_files, cache_dir=str(tmp_path / "hf"))
    assert _rows(loaded) == _split_rows(out)
    assert _rows(datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf2"))) == _rows(loaded)


def test_empty_splits_are_left_out_and_a_rerun_is_read_afresh(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", str(tmp_path / "hf")
    fake = [{"kind": "fake"}]
    every = {"per_class_top_fraction": 1.0, "min_above_chance": None}  # rows in each split
    zslabel.label_frame(["a goal", "rain today"], LABELS, sources=fake, selection=every, out=out)
    assert 0 in _split_rows(out).values()
    files = zslabel.hf_data_files(out)
    assert set(files) == {k for k, rows in _split_rows(out).items() if rows}
    first = datasets.load_dataset("parquet", data_files=files, cache_dir=cache)
    assert _rows(first) == {k: v for k, v in _split_rows(out).items() if v}

    zslabel.label_frame(make_texts(60), LABELS, sources=fake, selection=every, out=out)
    again = datasets.load_dataset("parquet", data_files=zslabel.hf_data_files(out), cache_dir=cache)
    assert _rows(again) == _split_rows(out)


def test_an_incremental_job_gathers_its_versions(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    write_parquet({"text": make_texts(30)}, "in/a.parquet")
    job = fake_job(folder, incremental=True)
    zslabel.run_incremental(job)
    write_parquet({"text": make_texts(30, seed=1)}, "in/b.parquet")
    zslabel.run_incremental(job)
    out = Path(job.output.dir)
    files = zslabel.hf_data_files(out)
    assert [Path(p).parent.name for p in files["train"]] == ["v0001", "v0002"]
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    both = [_split_rows(out / v) for v in ("v0001", "v0002")]
    assert loaded["train"].num_rows == sum(rows["train"] for rows in both)


def test_versions_relabeled_under_new_settings_are_not_gathered_twice(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    write_parquet({"text": make_texts(30)}, "in/a.parquet")
    zslabel.run_incremental(fake_job(folder, incremental=True))
    write_parquet({"text": make_texts(30, seed=1)}, "in/b.parquet")
    zslabel.run_incremental(fake_job(folder, incremental=True))
    # New settings relabel both files into v0003: v0001 and v0002 are superseded.
    changed = fake_job(folder, incremental=True, selection={"per_class_top_fraction": 0.6})
    zslabel.run_incremental(changed)
    out = Path(changed.output.dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = zslabel.hf_data_files(out)
    assert {Path(p).parent.name for paths in files.values() for p in paths} == {"v0003"}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert _rows(loaded) == _split_rows(out / "v0003")
    # b leaves the input, the settings change again: v0004 relabels a alone; v0003 stays for b,
    # its latest labeling, said to be under other settings.
    (folder / "b.parquet").rename(tmp_path / "b.parquet")
    zslabel.run_incremental(
        fake_job(folder, incremental=True, selection={"per_class_top_fraction": 0.7})
    )
    with pytest.warns(UserWarning, match="v0003") as caught:
        files = zslabel.hf_data_files(out)
    said = [str(warning.message) for warning in caught]
    assert "v0003: a later version labeled some of its files again" in said[0]
    assert "versions v0003 were labeled under other settings than the latest, v0004" in said[1]
    assert [Path(p).parent.name for p in files["train"]] == ["v0003", "v0004"]


def test_versions_with_resent_ids_warn_when_gathered(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A trial loaded three versions and got 36 duplicate ids without a word."""
    data = tmp_path / "data"
    job = weekly_job(fake_job, data)
    write_week(data, "w1.parquet", [f"TCK-{i:03d}" for i in range(20)], seed=0)
    zslabel.run_incremental(job)
    write_week(data, "w2.parquet", ["NEW-000", "TCK-003", "TCK-007"], seed=1)
    zslabel.run_incremental(job)
    with pytest.warns(UserWarning, match=r"hold ids that earlier versions hold too \(v0002: 2\)"):
        files = zslabel.hf_data_files(Path(job.output.dir))
    assert [Path(p).parent.name for p in files["train"]] == ["v0001", "v0002"]


def test_not_an_output_folder(tmp_path: Path) -> None:
    with pytest.raises(zslabel.InputError, match="not a zslabel output folder"):
        zslabel.hf_data_files(tmp_path)


def test_a_label_frame_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "frame-out"
    zslabel.label_frame(make_texts(40), LABELS, sources=[{"kind": "fake"}], out=out)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert _rows(loaded) == _split_rows(out)
    assert loaded["train"].column_names[0] == "text"
