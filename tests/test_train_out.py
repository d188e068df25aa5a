"""Issue 17, 5a: a student's metrics go with its model, with the permissions of every output.

``zslabel train OUT --out students/v1`` saved the model in ``students/v1`` but wrote its
metrics into ``OUT/student/metrics.json``, over the earlier student's, readable by its owner
alone (``mkstemp``'s 0600).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zslabel.cli import main
from zslabel.student import StudentModel


@pytest.fixture
def labeled(student_pool: Callable[[int], Path]) -> Path:
    return student_pool(0)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for the test; restored after it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def train_cli(capsys: pytest.CaptureFixture[str], labeled: Path, *args: str) -> str:
    assert main(["train", str(labeled), *args]) == 0
    return capsys.readouterr().out


def test_metrics_go_with_the_model_and_never_overwrite_another_students(
    labeled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default: the model in OUT/student/model, its metrics beside it.
    out = train_cli(capsys, labeled)
    default_metrics = labeled / "student" / "metrics.json"
    assert (labeled / "student" / "model").is_dir()
    assert f"figures in {default_metrics}" in out
    default_bytes = default_metrics.read_bytes()
    assert json.loads(default_bytes)["model_dir"] == str(labeled / "student" / "model")

    students = tmp_path / "students"
    for name, rounds in (("v1", "0"), ("v2", "1")):
        folder = students / name
        out = train_cli(capsys, labeled, "--out", str(folder), "--rounds", rounds)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["model_dir"] == str(folder)
        assert metrics["settings"]["rounds"] == int(rounds)
        assert f"Saved {folder}; figures in {folder / 'metrics.json'}" in out
        # The model beside its metrics still loads.
        assert StudentModel.load(folder).labels
    # Neither overwrote the default student's metrics, nor each other's.
    assert default_metrics.read_bytes() == default_bytes
    assert json.loads((students / "v1" / "metrics.json").read_text())["settings"]["rounds"] == 0
    assert not (students / "metrics.json").exists()

    # Naming the default folder is the default.
    out = train_cli(capsys, labeled, "--out", str(labeled / "student" / "model"))
    assert f"figures in {default_metrics}" in out
    assert not (labeled / "student" / "model" / "metrics.json").exists()


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_metrics_have_the_permissions_of_the_other_outputs(
    labeled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    umask: Callable[[int], None],
    mask: int,
) -> None:
    umask(mask)
    expected = 0o666 & ~mask
    (tmp_path / "probe").write_text("")  # a file written as the labeled outputs are
    assert mode(tmp_path / "probe") == expected
    train_cli(capsys, labeled)
    train_cli(capsys, labeled, "--out", str(tmp_path / "v1"))
    for metrics in (labeled / "student" / "metrics.json", tmp_path / "v1" / "metrics.json"):
        assert mode(metrics) == expected
    # No temporary file is left behind.
    assert not [p for p in (labeled / "student").iterdir() if p.name.endswith(".tmp")]
    assert not [p for p in (tmp_path / "v1").iterdir() if p.name.endswith(".tmp")]
