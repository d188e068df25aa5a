"""The report's section on drift: how this version differs from the previous one.

Drawn from the manifest's ``drift`` entry (the run's drift.json, summarised): the verdict, every
metric with its threshold (crossed ones first), and the class shares of both versions as bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report import svg
from zslabel.report.blocks import section, table
from zslabel.report.svg import Series, esc


def drift_section(manifest: Mapping[str, Any]) -> str:
    """The section, or "" for a manifest without drift (a run before drift.json existed)."""
    drift = manifest.get("drift")
    if not drift:
        return ""
    verdict = f'<p class="note">{esc(drift["message"])} (details: drift.json)</p>'
    if drift.get("first_version"):
        return section("drift", "Drift", verdict)
    baseline = f'<p class="note">Compared with {esc(drift["baseline"])}.</p>'
    # Crossed thresholds first: they are what a reader opens the section for.
    metrics = sorted(drift["metrics"], key=lambda m: m["status"] != "crossed")
    rows = [
        [m["metric"], m["value"], m["threshold"], m["status"].upper() if m["status"] == "crossed"
         else m["status"], m.get("reason", "")]
        for m in metrics
    ]  # fmt: skip
    figures = table(["metric", "value", "threshold", "status", "why"], rows, "drift")
    return section("drift", "Drift", verdict, baseline, figures, _shares_chart(drift))


def _shares_chart(drift: Mapping[str, Any]) -> str:
    """Each class's share of the scored rows, the previous version beside this one."""
    shares = drift.get("class_shares") or {}
    before, after = shares.get("baseline") or {}, shares.get("current") or {}
    names = list(dict.fromkeys([*after, *before]))
    if not names:
        return ""
    series = [
        Series("previous version", [float(before.get(n, 0.0)) for n in names], "s5"),
        Series("this version", [float(after.get(n, 0.0)) for n in names], "s0"),
    ]
    return svg.bar_chart(names, series, "Class shares: previous and this version")
