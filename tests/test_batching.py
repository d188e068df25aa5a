"""Length-sorted batches within a row and a padded-token budget."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zslabel.batching import batch_limits, length_batches


@given(
    st.lists(st.integers(1, 600), max_size=300),
    st.integers(1, 64),
    st.integers(1, 4096),
)
def test_every_row_once_in_ascending_length_within_both_limits(
    lengths: list[int], max_rows: int, max_tokens: int
) -> None:
    batches = list(length_batches(lengths, max_rows, max_tokens))
    order = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    sizes = np.asarray(lengths)[order]
    assert np.all(np.diff(sizes) >= 0)  # each batch pads only to its own longest row
    for batch in batches:
        assert 1 <= len(batch) <= max_rows
        longest = max(lengths[i] for i in batch)
        # Over budget only as a single row that alone exceeds it.
        assert len(batch) * longest <= max_tokens or len(batch) == 1


@given(st.lists(st.integers(1, 600), min_size=1, max_size=200))
def test_batches_are_as_full_as_the_limits_allow(lengths: list[int]) -> None:
    """A batch is cut only where the next row would break a limit: no needless small batches."""
    batches = list(length_batches(lengths, 16, 1024))
    for batch, following in itertools.pairwise(batches):
        rows = len(batch) + 1
        assert rows > 16 or rows * lengths[following[0]] > 1024


def test_short_texts_share_a_batch_and_long_ones_get_fewer_rows() -> None:
    lengths = [8] * 100 + [256] * 20
    batches = list(length_batches(lengths, 128, 2048))
    assert [len(b) for b in batches] == [100, 8, 8, 4]


def test_limits_by_device_and_as_asked() -> None:
    assert batch_limits("cpu") == (128, 2048)
    assert batch_limits("cuda") == (256, 65536)
    assert batch_limits("cpu", 16, None) == (16, 2048)
    assert batch_limits("cuda", None, 1000) == (256, 1000)
