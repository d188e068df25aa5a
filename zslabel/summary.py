"""One-screen, human-readable summaries of a run and of an evaluation."""

from __future__ import annotations

from typing import Any

from zslabel.pipeline.language import language_warnings
from zslabel.runner import RunResult
from zslabel.sources.distinct import similar_label_warnings


def format_run(result: RunResult) -> str:
    manifest, run = result.manifest, result.run_info
    counts = manifest["counts"]
    total = counts["rows"]
    shards = run["shards"]
    lines = [
        f"Labeled {total:,} rows of {manifest['input']['path']} "
        f"in {run['timings_s']['total']:.1f} s ({shards['scored']} shard(s) scored, "
        f"{shards['reused']} reused from cache)",
        "",
    ]
    reasons = {
        "accepted": counts.get("accepted_reasons", {}),
        "abstained": counts["abstain_reasons"],
        "invalid": counts["invalid_reasons"],
    }
    for status, n in counts["status"].items():
        why = ", ".join(f"{r} {c:,}" for r, c in reasons.get(status, {}).items())
        lines.append(f"  {status:<10}{n:>9,}  {_pct(n, total):>6}   {why}".rstrip())
    cutoffs = manifest["selection"]["class_confidence_cutoffs"]
    width = max(12, *(len(name) for name in counts["classes"]))
    header = f"{'class':<{width}}{'accepted':>10}{'abstained':>11}{'mean conf':>11}{'cutoff':>9}"
    lines += ["", f"  {header}"]
    for name, by_status in counts["classes"].items():
        lines.append(
            f"  {name:<{width}}{by_status['accepted']:>10,}{by_status['abstained']:>11,}"
            f"{_fmt(by_status['mean_confidence_accepted']):>11}{_fmt(cutoffs.get(name)):>9}"
        )
    selection = manifest["selection"]
    per_class = selection["per_class_min_confidence"]
    if manifest["config"].get("multi_label"):
        per_label = selection.get("per_class_threshold") or {}
        ranking = f"multi-label threshold {selection.get('threshold')}" + (
            f", per_class_threshold {per_label}" if per_label else ""
        )
    else:
        ranking = f"per_class_top_fraction {selection['per_class_top_fraction']}"
    lines += [
        "",
        "  thresholds: "
        f"min_confidence {selection['min_confidence']}, "
        f"{ranking}, "
        f"min_margin {selection['min_margin']}"
        + (f", per_class_min_confidence {per_class}" if per_class else ""),
        "  splits: " + ", ".join(f"{k} {v:,}" for k, v in counts["splits"].items()),
        *_truncation_lines(counts.get("truncated_texts") or {}),
        *_review_lines(counts.get("reviews")),
        *_calibration_lines(manifest),
        *_source_lines(manifest),
        *_refinement_lines(manifest.get("refinement") or {}),
        *(f"  warning: {line}" for line in _estimator_warnings(manifest)),
        *(f"  warning: {line}" for line in similar_label_warnings(manifest)),
        *(f"  warning: {line}" for line in language_warnings(manifest)),
        f"  model: {_models(manifest['sources'])}",
        f"  outputs: {result.output_dir}/ ({', '.join(manifest['files'])}, manifest.json)",
    ]
    return "\n".join(lines)


def _truncation_lines(truncated: dict[str, int | None]) -> list[str]:
    """Texts a model read only in part: worth knowing before trusting their labels."""
    cut = {name: n for name, n in truncated.items() if n}
    if not cut:
        return []
    listed = ", ".join(f"{name} {n:,}" for name, n in cut.items())
    return [f"  texts cut at max_length: {listed} (long_texts: chunk reads them in windows)"]


def _refinement_lines(refinement: dict[str, Any]) -> list[str]:
    """One line: per refined source, the rows its label prototypes came from and how far the
    references moved (the smallest cosine to the prompt embedding), or why it was skipped."""
    if not refinement:
        return []
    parts = []
    for name, record in refinement.items():
        if "skipped" in record:
            parts.append(f"{name} skipped ({record['skipped']})")
            continue
        figures = record["labels"].values()
        rows = sum(f["rows"] for f in figures)
        cosine = min((f["cosine"] for f in figures), default=1.0)
        parts.append(
            f"{name} {len(record['labels'])} label(s) from {rows:,} rows, "
            f"reference cosine >= {cosine:.3f}"
        )
    return ["  refinement: " + "; ".join(parts)]


