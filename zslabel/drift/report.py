"""The drift report: each metric with its threshold, what crossed and why, as JSON or text."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslabel.atomic import temporary_beside
from zslabel.config import DriftSpec
from zslabel.drift.profile import DRIFT
from zslabel.errors import OutputError

FIRST_VERSION = "first version: nothing to compare"
NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class Metric:
    """One measured figure. ``value`` is None when it could not be measured (``reason`` says
    why), ``threshold`` None when its check is off."""

    name: str
    value: float | None
    threshold: float | None
    crossed: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.value is None:
            return NOT_AVAILABLE
        if self.threshold is None:
            return "off"
        return "crossed" if self.crossed else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "value": _round(self.value),
            "threshold": self.threshold,
            "status": self.status,
            "reason": self.reason,
            **self.detail,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of ``current`` from ``baseline`` (None: the first version, nothing compared)."""

    current: str
    baseline: str | None
    spec: DriftSpec
    metrics: tuple[Metric, ...]
    new_terms: tuple[dict[str, Any], ...]
    profile: dict[str, Any]
    baseline_profile: dict[str, Any] | None = None

    @property
    def first_version(self) -> bool:
        return self.baseline is None

    @property
    def crossed(self) -> list[dict[str, Any]]:
        """The crossed thresholds: [{metric, value, threshold, reason}], in metric order."""
        return [
            {
                "metric": m.name,
                "value": _round(m.value),
                "threshold": m.threshold,
                "reason": m.reason,
            }
            for m in self.metrics
            if m.crossed
        ]

    @property
    def drifted(self) -> bool:
        return any(m.crossed for m in self.metrics)

    @property
    def message(self) -> str:
        """One line: what happened, for a log, a summary or a failed run's message."""
        if self.first_version:
            return FIRST_VERSION
        crossed = [m for m in self.metrics if m.crossed]
        if not crossed:
            return f"no drift: {len(self.metrics)} metrics within their thresholds"
        return f"drift: {len(crossed)} threshold(s) crossed: " + "; ".join(
            f"{crossing(m.name, m.value, m.threshold)} ({m.reason})" for m in crossed
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready drift.json payload (keys sorted when written)."""
        return {
            "first_version": self.first_version,
            "message": self.message,
            "current": self.current,
            "baseline": self.baseline,
            "drifted": self.drifted,
            "on_drift": self.spec.on_drift,
            "thresholds": self.spec.model_dump(mode="json", exclude={"on_drift"}),
            "metrics": [metric.to_dict() for metric in self.metrics],
            "crossed": self.crossed,
            "new_terms": list(self.new_terms),
            "profile": self.profile,
            "baseline_profile": self.baseline_profile,
        }

    def to_json(self) -> str:
        """The drift.json text: sorted keys, two-space indents, a final newline; the same
        report always gives the same bytes."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """One screen: each metric, its value, threshold and status; then the new terms."""
        if self.first_version:
            return f"{self.current}\n  {FIRST_VERSION}\n"
        lines = [f"baseline  {self.baseline}", f"current   {self.current}", ""]
        lines.append(f"{'metric':<18}{'value':>9}{'threshold':>11}  {'status':<14}why")
        for m in self.metrics:
            threshold = "-" if m.threshold is None else f"{m.threshold:g}"
            lines.append(
                f"{m.name:<18}{_shown(m.value):>9}{threshold:>11}  {m.status:<14}{m.reason}"
            )
        if self.new_terms:
            terms = ", ".join(f"{t['term']} ({t['rows']})" for t in self.new_terms)
            lines += ["", f"new terms among abstained rows: {terms}"]
        names = [m.name for m in self.metrics if m.crossed]
        verdict = f"DRIFT: {len(names)} crossed ({', '.join(names)})" if names else self.message
        lines += ["", verdict]
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """A markdown table of the metrics (for a run artifact or the report)."""
        if self.first_version:
            return f"**{FIRST_VERSION}**\n"
        rows = ["| metric | value | threshold | status | why |", "| --- | --- | --- | --- | --- |"]
        for m in self.metrics:
            threshold = "-" if m.threshold is None else f"{m.threshold:g}"
            status = f"**{m.status}**" if m.crossed else m.status
            why = m.reason.replace("|", "\\|")
            rows.append(f"| {m.name} | {_shown(m.value)} | {threshold} | {status} | {why} |")
        text = "\n".join(rows) + "\n"
        if self.new_terms:
            text += "\nNew terms among abstained rows: " + ", ".join(
                f"`{t['term']}` ({t['rows']} rows)" for t in self.new_terms
            )
            text += "\n"
        return f"{self.message}\n\n{text}"


def write_drift(output_dir: str | Path, report: DriftReport) -> Path:
    """Write ``report`` as ``drift.json`` in ``output_dir`` atomically (a temporary file in the
    same folder, then a rename: a reader never sees half a file). Returns its path; raises
    OutputError when it cannot be written."""
    folder = Path(output_dir).expanduser()
    path = folder / DRIFT
    try:
        temporary = temporary_beside(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc})") from None
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(report.to_json())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc})") from None
    return path


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def crossing(name: str, value: float | None, threshold: float | None) -> str:
    """``psi 0.43 > 0.2``: a rate's change is signed and crosses either way (``abstain_rate
    -0.26 beyond ±0.1``), a p-value crosses downwards."""
    if value is None or threshold is None:
        return name
    if name.endswith("_rate"):
        return f"{name} {value:+.4g} beyond ±{threshold:g}"
    return f"{name} {value:.4g} {'<' if name == 'chi2_p_value' else '>'} {threshold:g}"


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
