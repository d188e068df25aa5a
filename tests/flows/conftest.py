"""One temporary Prefect server for the whole flow test session, with its home in a temp folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from zslabel.flows import environment

    environment.configure()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    """A fake-source job over a folder of three Parquet files (two shards each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import make_texts

    data = tmp_path / "data"
    data.mkdir()
    texts = make_texts(90)
    for i in range(3):
        chunk = texts[i * 30 : (i + 1) * 30]
        pq.write_table(pa.table({"text": chunk}), data / f"part-{i}.parquet", row_group_size=15)
    job = tmp_path / "job.yaml"
    job.write_text(
        "input: {path: data, text_column: text, shard_rows: 15}\n"
        "labels: [sports, weather, finance]\n"
        "sources: [{kind: fake}]\n"
        "selection: {per_class_top_fraction: 0.5}\n"
        "output: {dir: out}\n"
    )
    return job
