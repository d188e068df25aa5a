"""An incremental version whose ids earlier versions labeled too is warned about, never failed:
a re-sent record is legitimate, but the versions together hold it twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.errors import InputError
from zslabel.incremental import run_incremental
from zslabel.summary import format_run

from .conftest import make_texts


def write_week(folder: Path, name: str, ids: list[str], seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"ticket": ids, "text": make_texts(len(ids), seed=seed)})
    pq.write_table(table, folder / name)


def weekly_job(fake_job: Callable[..., JobConfig], data: Path, **extra: Any) -> JobConfig:
    return fake_job(data, incremental=True, input={"id_column": "ticket"}, **extra)


def accept_all_job(fake_job: Callable[..., JobConfig], data: Path, **selection: Any) -> JobConfig:
    """A weekly job that accepts every row into 50/25/25 splits: splits to compare, in every
    split, for a few dozen rows."""
    every = {"per_class_top_fraction": 1.0, "min_above_chance": None, **selection}
    splits = {"train": 0.5, "validation": 0.25, "test": 0.25}
    return weekly_job(fake_job, data, selection=every, output={"splits": splits})


def check_reused(run: Callable[[], dict[str, Any]], data: Path) -> None:
    """Three weeks through ``run`` (one version each, returning its manifest): the second
    re-sends two ids of the first, the third one of each earlier week."""
    write_week(data, "w1.parquet", [f"TCK-{i:03d}" for i in range(20)], seed=0)
    assert "reused_ids" not in run()

    write_week(data, "w2.parquet", [f"NEW-{i:03d}" for i in range(10)] + ["TCK-003", "TCK-007"], 1)
    record = run()["reused_ids"]
    assert record["rows"] == 2
    assert record["versions"] == {"v0001": 2}
    assert record["examples"] == ["TCK-003", "TCK-007"]
    assert record["warning"].startswith(
        "2 row(s) have ids that earlier versions labeled too (v0001: 2; e.g. 'TCK-003', 'TCK-007')"
    )
    assert "dedupe by 'ticket'" in record["warning"]

    write_week(data, "w3.parquet", ["TCK-010", "NEW-004", "X-1"], seed=2)
    record = run()["reused_ids"]
    assert (record["rows"], record["versions"]) == (2, {"v0001": 1, "v0002": 1})


def test_reused_ids_are_warned_about_per_version(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    job = weekly_job(fake_job, data)
    summaries: list[str] = []

    def run() -> dict[str, Any]:
        outcome = run_incremental(job)
        assert outcome is not None
        summaries.append(format_run(outcome[1]))
        return outcome[1].manifest

    check_reused(run, data)
    warning = "  warning: 2 row(s) have ids that earlier versions labeled too (v0001: 2;"
    assert [warning in s for s in summaries] == [False, True, False]
    version = Path(job.output.dir) / "v0002"
    report = (version / "report.html").read_text(encoding="utf-8")
    assert "have ids that earlier versions labeled too" in report
    # A version names the file it labeled, not only the input folder.
    assert f"\nLabeled 12 rows of {data} (w2.parquet) in " in summaries[1]
    assert f"{data} (w2.parquet)" in report
    assert f"{data} (w2.parquet)" in (version / "README.md").read_text(encoding="utf-8")


def test_only_versions_of_the_same_settings_are_compared(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    write_week(data, "w1.parquet", [f"TCK-{i:03d}" for i in range(20)], seed=0)
    assert run_incremental(weekly_job(fake_job, data)) is not None
    # Other settings label every file again, into a version of their own: the first version's
    # ids are the same rows, relabeled, not re-sent ones.
    changed = weekly_job(fake_job, data, selection={"per_class_top_fraction": 0.6})
    outcome = run_incremental(changed)
    assert outcome is not None
    assert outcome[0].relabeled
    # No warning; the accepted rows keep the splits they had (below).
    assert set(outcome[1].manifest["reused_ids"]) == {"pinned"}


def test_without_an_id_column_nothing_is_compared(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    job = fake_job(data, incremental=True)
    write_week(data, "w1.parquet", ["A", "B", "C"], seed=0)
    assert run_incremental(job) is not None
    write_week(data, "w2.parquet", ["A", "B", "C"], seed=1)
    outcome = run_incremental(job)
    assert outcome is not None
    assert "reused_ids" not in outcome[1].manifest


def test_a_file_rewritten_in_place_says_so_and_int_ids_match(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    job = weekly_job(fake_job, data)

    def write(ids: list[int]) -> None:
        pq.write_table(pa.table({"ticket": ids, "text": make_texts(len(ids))}), data / "w.parquet")

    write(list(range(20)))
    assert run_incremental(job) is not None
    write(list(range(25)))  # five rows appended: the file is new again, its 20 old rows too
    outcome = run_incremental(job)
    assert outcome is not None
    record = outcome[1].manifest["reused_ids"]
    assert (record["rows"], record["examples"]) == (20, ["0", "1", "2"])
    assert record["rewritten"] == [str(data / "w.parquet")]
    assert (
        "1 of this version's files changed since an earlier version labeled them"
        in (record["warning"])
    )
    assert "fails on them as duplicates" not in record["warning"]


def test_an_unreadable_earlier_version_is_said(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    job = weekly_job(fake_job, data)
    for week in range(2):
        write_week(data, f"w{week}.parquet", [f"{week}-A", f"{week}-B"], seed=week)
        assert run_incremental(job) is not None
    # The oldest version damaged (the latest is what drift and refinement read).
    (Path(job.output.dir) / "v0001" / "labeled.parquet").write_bytes(b"not parquet")
    write_week(data, "w2.parquet", ["C", "D"], seed=2)
    outcome = run_incremental(job)
    assert outcome is not None
    record = outcome[1].manifest["reused_ids"]
    assert (record["rows"], list(record["unread"])) == (0, ["v0001"])
    assert record["warning"] == "ids not compared with v0001 (unreadable: see the manifest)"


def test_a_reused_id_keeps_the_split_of_its_earlier_copy(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """Stratified per version, a re-sent row would land in another split than its first copy,
    and versions read together would hold one id in train and in test (a trial: 3 ids)."""
    data = tmp_path / "data"
    job = accept_all_job(fake_job, data)
    first = [f"TCK-{i:03d}" for i in range(80)]
    write_week(data, "w1.parquet", first, seed=0)
    run_incremental(job)
    write_week(data, "w2.parquet", first[::2] + [f"NEW-{i:03d}" for i in range(40)], seed=1)
    outcome = run_incremental(job)
    assert outcome is not None
    assert outcome[1].manifest["reused_ids"]["pinned"] == 40
    out = Path(job.output.dir)
    columns = ["ticket", "zs_split"]
    before = pq.read_table(out / "v0001" / "labeled.parquet", columns=columns).to_pandas()
    after = pq.read_table(out / "v0002" / "labeled.parquet", columns=columns).to_pandas()
    both = before.merge(after, on="ticket", suffixes=("_before", "_after"))
    assert len(both) == 40
    assert both["zs_split_after"].notna().all()
    assert (both["zs_split_before"] == both["zs_split_after"]).all()
    # The new rows are stratified among themselves: every split still gets some.
    new = after[after["ticket"].str.startswith("NEW")]
    assert set(new["zs_split"]) == {"train", "validation", "test"}


def test_a_copy_of_a_reused_row_goes_where_it_is_pinned(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """Copies of one text share a split; a pinned row takes its copies with it."""
    data = tmp_path / "data"
    job = accept_all_job(fake_job, data)
    first = [f"TCK-{i:03d}" for i in range(40)]
    write_week(data, "w1.parquet", first, seed=0)
    run_incremental(job)
    texts = make_texts(40, seed=0)
    copies = [f"COPY-{i:03d}" for i in range(0, 40, 4)]
    week = pa.table(
        {
            "ticket": first[::4] + copies + [f"NEW-{i:03d}" for i in range(20)],
            "text": texts[::4] + texts[::4] + make_texts(20, seed=3),
        }
    )
    pq.write_table(week, data / "w2.parquet")
    run_incremental(job)
    out = Path(job.output.dir)
    before = pq.read_table(out / "v0001" / "labeled.parquet").to_pandas().set_index("ticket")
    after = pq.read_table(out / "v0002" / "labeled.parquet").to_pandas().set_index("ticket")
    for original, copy in zip(first[::4], copies, strict=True):
        assert after.loc[copy, "zs_split"] == before.loc[original, "zs_split"]
        assert after.loc[original, "zs_split"] == before.loc[original, "zs_split"]


def test_a_relabel_names_the_files_of_a_resent_id(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A settings change labels every file again, so a re-sent id fails the run then: a trial
    got "rows 436 and 913" of the whole folder, with no file named and no way forward."""
    data = tmp_path / "data"
    write_week(data, "w1.parquet", [f"TCK-{i:03d}" for i in range(20)], seed=0)
    run_incremental(weekly_job(fake_job, data))
    write_week(data, "w2.parquet", ["NEW-000", "TCK-003"], seed=1)
    run_incremental(weekly_job(fake_job, data))
    changed = weekly_job(fake_job, data, selection={"per_class_top_fraction": 0.6})
    expected = (
        "id column 'ticket' has duplicate value 'TCK-003' (rows 3 and 21, counting from 0: "
        "row 3 of w1.parquet and row 1 of w2.parquet); ids must be unique across the files "
        "read together (a run over the whole folder, or an incremental job after a settings "
        "change, reads every file: remove the older copy of a record sent twice)"
    )
    with pytest.raises(InputError) as raised:
        run_incremental(changed)
    assert str(raised.value).endswith(expected)


