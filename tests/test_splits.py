from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel.splits import NOT_IN_SPLIT, assign_splits, split_counts

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def test_split_counts_add_up_and_round_towards_train() -> None:
    assert split_counts(10, np.array([0.8, 0.1, 0.1])).tolist() == [8, 1, 1]
    assert split_counts(3, np.array([0.8, 0.1, 0.1])).tolist() == [3, 0, 0]
    assert split_counts(7, np.array([0.5, 0.5, 0.0])).tolist() == [4, 3, 0]


def test_splits_are_stratified_by_label() -> None:
    label = np.repeat([0, 1], [100, 20])
    split = assign_splits(label, np.ones(120, bool), range(120), FRACTIONS, seed=0)
    for k, expected in ((0, [80, 10, 10]), (1, [16, 2, 2])):
        assert np.bincount(split[label == k], minlength=3).tolist() == expected


def test_assignment_depends_on_row_keys_and_seed_not_on_position() -> None:
    label = np.zeros(50, dtype=np.int64)
    keys = [f"id{i}" for i in range(50)]
    split = assign_splits(label, np.ones(50, bool), keys, FRACTIONS, seed=1)
    reversed_split = assign_splits(label, np.ones(50, bool), keys[::-1], FRACTIONS, seed=1)
    assert split.tolist() == reversed_split[::-1].tolist()
    assert split.tolist() != assign_splits(label, np.ones(50, bool), keys, FRACTIONS, 2).tolist()


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=200),
    accepted=st.lists(st.booleans(), min_size=200, max_size=200),
    seed=st.integers(0, 10),
)
def test_only_accepted_rows_land_in_exactly_one_split(
    labels: list[int], accepted: list[bool], seed: int
) -> None:
    label = np.asarray(labels)
    mask = np.asarray(accepted[: len(labels)])
    split = assign_splits(label, mask, range(len(labels)), FRACTIONS, seed)
    assert np.all((split == NOT_IN_SPLIT) == ~mask)
    assert np.all(split[mask] >= 0)
    assert np.all(split[mask] < 3)
