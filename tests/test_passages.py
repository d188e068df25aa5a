"""Passages many texts share (zslabel.passages): found by the run and named in its summary,
its manifest, its report and as a ZslabelWarning (``zslabel check``: tests/test_check.py)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import zslabel
from zslabel.cli import main
from zslabel.passages import describe, repeated_passages

from .conftest import make_texts
from .test_check import FOOTER


def label(capsys: pytest.CaptureFixture[str], path: Path, out: Path) -> str:
    argv = ["label", str(path), "--labels", "sports,weather,finance", "--out", str(out),
            "--dry-run", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    return capsys.readouterr().out


def test_the_run_warns_of_a_footer_and_records_it(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(200)
    plain = label(capsys, write_parquet({"text": texts}, "plain.parquet"), tmp_path / "plain")
    assert "Repeated passages" not in plain
    manifest = json.loads((tmp_path / "plain-dry-run" / "manifest.json").read_text())
    assert "repeated_passages" not in manifest["input"]

    footed = [f"{t}\n-- \n{FOOTER}" if i % 20 == 0 else t for i, t in enumerate(texts)]
    out = label(capsys, write_parquet({"text": footed}, "footed.parquet"), tmp_path / "footed")
    assert "  warning: Repeated passages: 10 of 200 sampled texts share sentences" in out
    folder = tmp_path / "footed-dry-run"
    found = json.loads((folder / "manifest.json").read_text())["input"]["repeated_passages"]
    assert found["rows"] == 10
    assert found["sample_rows"] == 200
    assert [p["rows"] for p in found["passages"]] == [10, 10]
    assert "Repeated passages: 10 of 200" in (folder / "report.html").read_text()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        zslabel.label_frame(footed, ["sports", "weather", "finance"], sources=[{"kind": "fake"}])
    assert any("Repeated passages: 10 of 200" in str(w.message) for w in caught)


def test_repeated_passages_counts_texts_not_occurrences_and_ignores_short_sentences() -> None:
    footer = "Sent from the help desk portal of the company, please do not reply to it."
    texts = [f"printer {i} is jammed. {footer}\n{footer}" for i in range(6)]
    texts += ["Thanks for your help. " * 3 + f"unrelated text number {i}" for i in range(6)]
    texts += [f"something else entirely, row {i}" for i in range(288)]
    found = repeated_passages(texts)
    assert found.passages == [(footer, 6)]  # 6 texts, each holding it twice
    assert found.rows == 6
    assert found.texts == 300
    assert 0.8 < found.text_share < 0.9  # two footers beside a short first sentence
    assert repeated_passages(texts[:6], min_rows=7).passages == []
    assert repeated_passages(texts, min_share=0.05).passages == []  # 6 of 300 is 2 %
    assert describe(repeated_passages(texts[12:])) is None


def test_carriage_returns_end_sentences_and_copies_are_called_copies() -> None:
    footer = "Sent from the help desk portal of the company, please do not reply to it."
    texts = [f"printer {i} is jammed\r{footer}" for i in range(6)]
    texts += [f"something else entirely, row {i}" for i in range(94)]
    assert repeated_passages(texts).passages == [(footer, 6)]
    copies = [footer] * 6 + texts[6:]
    line = describe(repeated_passages(copies))
    assert line is not None
    assert line.startswith("Repeated texts: 6 of 100 sampled texts are copies of others")
    assert "deduplicate the input" in line
