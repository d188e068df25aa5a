"""The real packaged all-MiniLM-L6-v2 through the CLI, on the generated support tickets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.demo import write_demo

pytestmark = pytest.mark.slow


def test_label_and_eval_with_the_default_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_demo(tmp_path, rows=150)
    assert main(["label", str(job), "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert "model: embedding=sentence-transformers/all-MiniLM-L6-v2" in summary

    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    model = manifest["sources"][0]["model"]
    assert model["origin"] == "packaged"
    assert len(model["weights_sha256"]) == 64
    assert sum(manifest["counts"]["status"].values()) == 150

    assert main(["eval", str(out), "--gold-column", "topic", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The tickets are unambiguous: a working model gets nearly all of them, a broken one ~20 %.
    assert report["forced"]["accuracy"] >= 0.85
    assert report["accepted"]["accuracy"] >= 0.95

    labeled = pq.read_table(out / "labeled.parquet")
    assert (
        labeled.column("ticket_id").to_pylist()
        == pq.read_table(tmp_path / "tickets.parquet").column("ticket_id").to_pylist()
    )

    # A rerun with another threshold reuses the cached embeddings.
    assert main(["label", str(job), "--per-class-top-fraction", "0.9", "--json"]) == 0
    assert json.loads((out / "run.json").read_text())["shards"]["reused"] == 1
