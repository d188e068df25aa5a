"""Outputs do not depend on the folder a command runs from (a field fault: ``label`` in the job's
folder recorded ``data/posts.parquet``, from elsewhere and through the flow an absolute path, so
manifest, card and report differed)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from zslabel.cli import main
from zslabel.config import load_job

from .conftest import LABELS, make_texts


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(write_parquet: Callable[..., Path], tmp_path: Path) -> Path:
    data = write_parquet({"text": make_texts(60)}, name="posts.parquet")
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    data.rename(folder / "data" / "posts.parquet")
    job = {
        "input": {"path": "data/posts.parquet"},
        "labels": LABELS,
        "sources": [{"kind": "fake"}],
        "output": {"dir": "out"},
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    return folder


def test_job_file_paths_are_absolute_from_the_job_folder_whatever_the_cwd(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    here = load_job("job.yaml")
    monkeypatch.chdir(project.parent)
    there = load_job(str(project / "job.yaml"))
    assert here.input.path == there.input.path == str((project / "data/posts.parquet").resolve())
    assert here.output.dir == there.output.dir == str((project / "out").resolve())


def outputs(folder: Path) -> dict[str, str]:
    return {
        p.name: digest(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != "run.json"
    }


def test_label_writes_the_same_bytes_from_any_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["label", "job.yaml"]) == 0
    first = outputs(project / "out")
    for name in first:
        (project / "out" / name).unlink()
    monkeypatch.chdir(project.parent)
    assert main(["label", str(project / "job.yaml")]) == 0
    capsys.readouterr()
    assert outputs(project / "out") == first
    assert {"manifest.json", "README.md", "report.html", "labeled.parquet"} <= set(first)
    manifest = (project / "out" / "manifest.json").read_text(encoding="utf-8")
    assert str((project / "data" / "posts.parquet").resolve()) in manifest
