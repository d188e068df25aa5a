"""The report's section on the student model: its metrics round by round."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report import svg
from zslabel.report.blocks import COLORS, readable, section, table
from zslabel.report.svg import Series


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def student_section(student: Mapping[str, Any] | None) -> str:
    if not student:
        return ""
    rounds = [_flatten(r) for r in student.get("rounds", []) if isinstance(r, Mapping)]
    if not rounds:
        return ""
    keys = list(dict.fromkeys(k for r in rounds for k in r))
    xs = [float(r.get("round", i)) for i, r in enumerate(rounds)]

    def fraction(key: str) -> bool:
        values = [r.get(key) for r in rounds]
        return all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0
            for v in values
        )

    # Accuracy, F1 and agreement are fractions: they share one axis; counts go in the table.
    plotted = [k for k in keys if k != "round" and fraction(k)][: len(COLORS)]
    chart = (
        svg.line_chart(
            [
                Series(readable(k), [float(r[k]) for r in rounds], COLORS[i], xs)
                for i, k in enumerate(plotted)
            ],
            "Student rounds",
            "round",
            "value",
            x_range=(min(xs), max(xs)) if len(xs) > 1 else (xs[0] - 1, xs[0] + 1),
        )
        if plotted
        else ""
    )
    rounds_table = table(
        [readable(k) for k in keys], [[r.get(k) for k in keys] for r in rounds], "student"
    )
    return section("student", "Student model", chart, rounds_table)
