"""Reviews imported after an incremental job published the versions they name: the next run
labels those versions' files again, into a new version that applies them (a new user's trial:
11 reviews of v0002 imported, the next run said "No new input files" and applied none)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from zslabel.config import JobConfig
from zslabel.hf_datasets import hf_data_files
from zslabel.incremental import run_incremental
from zslabel.review.store import store_reviews

from .conftest import LABELS
from .test_reused_ids import accept_all_job, write_week


def test_reviews_of_published_versions_are_applied_by_the_next_run(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    job = accept_all_job(fake_job, data)
    root = Path(job.output.dir)
    write_week(data, "w1.parquet", [f"A-{i:02d}" for i in range(16)], seed=0)
    assert run_incremental(job) is not None
    write_week(data, "w2.parquet", [f"B-{i:02d}" for i in range(16)], seed=1)
    assert run_incremental(job) is not None
    first = pq.read_table(root / "v0001" / "labeled.parquet").to_pylist()
    row = first[5]
    wrong = next(label for label in LABELS if label != row["zs_label"])
    store = root / ".zslabel" / "reviews.parquet"
    review = {"key": row["ticket"], "text": row["text"], "label": wrong, "file": "export.json"}
    store_reviews(store, {row["ticket"]: review})

    outcome = run_incremental(job)
    assert outcome is not None
    increment, result = outcome
    assert increment.version == "v0003"
    assert [Path(f).name for f in increment.files] == ["w1.parquet"]
    assert increment.describe() == (
        "Version v0003: 1 new file(s) (1 labeled again to apply reviews imported since their "
        "version)"
    )
    again = {r["ticket"]: r for r in pq.read_table(root / "v0003" / "labeled.parquet").to_pylist()}
    assert (again[row["ticket"]]["zs_label"], again[row["ticket"]]["zs_reason"]) == (
        wrong,
        "human_review",
    )
    # Every other row of the file keeps its split; its ids are not re-sent records.
    assert {k: r["zs_split"] for k, r in again.items()} == {
        r["ticket"]: r["zs_split"] for r in first
    }
    assert "warning" not in (result.manifest.get("reused_ids") or {})
    # The version with the reviews replaces v0001 when the versions are read together.
    files = [f for split in hf_data_files(root).values() for f in split]
    assert {Path(f).parent.name for f in files} == {"v0002", "v0003"}

    assert run_incremental(job) is None  # applied: nothing pending, the store unchanged
    store_reviews(store, {row["ticket"]: {**review, "label": row["zs_label"]}})
    outcome = run_incremental(job)  # a changed answer is applied too
    assert outcome is not None
    assert outcome[0].version == "v0004"
    assert run_incremental(job) is None
