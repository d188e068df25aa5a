"""The memory-flat global steps decide exactly what the in-memory ones did."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel import idcheck
from zslabel.errors import InputError
from zslabel.idcheck import check_unique_ids
from zslabel.selection import (
    BELOW_MIN_MARGIN,
    HUMAN_REVIEW,
    OUTSIDE_CLASS_TOP_FRACTION,
    Selection,
    label_dtype,
)
from zslabel.splits import assign_splits, assign_splits_streamed

FRACTIONS = {"train": 0.7, "validation": 0.2, "test": 0.1}


def reference_check(ids: Sequence[object], column: str, origin: str) -> None:
    """The dict-based check the runner used before (every id held in memory)."""
    seen: dict[object, int] = {}
    for row, value in enumerate(ids):
        if value is None:
            raise InputError(
                f"{origin}: id column {column!r} is null at row {row} (counting from 0)"
            )
        if value in seen:
            raise InputError(
                f"{origin}: id column {column!r} has duplicate value {value!r} "
                f"(rows {seen[value]} and {row}, counting from 0); ids must be unique"
            )
        seen[value] = row


def batches(ids: Sequence[object], size: int) -> idcheck.IdBatches:
    def read() -> Iterable[tuple[int, pa.Array]]:
        for start in range(0, len(ids), size):
            yield start, pa.array(list(ids[start : start + size]), type=pa.string())

    return read


def outcome(check: object, *args: object) -> str | None:
    try:
        check(*args)  # type: ignore[operator]
    except InputError as exc:
        return str(exc)
    return None


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.one_of(st.none(), st.sampled_from("abcdefghij")), max_size=30),
    size=st.integers(1, 7),
)
def test_the_disk_check_raises_what_the_dict_check_raised(
    ids: list[str | None], size: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scratch = tmp_path_factory.mktemp("ids")
    expected = outcome(reference_check, ids, "id", "in.parquet")
    got = outcome(check_unique_ids, batches(ids, size), len(ids), "id", "in.parquet", scratch)
    assert got == expected
    assert list(scratch.iterdir()) == []  # the spilled buckets are removed


def test_duplicates_are_found_across_buckets_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idcheck, "BUCKET_ROWS", 16)  # 1,000 rows: 63 bucket files
    ids = [f"id-{i}" for i in range(1000)]
    ids[870] = "id-123"
    with pytest.raises(
        InputError, match=r"duplicate value 'id-123' \(rows 123 and 870, counting from 0\)"
    ):
        check_unique_ids(batches(ids, 64), len(ids), "id", "in.parquet", tmp_path)
    check_unique_ids(batches([f"id-{i}" for i in range(1000)], 64), 1000, "id", "x", tmp_path)


def test_a_hash_collision_is_not_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idcheck, "hash_values", lambda values: np.zeros(len(values), np.uint64))
    check_unique_ids(batches(list("abcdef"), 4), 6, "id", "in.parquet", tmp_path)
    with pytest.raises(InputError, match=r"'c' \(rows 2 and 5, counting from 0\)"):
        check_unique_ids(batches(list("abcdec"), 4), 6, "id", "in.parquet", tmp_path)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(-1, 3), min_size=1, max_size=80),
    accepted_bits=st.integers(0, 2**80),
    seed=st.integers(0, 5),
    size=st.integers(1, 9),
    keyed=st.booleans(),
)
def test_streamed_splits_equal_in_memory_splits(
    labels: list[int], accepted_bits: int, seed: int, size: int, keyed: bool
) -> None:
    label = np.asarray(labels, dtype=np.int64)
    accepted = np.array([(accepted_bits >> i) & 1 == 1 for i in range(len(label))]) & (label >= 0)
    keys: Sequence[object] = (
        [f"k{(i * 7919) % 1009}" for i in range(len(label))] if keyed else range(len(label))
    )
    expected = assign_splits(label, accepted, keys, FRACTIONS, seed)
    streamed = assign_splits_streamed(
        label,
        accepted,
        ((start, keys[start : start + size]) for start in range(0, len(label), size)),
        FRACTIONS,
        seed,
    )
    assert streamed.dtype == expected.dtype
    assert streamed.tobytes() == expected.tobytes()


def test_reasons_are_kept_as_codes_and_read_back_as_strings() -> None:
    names = [None, BELOW_MIN_MARGIN, HUMAN_REVIEW, None, OUTSIDE_CLASS_TOP_FRACTION]
    selection = Selection(np.zeros(len(names), np.int8), np.asarray(names, dtype=object), {})
    assert selection.reason_code.dtype == np.int8
    assert selection.reason.tolist() == names
    assert selection.reasons(slice(1, 3)) == names[1:3]
    assert replace(selection, status=selection.status.copy()).reason.tolist() == names


@pytest.mark.parametrize(("classes", "dtype"), [(1, np.int8), (128, np.int8), (129, np.int16)])
def test_labels_take_the_smallest_type_that_holds_every_class(
    classes: int, dtype: type[np.signedinteger[Any]]
) -> None:
    assert label_dtype(classes) == np.dtype(dtype)
    held = np.asarray([-1, classes - 1], dtype=label_dtype(classes))
    assert held.tolist() == [-1, classes - 1]


def test_the_export_recomputes_confidence_and_margin_from_the_scores(tmp_path: Path) -> None:
    """Neither is held in memory after selection: the export recomputes both per shard, and
    they must be the top score and its lead over the runner-up, over shards of any size; the
    manifest's per-class mean confidence is accumulated there too."""
    import pyarrow.parquet as pq

    from zslabel.config import JobConfig
    from zslabel.runner import LABELED, run_job

    texts = [f"text number {i} about {'sports' if i % 3 else 'money'}" for i in range(50)]
    texts[7] = ""  # an invalid row has neither
    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": texts}), data, row_group_size=10)
    names = ["sports", "money", "weather"]
    config = JobConfig.from_dict(
        {
            "input": {"path": str(data), "text_column": "text", "shard_rows": 20},
            "labels": names,
            "sources": [{"kind": "fake"}],
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    result = run_job(config)
    table = pq.read_table(result.output_dir / LABELED)
    scores = np.column_stack([table.column(f"zs_score_{name}").to_numpy() for name in names])
    top = -np.sort(-scores, axis=1)
    confidence = table.column("zs_confidence").to_numpy(zero_copy_only=False)
    margin = table.column("zs_margin").to_numpy(zero_copy_only=False)
    scored = ~np.isnan(scores).any(axis=1)
    assert not scored[7]
    assert np.isnan(margin[7])
    assert np.isnan(confidence[7])
    np.testing.assert_allclose(confidence[scored], top[scored, 0], atol=1e-6)
    np.testing.assert_allclose(margin[scored], (top[:, 0] - top[:, 1])[scored], atol=1e-6)
    label = table.column("zs_label").to_pylist()
    accepted = np.asarray(table.column("zs_status").to_pylist()) == "accepted"
    for name in names:
        mine = accepted & (np.asarray(label, dtype=object) == name)
        mean = result.manifest["counts"]["classes"][name]["mean_confidence_accepted"]
        if mine.any():
            assert mean == pytest.approx(float(confidence[mine].mean()), abs=1e-4)
        else:
            assert mean is None
