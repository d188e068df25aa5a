"""The report's sections on accuracy: against a gold column, and calibration reliability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report import svg
from zslabel.report.blocks import COLORS, cell, section, table
from zslabel.report.stats import (
    ReportStats,
    coverage_accuracy,
    expected_calibration_error,
    macro_f1,
    reliability,
)
from zslabel.report.svg import Series, esc


def gold_section(stats: ReportStats, gold_column: str | None) -> str:
    gold = stats.gold
    if gold is None or gold_column is None:
        return section(
            "gold",
            "Accuracy against gold",
            '<p class="note">No gold column given. Run <code>zslabel report DIR --gold-column '
            "COLUMN</code> with a column of true labels to add accuracy, the coverage-accuracy "
            "curve and the confusion matrix.</p>",
        )
    n = len(stats.label_names)
    accepted_acc = gold.accepted_correct / gold.accepted_rows if gold.accepted_rows else None
    valid_acc = gold.valid_correct / gold.valid_rows if gold.valid_rows else None
    coverage = gold.accepted_rows / gold.valid_rows if gold.valid_rows else None
    summary = table(
        ["rows", "count", "accuracy", "macro-F1"],
        [
            ("accepted", gold.accepted_rows, accepted_acc, macro_f1(gold.confusion, n)),
            ("every valid row at its top label", gold.valid_rows, valid_acc, None),
        ],
        "gold-summary",
    )
    xs, ys = coverage_accuracy(gold)
    points = (
        [(coverage, accepted_acc, "this selection")]
        if coverage is not None and accepted_acc is not None
        else []
    )
    curve = svg.line_chart(
        [Series("most confident first", ys, "s0", xs)],
        "Coverage against accuracy",
        "coverage (share of valid rows kept)",
        "accuracy",
        y_range=(min([0.0, *ys]), 1.0),
        points=points,
    )
    matrix = svg.heatmap(
        gold.labels, stats.label_names, gold.confusion, "Confusion matrix of the accepted rows"
    )
    unknown = gold.labels[n:]
    return section(
        "gold",
        "Accuracy against gold",
        f"<p>Gold column <code>{esc(gold_column)}</code>: {gold.rows_with_gold:,} rows with a "
        f"gold label; coverage {cell(coverage)} of the valid ones.</p>",
        summary,
        "<h3>Coverage-accuracy curve</h3>",
        '<p class="note">Keep only the most confident rows: how accurate are they? The red dot '
        "is the selection this run made.</p>",
        curve,
        "<h3>Confusion matrix (accepted rows)</h3>",
        '<p class="note">Rows: gold label; columns: predicted label; shade: share of the row.</p>',
        matrix,
        f"<p>Gold labels the job does not know: {esc(', '.join(unknown))}</p>" if unknown else "",
    )


def reliability_section(manifest: Mapping[str, Any], stats: ReportStats) -> str:
    if stats.gold is not None and stats.gold.valid_rows:
        curve = reliability(stats.gold)
        series = [Series("valid rows", curve["accuracy"], "s0", curve["mean_confidence"])]
        note = (
            "Accuracy against mean confidence per confidence bin, over every valid row with "
            f"gold; expected calibration error {cell(expected_calibration_error(stats.gold))}."
        )
    else:
        calibration = manifest.get("combine", {}).get("calibration") or {}
        series = [
            Series(
                f"{name} (calibrated)",
                entry["reliability_after"]["accuracy"],
                COLORS[i % len(COLORS)],
                entry["reliability_after"]["mean_confidence"],
            )
            for i, (name, entry) in enumerate(sorted(calibration.items()))
            if isinstance(entry, Mapping) and "reliability_after" in entry
        ]
        if not series:
            return section(
                "reliability",
                "Reliability",
                '<p class="note">No calibration data: configure <code>calibration</code> with a '
                "small hand-labeled file, import reviews, or give a gold column to "
                "<code>zslabel report</code>.</p>",
            )
        note = (
            "Per source, after temperature scaling, on the calibration gold rows themselves "
            "(optimistic with a small file)."
        )
    chart = svg.line_chart(
        series, "Reliability diagram", "mean confidence", "accuracy", diagonal=True
    )
    return section("reliability", "Reliability", f'<p class="note">{esc(note)}</p>', chart)
