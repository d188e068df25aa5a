"""The documented Python example (docs/python.md, which the README links to) runs as printed, on a
generated job with the fake source."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import LABELS, make_texts

PYTHON_PAGE = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def python_block(section: str) -> str:
    """The first ```python block after the heading ``section``."""
    text = PYTHON_PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    found = re.search(r"```python\n(.*?)```", text[start:], flags=re.DOTALL)
    assert found is not None, f"no python block under {section!r}"
    return found.group(1)


def test_the_python_api_example_runs(
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = make_texts(90)
    topics = [next(label for label in LABELS if label in t) for t in texts]
    data = write_parquet({"text": texts, "topic": topics}, name="data.parquet")
    (tmp_path / "job.yaml").write_text(
        yaml.safe_dump(
            {
                "input": {"path": str(data), "text_column": "text"},
                "labels": LABELS,
                "sources": [{"kind": "fake"}],
                "output": {"dir": str(tmp_path / "out")},
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    exec(compile(python_block("## Python API"), "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "accepted" in printed[0]  # the status counts
    assert 0.0 <= float(printed[1]) <= 1.0  # accepted accuracy against the topic column
    assert re.fullmatch(r"\[[012 ]+\]", printed[2])  # the first ten rows' statuses
