from __future__ import annotations

import json

import numpy as np
import pytest

from zslabel.diagnostics import source_diagnostics

N = np.nan
NAN_ROW = [N, N, N]


def example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Five rows, three sources, three classes. Top labels (- = abstain):

    row   a  b  c   combined  gold
    0     0  0  -   0         0
    1     1  2  1   1         2
    2     -  1  -   1         1
    3     2  -  -   -1        2
    4     0  -  1*  0         -1      (* a tie between 1 and 2 goes to 1)
    """
    a = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], NAN_ROW, [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]
    b = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1], NAN_ROW, NAN_ROW]
    c = [NAN_ROW, [0.1, 0.8, 0.1], NAN_ROW, NAN_ROW, [0.1, 0.45, 0.45]]
    probs = np.stack([np.array(a), np.array(b), np.array(c)], axis=1)
    return probs, np.array([0, 1, 1, -1, 0]), np.array([0, 2, 1, 2, -1])


def test_every_figure_matches_the_hand_computed_example() -> None:
    probs, combined, gold = example()
    result = source_diagnostics(probs, ["a", "b", "c"], combined, gold)
    assert result == {
        # a scores rows 0,1,3,4; shares 0,1,4; disagrees on 1 (b) and 4 (c); agrees 3/3
        # (row 3 has no combined label); right on 0 and 3 of gold rows 0,1,3.
        "a": {
            "coverage": 0.8,
            "overlap": 0.6,
            "conflict": 0.4,
            "agreement": 1.0,
            "accuracy": 0.6667,
        },
        # b scores rows 0,1,2; shares 0,1; disagrees on 1; agrees on 0 and 2; right on all three.
        "b": {
            "coverage": 0.6,
            "overlap": 0.4,
            "conflict": 0.2,
            "agreement": 0.6667,
            "accuracy": 1.0,
        },
        # c scores rows 1,4; shares both; disagrees on both (b on 1, a on 4); agrees on 1 only;
        # its only known-gold row is 1, where it is wrong.
        "c": {
            "coverage": 0.4,
            "overlap": 0.4,
            "conflict": 0.4,
            "agreement": 0.5,
            "accuracy": 0.0,
        },
    }


def test_without_gold_accuracy_is_none_and_the_result_is_json_friendly() -> None:
    probs, combined, _ = example()
    result = source_diagnostics(probs, ["a", "b", "c"], combined)
    assert all(figures["accuracy"] is None for figures in result.values())
    assert result["a"]["coverage"] == 0.8
    assert all(
        type(v) is float or v is None for figures in result.values() for v in figures.values()
    )
    assert json.loads(json.dumps(result)) == result


def test_none_when_there_is_nothing_to_compare_with() -> None:
    probs, _, _ = example()
    no_labels = np.full(5, -1)
    result = source_diagnostics(probs, ["a", "b", "c"], no_labels, gold=no_labels)
    assert result["a"]["agreement"] is None
    assert result["a"]["accuracy"] is None
    assert result["a"]["coverage"] == 0.8


def test_a_lone_source_has_no_overlap_or_conflict() -> None:
    probs = np.array([[[0.9, 0.1]], [[N, N]]])
    result = source_diagnostics(probs, ["only"], np.array([0, -1]))
    assert result == {
        "only": {
            "coverage": 0.5,
            "overlap": 0.0,
            "conflict": 0.0,
            "agreement": 1.0,
            "accuracy": None,
        }
    }


def test_inputs_are_validated() -> None:
    probs, combined, _ = example()
    names = ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"\(n, sources, classes\)"):
        source_diagnostics(probs[:, 0], names, combined)
    with pytest.raises(ValueError, match="3 sources"):
        source_diagnostics(probs, ["a", "b"], combined)
    with pytest.raises(ValueError, match="unique"):
        source_diagnostics(probs, ["a", "a", "c"], combined)
    with pytest.raises(ValueError, match="combined_label must have shape"):
        source_diagnostics(probs, names, combined[:4])
    with pytest.raises(ValueError, match="integer"):
        source_diagnostics(probs, names, combined.astype(float))
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        source_diagnostics(probs, names, combined, gold=np.array([0, 1, 2, 3, -1]))
