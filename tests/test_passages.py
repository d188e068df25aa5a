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
from zslabel.passages import describe, describe_copies, repeated_passages

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
    assert "repeated_texts" not in manifest["input"]

    footed = [f"{t}\n-- \n{FOOTER}" if i % 20 == 0 else t for i, t in enumerate(texts)]
    out = label(capsys, write_parquet({"text": footed}, "footed.parquet"), tmp_path / "footed")
    # Every text was read: no "sampled".
    assert "  warning: Repeated passages: 10 of 200 texts share sentences" in out
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


def test_the_run_warns_of_copies_and_records_them(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(180) + ["refund pls"] * 20
    out = label(capsys, write_parquet({"text": texts}, "copies.parquet"), tmp_path / "copies")
    assert "  warning: Repeated texts: 20 of 200 texts are copies of another" in out
    folder = tmp_path / "copies-dry-run"
    found = json.loads((folder / "manifest.json").read_text())["input"]["repeated_texts"]
    assert (found["rows"], found["distinct"], found["sample_rows"]) == (20, 1, 200)
    assert found["texts"] == [{"text": "refund pls", "rows": 20}]
    assert "Repeated texts: 20 of 200" in (folder / "report.html").read_text()


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
    found = repeated_passages(copies)
    assert found.passages == []  # one text six times is no passage of six texts
    line = describe_copies(found)
    assert line is not None
    assert line.startswith("Repeated texts: 6 of 100 sampled texts are copies of another")
    assert "deduplicate the input" in line


def test_short_copies_are_counted_whatever_their_length() -> None:
    """A trial's customer messages: 540 of 858 were copies ('refund pls' x21), and the warning
    said 38, counting only sentences of 40 characters or more."""
    texts = ["refund pls"] * 21 + ["package  not delivered yet"] * 9 + ["package not delivered yet"]
    texts += [f"a message of its own, number {i}" for i in range(170)]
    found = repeated_passages(texts)
    assert (found.sampled, found.copies, found.extra_copies) == (201, 31, 29)
    assert found.copied == (("refund pls", 21), ("package not delivered yet", 10))
    line = describe_copies(found, sampled=False)
    assert line is not None
    assert line.startswith(
        "Repeated texts: 31 of 201 texts are copies of another (2 distinct texts repeated), "
        "such as 'refund pls' x21, 'package not delivered yet' x10."
    )
    # One pair in 3,080 (BANKING77's test set) is no warning; nor are 4 extra copies in 100.
    assert describe_copies(repeated_passages(["a b"] * 2 + [f"t {i}" for i in range(3078)])) is None
    assert describe_copies(repeated_passages(["a b"] * 5 + [f"t {i}" for i in range(95)])) is None


def test_a_text_column_of_few_values_names_the_longer_one(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """A trial left out --text-column: its `text` column was the channel (4 values), and the
    messages in `body` went unread; the run accepted 737 of 980 rows at 0.99."""
    body = make_texts(200)
    channel = ["email", "chat", "appstore", "playstore"] * 50
    source = write_parquet({"text": channel, "body": body}, "channel.parquet")
    out = label(capsys, source, tmp_path / "channel")
    assert "Repeated texts: 200 of 200 texts are copies of another (4 distinct texts" in out
    assert (
        "the text column 'text' holds 4 distinct values in 200 texts, like a category: is 'body' "
        "the text to label (input.text_column / --text-column body)?"
    ) in out


def test_the_hint_names_a_string_column_not_bytes(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """A reviewer's finding: with a column of photo bytes beside them, the hint named it."""
    channel = ["email", "chat", "appstore", "playstore"] * 50
    photo = [bytes(range(256)) * 12] * 200
    source = write_parquet({"text": channel, "photo": photo, "body": make_texts(200)}, "p.parquet")
    out = label(capsys, source, tmp_path / "photo")
    assert "is 'body' the text to label" in out
