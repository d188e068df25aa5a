"""One-screen, human-readable summaries of a run and of an evaluation."""

from __future__ import annotations

from typing import Any

from zslabel.changes import change_lines
from zslabel.drift.report import crossing
from zslabel.input_name import input_named
from zslabel.pipeline.drift import settings_changed
from zslabel.pipeline.language import language_warnings
from zslabel.pipeline.passages import passage_warnings
from zslabel.pipeline.reused_ids import reused_id_warnings
from zslabel.runner import RunResult
from zslabel.sources.distinct import similar_label_warnings
from zslabel.splits import split_size_warnings


def is_dry_run(manifest: dict[str, Any]) -> bool:
    """Whether every source was the model-free fake one (``--dry-run``): placeholder labels."""
    sources = manifest.get("sources") or []
    return bool(sources) and all(source.get("kind") == "fake" for source in sources)


# What starts each warning line of the summary (after its indent); label_frame raises them.
WARNING_PREFIX = "warning: "


def warning_lines(summary: str) -> list[str]:
    """A summary's warnings, unprefixed: what ``label_frame`` and the flow's log repeat."""
    lines = [line.strip() for line in summary.splitlines()]
    return [line.removeprefix(WARNING_PREFIX) for line in lines if line.startswith(WARNING_PREFIX)]


def format_run(result: RunResult) -> str:
    """The run's summary: rows by status, per class accepted / abstained / mean confidence /
    effective cutoff (the lowest accepted confidence), the selection settings, warnings, and
    what changed against the outputs the run replaced. A dry run says so in its first line."""
    manifest, run = result.manifest, result.run_info
    counts = manifest["counts"]
    total = counts["rows"]
    shards = run["shards"]
    dry = is_dry_run(manifest)
    lines = [
        *(["DRY RUN: model-free fake source; the labels are placeholders", ""] if dry else []),
        f"Labeled {total:,} rows of {input_named(manifest['input'])} "
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
    # The cutoff is the effective one: the lowest confidence the class accepted.
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
        ranking = f"per_class_top_fraction {selection['per_class_top_fraction']}" + _floor_text(
            selection
        )
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
        *(f"  warning: {line}" for line in _stray_warnings(manifest.get("refinement") or {})),
        *(f"  warning: {line}" for line in _class_warning_lines(selection)),
        *(
            f"  warning: {line}"
            for warnings in (_estimator_warnings, similar_label_warnings, language_warnings)
            for line in warnings(manifest)
        ),
        *(
            f"  warning: {line}"
            for warnings in (passage_warnings, reused_id_warnings, split_size_warnings)
            for line in warnings(manifest)
        ),
        *_drift_lines(manifest.get("drift"), settings_changed(manifest)),
        f"  model: {_models(manifest['sources'])}",
        f"  outputs: {result.output_dir}/ ({', '.join(manifest['files'])}, manifest.json)",
        *_changes_lines(manifest.get("changes")),
    ]
    return "\n".join(lines)


def _drift_lines(drift: dict[str, Any] | None, changed: list[str]) -> list[str]:
    """A warning a crossed drift threshold (drift.json has the figures), else one line of
    verdict; nothing from a manifest without drift."""
    if not drift:
        return []
    crossed = drift.get("crossed") or []
    if not crossed:
        return [f"  drift: {drift['message']}"]
    lines = [
        f"  warning: drift: {crossing(c['metric'], c.get('value'), c.get('threshold'))} "
        f"({c['reason']})"
        for c in crossed
    ]
    if drift.get("new_terms"):  # a hint of a class the label set lacks
        terms = ", ".join(str(term) for term in drift["new_terms"][:5])
        lines.append(f"  drift: new terms among abstained rows: {terms}")
    if changed:
        lines.append(
            f"  drift: the job's settings changed since the compared outputs "
            f"({', '.join(changed)}), which may explain it; on_drift: fail does not fail this run"
        )
    elif drift.get("on_drift") == "fail":
        lines.append("  drift: on_drift is fail: this run is marked failed (outputs kept)")
    return lines


def _floor_text(selection: dict[str, Any]) -> str:
    """``, min_above_chance T (floor F)``; empty without a floor (or from an older manifest)."""
    above = selection.get("min_above_chance")
    rules = list((selection.get("class_rule_cutoffs") or {}).values())
    if not above or not rules:
        return ""
    return f", min_above_chance {above} (floor {rules[0]['floor']:.3f})"


def _class_warning_lines(selection: dict[str, Any]) -> list[str]:
    """One line a class whose accepted rows are few or of low mean confidence."""
    warned: dict[str, list[str]] = selection.get("class_warnings") or {}
    return [f"class {name}: " + "; ".join(found) for name, found in warned.items()]


