"""Compare two output folders metric by metric, against a job's drift thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zslabel.config import DriftSpec
from zslabel.drift import measures
from zslabel.drift.profile import Profile, read_profile
from zslabel.drift.report import DriftReport, Metric

# The class shifts a psi reason names: the largest moves, at most this many.
REASON_CLASSES = 2


def compare(
    baseline_dir: str | Path,
    current_dir: str | Path,
    spec: DriftSpec | None = None,
    *,
    centroids: Mapping[str, np.ndarray] | None = None,
) -> DriftReport:
    """Drift of the output folder ``current_dir`` from ``baseline_dir``.

    Both folders need manifest.json and labeled.parquet. ``centroids`` are the current
    version's class centroids ({class: (d,) vector}, :func:`zslabel.drift.class_centroids`) when
    the caller has them; else each folder's are read from its drift.json, and the centroid
    metric is "not available" unless both have them. Raises InputError naming the folder and
    the missing file or column.
    """
    spec = spec or DriftSpec()
    base = read_profile(baseline_dir)
    current = read_profile(current_dir)
    if centroids is not None:
        current.centroids = {k: np.asarray(v, np.float64) for k, v in centroids.items()}
    metrics = (
        _psi(base, current, spec),
        _chi_square(base, current, spec),
        _rate("abstain_rate", "abstained rows", base, current, spec.abstain_rate_change),
        _invalid(base, current, spec),
        _duplicates(base, current, spec),
        _ks("confidence_ks", "confidence", base.confidence, current.confidence, spec, ""),
        _ks("margin_ks", "margin", base.margin, current.margin, spec, ""),
        _lengths(base, current, spec),
        _centroids(base, current, spec),
    )
    terms: list[dict[str, float | int | str]] = []
    if base.terms is not None and current.terms is not None:
        terms = measures.new_terms(
            base.terms, base.abstained_texts, current.terms, current.abstained_texts
        )
    return DriftReport(
        current=str(current.folder),
        baseline=str(base.folder),
        spec=spec,
        metrics=metrics,
        new_terms=tuple(terms),
        profile=current.summary(),
        baseline_profile=base.summary(),
    )


def baseline(
    current_dir: str | Path,
    spec: DriftSpec | None = None,
    *,
    centroids: Mapping[str, np.ndarray] | None = None,
) -> DriftReport:
    """The report of a first version: its own distributions and "first version: nothing to
    compare". Raises InputError as :func:`compare`."""
    current = read_profile(current_dir)
    if centroids is not None:
        current.centroids = {k: np.asarray(v, np.float64) for k, v in centroids.items()}
    return DriftReport(
        current=str(current.folder),
        baseline=None,
        spec=spec or DriftSpec(),
        metrics=(),
        new_terms=(),
        profile=current.summary(),
    )