def test_an_id_keeps_its_split_when_new_settings_relabel_it(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A trial: after a settings change 125 of 1,164 ids landed in another split, and 47 of the
    new test and validation rows had been in train. The split settings being the same, ids
    keep their splits; with other fractions they are split anew."""
    data = tmp_path / "data"
    splits = {"train": 0.5, "validation": 0.25, "test": 0.25}

    def job(margin: float, **output: Any) -> JobConfig:
        selection = {"per_class_top_fraction": 1.0, "min_above_chance": None, "min_margin": margin}
        return weekly_job(fake_job, data, selection=selection, output={"splits": splits, **output})

    write_week(data, "w1.parquet", [f"TCK-{i:03d}" for i in range(60)], seed=0)
    run_incremental(job(0.0))
    write_week(data, "w2.parquet", [f"NEW-{i:03d}" for i in range(60)], seed=1)
    run_incremental(job(0.0))
    outcome = run_incremental(job(0.001))  # other settings: v0003 labels both files again
    assert outcome is not None
    record = outcome[1].manifest["reused_ids"]
    out = Path(job(0.0).output.dir)

    def split_of(version: str) -> Any:
        table = pq.read_table(out / version / "labeled.parquet", columns=["ticket", "zs_split"])
        return table.to_pandas().set_index("ticket")["zs_split"]

    before = pd.concat([split_of("v0001"), split_of("v0002")])
    after = split_of("v0003")
    both = before.notna() & after.reindex(before.index).notna()
    assert record == {"pinned": int(both.sum())}
    assert int(both.sum()) > 100
    assert (before[both] == after.reindex(before.index)[both]).all()
    # Other fractions (and other settings): the relabel splits anew, by the new fractions.
    splits = {"train": 0.8, "validation": 0.1, "test": 0.1}
    outcome = run_incremental(job(0.002))
    assert outcome is not None
    assert "reused_ids" not in outcome[1].manifest
