"""Every output a run writes has the permissions of a plain ``open``: 0666 less the umask.

Files written through ``tempfile.mkstemp`` kept its 0600 (drift.json beside 0644 outputs, in a
new user's trial); zslabel.atomic creates temporary files as ``open`` would."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_texts
from zslabel.atomic import temporary_beside
from zslabel.cli import main


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=["022", "002", "077"])
def mask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield int(request.param)
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_temporary_file_is_created_as_open_creates_one(tmp_path: Path, mask: int) -> None:
    first = temporary_beside(tmp_path / "drift.json")
    second = temporary_beside(tmp_path / "drift.json")
    assert first != second
    assert first.name.startswith(".drift.json.")
    assert first.name.endswith(".tmp")
    assert mode(first) == 0o666 & ~mask
    assert first.read_bytes() == b""


def test_every_output_of_a_run_and_a_version_has_the_same_permissions(
    tmp_path: Path, mask: int, capsys: pytest.CaptureFixture[str], zslabel_cache: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": make_texts(30)}), data / "part-0.parquet")
    job = tmp_path / "job.yaml"
    job.write_text(
        "input: {path: data, text_column: text}\n"
        "labels: [sports, weather, finance]\n"
        "sources: [{kind: fake}]\n"
        "incremental: true\n"
        "output: {dir: out}\n",
        encoding="utf-8",
    )
    assert main(["label", str(job), "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    written = [
        p for p in out.rglob("*") if p.is_file() and ".zslabel" not in p.relative_to(out).parts
    ]
    names = {p.name for p in written}
    assert {"drift.json", "manifest.json", "labeled.parquet"} <= names
    assert any(p.parent == out for p in written)  # the versions index at the job's root
    assert {p.relative_to(out).as_posix(): oct(mode(p)) for p in written} == {
        p.relative_to(out).as_posix(): oct(0o666 & ~mask) for p in written
    }
    # The feature cache too: a cache_dir a team shares is read by its other members.
    cached = [p for p in zslabel_cache.rglob("*") if p.is_file()]
    assert cached
    assert {oct(mode(p)) for p in cached} == {oct(0o666 & ~mask)}
