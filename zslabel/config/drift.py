"""The ``drift`` section: how far a new version may move from the last before a scheduled run
warns or fails (``zslabel.drift`` measures it; ``zslabel diff`` applies the same thresholds).

Every threshold is an effect size (a share, a distance), never a p-value alone: with thousands
of rows a test calls the smallest, harmless shift significant, so p-values are reported beside
the figures but do not decide. A threshold of null turns its check off (the figure is still
reported).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from zslabel.config.base import Fraction, StrictModel

Limit = Annotated[float, Field(ge=0.0)] | None


class DriftSpec(StrictModel):
    """Thresholds between one version and the one before it. Sources and reasoning for each
    default are in docs/drift.md ("Thresholds")."""

    # Population stability index of the predicted class mix. Rule of thumb from credit scoring
    # (Siddiqi 2006, Credit Risk Scorecards; Yurdakul 2018, Statistical Properties of the
    # Population Stability Index): < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a major one.
    # 0.2 flags a shift well into the moderate band before it is major.
    psi: Limit = 0.2
    # Absolute change in the share of abstained rows (0.1: ten percentage points).
    abstain_rate_change: Limit = 0.1
    # Absolute change in the share of invalid rows (null, empty or undecodable texts). Tighter
    # than abstaining: a healthy export has almost none, and a jump means an upstream fault.
    invalid_rate_change: Limit = 0.05
    # Absolute change in the share of rows whose text repeats an earlier row's.
    duplicate_rate_change: Limit = 0.1
    # Two-sample Kolmogorov-Smirnov statistic D (the largest gap between the two empirical
    # distribution functions, 0-1) of the accepted and abstained rows' confidence, margin and
    # text length in characters. 0.1: at some value, the share of rows below it moved by ten
    # points or more.
    confidence_ks: Limit = 0.1
    margin_ks: Limit = 0.1
    length_ks: Limit = 0.1
    # ... and only when the test also rejects "same distribution" at this level: with 300 rows
    # a side, sampling alone gives D above 0.11 one time in twenty (the asymptotic critical
    # value 1.36 * sqrt(2 / 300); Smirnov 1948), so small batches would fire on noise. From a
    # few thousand rows on, any D over 0.1 is far below this level and D alone decides.
    ks_p_value: Fraction = 0.01
    # Cosine distance (1 - cosine similarity) between a class's embedding centroids in the two
    # versions, where both versions recorded them (embedding sources only).
    centroid_distance: Limit = 0.1
    # ... over the classes with at least this many rows in both versions. Centroids of few rows
    # move by chance: two consecutive halves of the AG News test set gave distances up to 0.29
    # at about 100 rows a class and up to 0.036 at about 950 (docs/drift.md, "Figures").
    centroid_min_rows: Annotated[int, Field(ge=1)] = 500
    # Chi-square test of the class counts: its p-value is reported; a threshold here (say
    # 0.001) also flags p-values below it. Off by default, for the reason above.
    chi2_p_value: Fraction | None = None
    # What a scheduled run does when a threshold is crossed; the version is written either way.
    on_drift: Literal["warn", "fail"] = "warn"
