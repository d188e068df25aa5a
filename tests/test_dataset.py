from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import InputSpec
from zslabel.dataset import InputDataset
from zslabel.errors import InputError


def test_shards_follow_row_groups_in_file_order(write_parquet: Callable[..., Path]) -> None:
    path = write_parquet({"text": [f"t{i}" for i in range(100)]}, row_group_size=10)
    data = InputDataset(InputSpec(path=str(path), shard_rows=25))
    assert [s.num_rows for s in data.shards] == [30, 30, 30, 10]
    assert [s.start_row for s in data.shards] == [0, 30, 60, 90]
    texts = [t for s in data.shards for t in data.read_texts(s).texts]
    assert texts == [f"t{i}" for i in range(100)]


def test_a_folder_of_files_is_read_in_path_order(write_parquet: Callable[..., Path]) -> None:
    write_parquet({"text": ["b1", "b2"]}, name="data/b.parquet")
    folder = write_parquet({"text": ["a1"]}, name="data/a.parquet").parent
    data = InputDataset(InputSpec(path=str(folder)))
    assert [t for s in data.shards for t in data.read_texts(s).texts] == ["a1", "b1", "b2"]


def test_hive_partitions_become_columns(tmp_path: Path) -> None:
    table = pa.table({"text": ["x", "y", "z"], "lang": ["en", "en", "fr"]})
    pq.write_to_dataset(table, tmp_path / "ds", partition_cols=["lang"])
    data = InputDataset(InputSpec(path=str(tmp_path / "ds")))
    assert "lang" in data.column_names
    assert data.num_rows == 3
    rows = [r for s in data.shards for b in data.iter_batches(s) for r in b.to_pylist()]
    assert sorted((r["text"], str(r["lang"])) for r in rows) == [
        ("x", "en"),
        ("y", "en"),
        ("z", "fr"),
    ]


def test_invalid_texts_are_kept_with_a_reason(write_parquet: Callable[..., Path]) -> None:
    path = write_parquet(
        {"text": pa.array([b"ok", None, b"  ", b"\xff\xfe"], pa.binary())}, name="bin.parquet"
    )
    data = InputDataset(InputSpec(path=str(path)))
    shard_texts = data.read_texts(data.shards[0])
    assert shard_texts.texts == ["ok"]
    assert shard_texts.invalid == {1: "null_text", 2: "empty_text", 3: "invalid_utf8"}


def test_fingerprint_follows_text_content(write_parquet: Callable[..., Path]) -> None:
    def fingerprint(texts: list[str], name: str) -> str:
        data = InputDataset(InputSpec(path=str(write_parquet({"text": texts}, name=name))))
        return data.read_texts(data.shards[0]).fingerprint

    assert fingerprint(["ab", "c"], "1.parquet") == fingerprint(["ab", "c"], "2.parquet")
    assert fingerprint(["ab", "c"], "1.parquet") != fingerprint(["a", "bc"], "3.parquet")


@pytest.mark.parametrize(
    ("columns", "spec", "message"),
    [
        ({"body": ["x"]}, {}, r"text column 'text' not found; columns are body"),
        ({"text": [1, 2]}, {}, r"text column 'text' has type int64, expected a string"),
        ({"text": ["x"]}, {"id_column": "id"}, r"id column 'id' not found"),
        ({"text": pa.array([], pa.string())}, {}, "the dataset has no rows"),
    ],
)
def test_bad_inputs_say_what_is_wrong(
    write_parquet: Callable[..., Path],
    columns: dict[str, object],
    spec: dict[str, str],
    message: str,
) -> None:
    path = write_parquet(columns)
    with pytest.raises(InputError, match=message):
        InputDataset(InputSpec(path=str(path), **spec))


def test_missing_and_non_parquet_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input not found"):
        InputDataset(InputSpec(path=str(tmp_path / "missing.parquet")))
    bogus = tmp_path / "notes.parquet"
    bogus.write_text("not parquet at all")
    with pytest.raises(InputError, match=r"notes\.parquet: not a readable Parquet"):
        InputDataset(InputSpec(path=str(bogus)))


def test_a_filesystem_uri_is_opened_through_pyarrow(write_parquet: Callable[..., Path]) -> None:
    path = write_parquet({"text": ["x", "y"]}, name="uri/data.parquet")
    data = InputDataset(InputSpec(path=path.parent.as_uri()))
    assert data.num_rows == 2
    assert [t for s in data.shards for t in data.read_texts(s).texts] == ["x", "y"]


def test_the_sample_is_spread_over_the_shards(
    write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """The language and passage checks read a sample; a partitioned input is often sorted by
    what they look for (``lang=en`` before ``lang=es``), so the last shards are in it."""
    for i in range(12):
        write_parquet({"text": [f"file {i} row {j}" for j in range(100)]}, name=f"d/{i:02}.parquet")
    dataset = InputDataset(InputSpec(path=str(tmp_path / "d"), text_column="text"))
    sample = dataset.sample_texts(240)
    assert len(sample) == 240
    files = sorted({int(text.split()[1]) for text in sample})
    assert files == [0, 2, 3, 5, 6, 8, 9, 11]  # 8 shards evenly spaced, the first and last
    assert sum(text.startswith("file 11 ") for text in sample) == 30
    assert dataset.sample_texts(240) == sample  # deterministic
    # Shards with fewer texts than their share: topped up from the others, in order.
    assert len(dataset.sample_texts(1100)) == 1100
    assert len(dataset.sample_texts(5000)) == 1200


def test_an_id_column_of_two_types_is_refused_with_the_fix(
    write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """Spark writes an id as int64 in one partition and as a string in another; the error
    names the file and says how to write the column as one type."""
    write_parquet({"text": ["a", "b"], "msg_id": [1, 2]}, name="d/dt=1/part-0.parquet")
    write_parquet({"text": ["c"], "msg_id": ["x3"]}, name="d/dt=2/part-0.parquet")
    with pytest.raises(InputError) as caught:
        InputDataset(InputSpec(path=str(tmp_path / "d"), text_column="text"))
    message = str(caught.value)
    assert "dt=2/part-0.parquet: column 'msg_id' has type string, but int64" in message
    assert "col('msg_id').cast('string')" in message


def test_the_sample_is_topped_up_from_shards_already_read(
    write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """Two files of 10 and 10,000 rows: shares of 1,000 each gave 1,010 texts, and the
    passage warning then read as if every text had been read."""
    write_parquet({"text": [f"small {j}" for j in range(10)]}, name="d/a.parquet")
    write_parquet({"text": [f"large {j}" for j in range(10_000)]}, name="d/b.parquet")
    dataset = InputDataset(InputSpec(path=str(tmp_path / "d"), text_column="text"))
    sample = dataset.sample_texts(2000)
    assert len(sample) == 2000
    assert sum(text.startswith("small") for text in sample) == 10
    assert len(set(sample)) == 2000
