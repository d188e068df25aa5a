from __future__ import annotations

import numpy as np

from zslabel.combine import weighted_mean


def test_weighted_mean_skips_sources_that_abstained() -> None:
    a = np.array([[0.8, 0.2], [np.nan, np.nan], [np.nan, np.nan]])
    b = np.array([[0.2, 0.8], [0.3, 0.7], [np.nan, np.nan]])
    combined = weighted_mean([a, b], [3.0, 1.0])
    np.testing.assert_allclose(combined[0], [0.65, 0.35])
    np.testing.assert_allclose(combined[1], [0.3, 0.7])
    assert np.isnan(combined[2]).all()


def test_one_source_passes_through() -> None:
    a = np.array([[0.8, 0.2]])
    assert weighted_mean([a], [2.0]) is a