def _review_lines(reviews: dict[str, int] | None) -> list[str]:
    """Stored reviews (zslabel import-reviews): how many this run applied, and why not others."""
    if not reviews:
        return []
    applied, stored = reviews["applied"], reviews["stored"]
    parts = [f"{applied:,} applied" + (f" of {stored:,} stored" if applied != stored else "")]
    if reviews.get("invalid_rows"):
        parts.append(f"{reviews['invalid_rows']:,} of invalid rows (left invalid)")
    if reviews.get("unmatched"):
        parts.append(
            f"{reviews['unmatched']:,} match no row of this input (not applied, not used to "
            "calibrate)"
        )
    return ["  reviews: " + "; ".join(parts)]


def _calibration_lines(manifest: dict[str, Any]) -> list[str]:
    """What the temperatures were fitted on (gold file, reviews), and reviews left out of it."""
    calibration = (manifest.get("combine") or {}).get("calibration")
    if isinstance(calibration, dict):
        rows = calibration.get("rows", 0)
        reviews = calibration.get("review_rows", calibration.get("reviews", 0))
        from_file = calibration.get("gold_file_rows", rows - reviews)
        fitted = {
            name: entry["temperature"]
            for name, entry in calibration.items()
            if isinstance(entry, dict) and "temperature" in entry
        }
        if len(fitted) == 1:
            temperatures = f"temperature {next(iter(fitted.values())):.2f}"
        else:
            temperatures = "temperature " + (
                ", ".join(f"{name} {t:.2f}" for name, t in fitted.items()) or "- (none fitted)"
            )
        return [
            f"  calibrated on {rows:,} rows ({from_file:,} gold file, {reviews:,} reviews), "
            + temperatures
        ]
    applied = (manifest["counts"].get("reviews") or {}).get("applied", 0)
    opted_in = ((manifest.get("config") or {}).get("calibration") or {}).get("reviews")
    if applied and not opted_in:
        return [
            f"  calibration: none; the {applied:,} review(s) are not used "
            "(calibration: {reviews: true} fits the temperature on them)"
        ]
    if opted_in:
        return [f"  calibration: none yet; {applied:,} review(s) to fit on, needs 2"]
    return []


def _estimator_warnings(manifest: dict[str, Any]) -> list[str]:
    """Estimators that backed off on too little data: calibration on a few gold rows, a label
    model with too few voting sources."""
    combine = manifest.get("combine") or {}
    warnings = list((combine.get("calibration") or {}).get("warnings") or [])
    fallback = combine.get("fallback")
    if fallback:
        names = [source["name"] for source in manifest["sources"]]
        votes = ", ".join(f"{n} {v:,}" for n, v in zip(names, fallback["votes"], strict=True))
        warnings.append(f"{fallback['reason']} (rows voted on: {votes})")
    return warnings


def _source_lines(manifest: dict[str, Any]) -> list[str]:
    """With several sources: each one's coverage, conflict, agreement and gold accuracy."""
    diagnostics = manifest.get("source_diagnostics") or {}
    per_source = diagnostics.get("sources") or {}
    if not per_source:
        return []
    width = max(12, *(len(name) for name in per_source))
    lines = [
        "",
        f"  {'source':<{width}}{'coverage':>10}{'conflict':>10}{'agreement':>11}"
        f"{'gold acc.':>11}   (combine: {manifest['combine']['method']})",
    ]
    for name, figures in per_source.items():
        lines.append(
            f"  {name:<{width}}{_fmt(figures['coverage']):>10}{_fmt(figures['conflict']):>10}"
            f"{_fmt(figures['agreement']):>11}{_fmt(figures.get('accuracy')):>11}"
        )
    return lines


def _models(sources: list[dict[str, Any]]) -> str:
    names = []
    for source in sources:
        model = source.get("model")
        names.append(f"{source['name']}={model['name']}" if model else source["name"])
    return ", ".join(names)


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


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "-"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
