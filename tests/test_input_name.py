"""How summaries name a run's input: the path, and the files of a run over some of them."""

from __future__ import annotations

from zslabel.input_name import input_named


def test_a_whole_input_is_its_path() -> None:
    assert input_named({"path": "/data/inbox"}) == "/data/inbox"


def test_a_run_over_some_files_names_them_relative_to_the_input() -> None:
    record = {"path": "/data/inbox/", "files": ["/data/inbox/w5.parquet", "/elsewhere/x.parquet"]}
    assert input_named(record) == "/data/inbox/ (w5.parquet, /elsewhere/x.parquet)"
    files = [f"/data/inbox/year=2026/w{i}.parquet" for i in range(5)]
    assert input_named({"path": "/data/inbox", "files": files}) == (
        "/data/inbox (year=2026/w0.parquet, year=2026/w1.parquet, year=2026/w2.parquet and 2 more)"
    )