def _psi(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    names = sorted(set(base.label_names) | set(current.label_names) | set(current.classes))
    if not sum(base.classes.values()) or not sum(current.classes.values()):
        return Metric("psi", None, spec.psi, False, "no labeled rows in one of the versions")
    before, after = measures.shares(base.classes, names), measures.shares(current.classes, names)
    value = measures.psi(before, after)
    crossed = spec.psi is not None and value > spec.psi
    moved = np.argsort(-np.abs(after - before), kind="stable")[:REASON_CLASSES]
    shifts = ", ".join(f"{names[k]} {before[k]:.1%} -> {after[k]:.1%}" for k in moved)
    reason = f"class mix changed: {shifts}" if crossed else f"largest moves: {shifts}"
    detail = {"epsilon": measures.PSI_EPSILON}
    return Metric("psi", value, spec.psi, crossed, reason, detail)


def _chi_square(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    names = sorted(set(base.classes) | set(current.classes))
    result = measures.chi_square(
        [base.classes[n] for n in names], [current.classes[n] for n in names]
    )
    if result is None:
        return Metric("chi2_p_value", None, spec.chi2_p_value, False, "fewer than two classes")
    statistic, p_value, dof = result
    crossed = spec.chi2_p_value is not None and p_value < spec.chi2_p_value
    reason = f"class counts differ (chi2 {statistic:.1f}, {dof} df)"
    if not crossed:
        reason = f"chi2 {statistic:.1f}, {dof} df"
    detail = {"statistic": round(statistic, 6), "dof": dof}
    return Metric("chi2_p_value", p_value, spec.chi2_p_value, crossed, reason, detail)


def _change(name: str, what: str, before: float, after: float, limit: float | None) -> Metric:
    value = after - before
    crossed = limit is not None and abs(value) > limit
    reason = f"{what} {before:.1%} -> {after:.1%}"
    detail = {"baseline": round(before, 6), "current": round(after, 6)}
    return Metric(name, value, limit, crossed, reason, detail)


def _rate(name: str, what: str, base: Profile, current: Profile, limit: float | None) -> Metric:
    status = name.removesuffix("_rate").replace("abstain", "abstained")
    return _change(name, what, base.rate(status), current.rate(status), limit)


def _invalid(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    metric = _rate("invalid_rate", "invalid rows", base, current, spec.invalid_rate_change)
    reasons = sorted(set(base.reasons) | set(current.reasons))
    moved = sorted(reasons, key=lambda r: (-abs(current.reasons[r] - base.reasons[r]), r))
    if moved and current.reasons[moved[0]] != base.reasons[moved[0]]:
        top = moved[0]
        reason = f"{metric.reason} ({top}: {base.reasons[top]} -> {current.reasons[top]} rows)"
        return Metric(
            metric.name, metric.value, metric.threshold, metric.crossed, reason, metric.detail
        )
    return metric


def _duplicates(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    limit = spec.duplicate_rate_change
    if base.lengths is None or current.lengths is None:
        return Metric("duplicate_rate", None, limit, False, "no text column in one of the versions")
    return _change(
        "duplicate_rate", "duplicate texts", base.duplicate_rate, current.duplicate_rate, limit
    )


def _ks(
    name: str, what: str, before: np.ndarray, after: np.ndarray, spec: DriftSpec, unit: str
) -> Metric:
    limit = getattr(spec, name)
    result = measures.ks(before, after)
    if result is None:
        return Metric(name, None, limit, False, f"no {what} values in one of the versions")
    statistic, p_value = result
    crossed = limit is not None and statistic > limit and p_value < spec.ks_p_value
    old, new = (
        "/".join(f"{x:.3g}" for x in np.percentile(v, [10, 50, 90])) for v in (before, after)
    )
    moves = f"p10/median/p90 {old} -> {new}{unit}"
    reason = f"{what} moved: {moves}" if crossed else f"{what} {moves}"
    if limit is not None and statistic > limit and not crossed:
        # A new user's trial read "0.1126 / 0.1 / ok" as a bug: say which test decided.
        reason += (
            f"; above {limit:g}, but p {p_value:.2g} >= {spec.ks_p_value:g}: too few rows to tell "
            "the move from chance"
        )
    detail = {"p_value": float(f"{p_value:.6g}")}
    return Metric(name, statistic, limit, crossed, reason, detail)


def _lengths(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    if base.lengths is None or current.lengths is None:
        reason = "no text column in one of the versions"
        return Metric("length_ks", None, spec.length_ks, False, reason)
    return _ks("length_ks", "text length", base.lengths, current.lengths, spec, " chars")


def _centroids(base: Profile, current: Profile, spec: DriftSpec) -> Metric:
    limit = spec.centroid_distance
    before, after = base.centroids, current.centroids
    if before is None or after is None:
        # Recorded in drift.json by runs with an embedding source; never recomputed here.
        # Roles, not folder names: a run measures its staged outputs, whose folder name holds
        # the run id, and the same inputs must give the same drift.json bytes.
        lacking = [
            role
            for role, p in (("the baseline", base), ("the current version", current))
            if p.centroids is None
        ]
        reason = f"no class centroids recorded for {' and '.join(lacking)}"
        return Metric("centroid_distance", None, limit, False, reason)
    least = spec.centroid_min_rows
    shared = sorted(
        n
        for n in set(before) & set(after)
        if min(base.classes[n], current.classes[n]) >= least and before[n].shape == after[n].shape
    )
    if not shared:
        reason = f"no class with {least} rows and comparable centroids in both versions"
        return Metric("centroid_distance", None, limit, False, reason)
    distances = {n: measures.cosine_distance(before[n], after[n]) for n in shared}
    worst = max(shared, key=lambda n: (distances[n], n))
    value = distances[worst]
    crossed = limit is not None and value > limit
    reason = f"class {worst} centroid moved by cosine distance {value:.3f}"
    detail = {"per_class": {n: round(d, 6) for n, d in distances.items()}}
    return Metric("centroid_distance", value, limit, crossed, reason, detail)
