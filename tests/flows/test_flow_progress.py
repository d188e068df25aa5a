"""The flow's local runs show the library path's progress bar (a shard at a time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import zslabel.flows.label_dataset as label_flow
from zslabel.flows.label_dataset import label_dataset
from zslabel.pipeline import language
from zslabel.progress import Progress

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_scoring_advances_the_progress_bar(job_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[tuple[int, str, list[int]]] = []

    class Recorded(Progress):
        def __init__(self, total: int, description: str, **options: Any) -> None:
            super().__init__(total, description, **options)
            bars.append((total, description, []))

        def advance(self, rows: int) -> None:
            bars[-1][2].append(rows)
            super().advance(rows)

    monkeypatch.setattr(label_flow, "Progress", Recorded)
    label_dataset(job_path=str(job_file))
    [(total, description, steps)] = bars
    assert (total, description) == (90, "scoring")  # 90 rows, one source
    assert sorted(steps) == [15] * 6  # one step per shard


def test_the_summary_artifact_carries_the_language_warning(
    tiny_model: Path, tmp_path: Path
) -> None:
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq
    from prefect.client.orchestration import get_client

    from tests.test_language import SPANISH

    model = shutil.copytree(tiny_model, tmp_path / "tiny-en")
    (model / "README.md").write_text("---\nlanguage: [en]\n---\n")
    pq.write_table(pa.table({"text": SPANISH * 6}), tmp_path / "es.parquet")
    job = tmp_path / "job.yaml"
    job.write_text(
        "input: {path: es.parquet, text_column: text}\n"
        "labels: [sports, weather, finance]\n"
        f"sources: [{{kind: embedding, model: '{model}'}}]\n"
        "output: {dir: out}\n"
    )
    result = label_dataset(job_path=str(job))
    assert result["manifest"]["language"]["detected"] == {"es": 1.0}
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts()}
    summary = str(artifacts["zslabel-job-summary"].data)
    # Every row was checked: the rows' warning (labeled as before: most rows are Spanish).
    assert "30 rows (100% of those with a detected language) are in languages that" in summary
    assert "(Spanish 30): most rows are, so they are labeled as before" in summary
    assert language.MULTILINGUAL_MODEL in summary