def _changes_lines(changes: dict[str, Any] | None) -> list[str]:
    """What this run changed against the outputs it replaced in the same folder, or (an
    incremental version, ``since``) the settings changed since the version it is compared with."""
    if not changes:
        return []
    heading = "replaced the previous outputs in this folder; changes:"
    if "since" in changes:
        heading = f"settings changed since {changes['since']}:"
    return ["", f"  {heading}"] + [f"    {line}" for line in change_lines(changes)]


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
        # Refined: enough rows (an incremental version's and its earlier versions') and not
        # stray. The others kept their prompts (cosine 1.0).
        refined = [
            f
            for f in figures
            if _prototype_rows(f) >= max(1, record.get("min_rows", 1)) and "kept_prompts" not in f
        ]
        if not record.get("weight", 1.0):
            refined = []  # weight 0: every reference stays where it was
        rows = sum(_prototype_rows(f) for f in refined)
        earlier = sum(f.get("earlier_rows", 0) for f in refined)
        cosine = min((f["cosine"] for f in refined), default=1.0)
        part = (
            f"{name} {len(refined)} of {len(record['labels'])} label(s) refined from {rows:,} "
            + (f"rows ({earlier:,} of earlier versions)" if earlier else "rows")
            + f", reference cosine >= {cosine:.3f}"
        )
        stray = [k for k, f in record["labels"].items() if f.get("kept_prompts") == "stray"]
        if stray:
            part += f" (stray, kept at their prompts: {', '.join(stray)})"
        left_out = [k for k, f in record["labels"].items() if f.get("left_out") == "stray"]
        if left_out:
            part += f" (stray, from earlier versions' rows only: {', '.join(left_out)})"
        not_carried = (record.get("earlier_versions") or {}).get("not_carried")
        if not_carried:
            part += f" (earlier versions' rows not added: {not_carried})"
        parts.append(part)
    return ["  refinement: " + "; ".join(parts)]


def _prototype_rows(figures: dict[str, Any]) -> int:
    """The rows a label's prototype is the mean of: this run's, and an incremental job's
    earlier versions' (none of this run's for a label whose rows were left out as stray)."""
    own = 0 if figures.get("left_out") == "stray" else int(figures["rows"])
    return own + int(figures.get("earlier_rows", 0))


def _stray_warnings(refinement: dict[str, Any]) -> list[str]:
    """A line per label refinement kept at its prompts as stray (zslabel.refine.stray_labels)."""
    lines = []
    for name, record in refinement.items():
        for label, figures in (record.get("labels") or {}).items():
            kept = figures.get("kept_prompts") == "stray"
            if kept or figures.get("left_out") == "stray":
                lines.append(
                    f"label {label}: the prompts gave it its rows with far less confidence than "
                    f"the other labels theirs (row confidence {figures['row_confidence']:.3f}, "
                    f"source {name}): perhaps a label no text is about; refinement "
                    + (
                        "kept it at its prompts"
                        if kept
                        else "left these rows out and refined it from earlier versions' rows"
                    )
                )
    return lines


def _review_lines(reviews: dict[str, Any] | None) -> list[str]:
    """Stored reviews (zslabel import-reviews): how many this run applied, and why not others;
    where they were read from when that is the old place, and stores found but not read."""
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
    lines = ["  reviews: " + "; ".join(parts)]
    if reviews.get("move_to"):
        lines.append(
            f"  reviews read from the old place {reviews['store']}; move it to "
            f"{reviews['move_to']}, which every output of the job reads (the next "
            "import-reviews --job moves it)"
        )
    for entry in reviews.get("not_applied_reasons", []):
        if "store" in entry:  # the others are counted on the reviews line above
            count = "?" if entry["reviews"] is None else f"{entry['reviews']:,}"
            lines.append(f"  reviews not applied: {count} in {entry['store']}: {entry['reason']}")
    return lines


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
            temperatures += _fit_figures(
                next(e for e in calibration.values() if isinstance(e, dict) and "temperature" in e)
            )
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


def _fit_figures(entry: dict[str, Any]) -> str:
    """A temperature's figures on the rows it was fitted on. It minimises the log-loss (NLL),
    not ECE, and can raise ECE there (a new user's trial: NLL 0.739 -> 0.728, ECE 0.108 ->
    0.128 on 200 gold rows), so both are shown."""
    keys = ("nll_before", "nll_after", "ece_before", "ece_after")
    if not all(isinstance(entry.get(key), int | float) for key in keys):
        return ""
    return (
        f" (on those rows: log-loss {entry['nll_before']:.3f} -> {entry['nll_after']:.3f}, "
        f"ECE {entry['ece_before']:.3f} -> {entry['ece_after']:.3f})"
    )


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


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "-"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
