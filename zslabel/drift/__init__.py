"""Drift between dataset versions: how a new output folder differs from the last one.

A pure library (no orchestration): :func:`compare` reads two output folders (manifest.json and
labeled.parquet, only the columns it needs, batch by batch) and measures the class mix
(population stability index, chi-square test), the confidence, margin and text-length
distributions (two-sample Kolmogorov-Smirnov), the abstain, invalid and duplicate rates, the
per-class embedding centroids when both versions recorded them, and the terms that grew most
among abstained rows. :func:`baseline` describes a first version; :func:`write_drift` writes
either as drift.json. Thresholds come from the job's ``drift`` section
(:class:`zslabel.config.DriftSpec`); docs/drift.md explains each figure and its sources.
"""

from zslabel.drift.centroids import centroids_from_cache, class_centroids
from zslabel.drift.compare import baseline, compare
from zslabel.drift.measures import PSI_EPSILON
from zslabel.drift.profile import DRIFT, TOKEN_PATTERN, read_profile
from zslabel.drift.report import FIRST_VERSION, DriftReport, Metric, write_drift

__all__ = [
    "DRIFT",
    "FIRST_VERSION",
    "PSI_EPSILON",
    "TOKEN_PATTERN",
    "DriftReport",
    "Metric",
    "baseline",
    "centroids_from_cache",
    "class_centroids",
    "compare",
    "read_profile",
    "write_drift",
]
