"""``zslabel eval``'s printed report: the figures of :func:`zslabel.evaluate.evaluate`."""

from __future__ import annotations

from typing import Any


def format_evaluation(report: dict[str, Any]) -> str:
    accepted, forced = report["accepted"], report["forced"]
    lines = [
        f"Rows with gold: {report['rows_with_gold']:,} of {report['rows']:,}; "
        f"valid {report['valid_rows']:,}; accepted {report['accepted_rows']:,} "
        f"(coverage {_fmt(report['coverage'])})",
        f"  accepted rows:   accuracy {_fmt(accepted['accuracy'])}   "
        f"macro-F1 {_fmt(accepted['macro_f1'])}",
        f"  all valid rows:  accuracy {_fmt(forced['accuracy'])}   "
        f"macro-F1 {_fmt(forced['macro_f1'])}   (each at its top label)",
        *_left_out_lines(report),
        "",
        f"  {'class':<24}{'precision':>10}{'recall':>8}{'support':>9}",
    ]
    for name, stats in accepted["per_class"].items():
        lines.append(
            f"  {name:<24}{_fmt(stats['precision']):>10}{_fmt(stats['recall']):>8}"
            f"{stats['support']:>9,}"
        )
    if report["gold_labels_not_in_job"]:
        lines.append(f"  gold labels the job does not know: {report['gold_labels_not_in_job']}")
        lines += [f"    {hint}" for hint in report.get("gold_label_mismatches", [])]
    return "\n".join(lines)


def _left_out_lines(report: dict[str, Any]) -> list[str]:
    """The rows :func:`zslabel.evaluate.evaluate` could not judge the model by."""
    lines = []
    if report.get("human_reviewed_rows"):
        lines.append(
            f"  left out: {report['human_reviewed_rows']:,} row(s) accepted with a reviewer's "
            "label (human_review): not the model's"
        )
    if report.get("accepted_rows_without_gold"):
        lines.append(
            f"  not judged: {report['accepted_rows_without_gold']:,} accepted row(s) without gold"
        )
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
