"""The report's sections on what the run did: overview, classes, confidence and review files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.input_name import input_named
from zslabel.pipeline.passages import passage_warnings
from zslabel.report import svg
from zslabel.report.blocks import pct, readable, section, table
from zslabel.report.stats import HISTOGRAM_BINS, ReportStats
from zslabel.report.svg import Series, esc
from zslabel.sources.distinct import similar_label_warnings

STATUSES = ("accepted", "abstained", "invalid")
# The selection settings in words; the table shows the job file's key beside them.
SETTINGS = {
    "threshold": "label threshold (multi-label)",
    "min_confidence": "lowest confidence accepted",
    "min_margin": "lowest margin over the runner-up",
    "per_class_top_fraction": "share of each class kept, most confident first",
}


def overview_section(manifest: Mapping[str, Any]) -> str:
    counts = manifest["counts"]
    total = int(counts["rows"])
    rows = [
        (name, counts["status"].get(name, 0), pct(int(counts["status"].get(name, 0)), total))
        for name in STATUSES
    ]
    sources = [
        (s.get("name"), s.get("kind"), _model_name(s), s.get("weight")) for s in manifest["sources"]
    ]
    selection = manifest.get("selection", {})
    # Each mode's own settings: multi-label jobs assign by threshold, others rank per class.
    multi_label = bool(manifest.get("config", {}).get("multi_label"))
    not_used = {"per_class_top_fraction"} if multi_label else {"threshold"}
    thresholds = [
        (SETTINGS.get(key, readable(key)), key, value)
        for key, value in selection.items()
        if key != "class_confidence_cutoffs"
        and key not in not_used
        and not isinstance(value, dict | list)
    ]
    return section(
        "overview",
        "Overview",
        f"<p>{total:,} input rows of <code>{esc(input_named(manifest['input']))}</code>, "
        f"{len(manifest['labels'])} labels, zslabel {esc(manifest.get('zslabel_version', '?'))}."
        "</p>",
        table(["status", "rows", "share"], rows, "status"),
        "<h3>Sources</h3>",
        table(["source", "kind", "model", "weight"], sources),
        f"<p>Combined by <code>{esc(manifest.get('combine', {}).get('method', '?'))}</code>.</p>",
        "<h3>Selection</h3>",
        table(["setting", "job key", "value"], thresholds, "selection"),
    )


def _model_name(source: Mapping[str, Any]) -> str:
    model = source.get("model")
    if isinstance(model, Mapping):
        name = str(model.get("name", ""))
        revision = model.get("revision")
        return f"{name}@{revision}" if revision else name
    return "" if model is None else str(model)


def classes_section(manifest: Mapping[str, Any]) -> str:
    classes = manifest["counts"]["classes"]
    cutoffs = manifest.get("selection", {}).get("class_confidence_cutoffs", {})
    names = [label["name"] for label in manifest["labels"] if label["name"] in classes]
    chart = svg.bar_chart(
        names,
        [
            Series("accepted", [classes[n]["accepted"] for n in names], "s0"),
            Series("abstained", [classes[n]["abstained"] for n in names], "s1"),
        ],
        "Rows per predicted class: accepted and abstained",
    )
    rows = [
        (
            n,
            classes[n]["accepted"],
            classes[n]["abstained"],
            classes[n].get("mean_confidence_accepted"),
            cutoffs.get(n),
        )
        for n in names
    ]
    warnings = "".join(
        f'<p class="note">Warning: {esc(line)}.</p>'
        for line in [
            # Most texts in a language the model does not cover (zslabel.pipeline.language).
            *filter(None, [(manifest.get("language") or {}).get("warning")]),
            # Ids that earlier versions of an incremental job labeled too (pipeline.ids).
            *filter(None, [(manifest.get("reused_ids") or {}).get("warning")]),
            *similar_label_warnings(dict(manifest)),
            *passage_warnings(manifest),
        ]
    )
    return section(
        "classes",
        "Class distribution",
        chart,
        table(
            ["class", "accepted", "abstained", "mean confidence (accepted)", "cutoff"],
            rows,
            "classes",
        ),
        warnings,
    )


def histograms_section(manifest: Mapping[str, Any], stats: ReportStats) -> str:
    cutoffs = manifest.get("selection", {}).get("class_confidence_cutoffs", {})
    edges = [b / HISTOGRAM_BINS for b in range(HISTOGRAM_BINS + 1)]
    charts = [
        svg.histogram(
            edges,
            [
                Series("accepted", [int(v) for v in stats.histograms[k, 0]], "s0"),
                Series("abstained", [int(v) for v in stats.histograms[k, 1]], "s1"),
            ],
            f"Top-label confidence of rows predicted {name}",
            marker=cutoffs.get(name),
            marker_name="class cutoff",
        )
        for k, name in enumerate(stats.label_names)
    ]
    titles = "".join(
        f"<figure><figcaption>{esc(name)}</figcaption>{chart}</figure>"
        for name, chart in zip(stats.label_names, charts, strict=True)
    )
    return section(
        "confidence",
        "Confidence per class",
        '<p class="note">Rows by the combined probability of their top label; the red line is '
        "the confidence at which the class's accepted rows were cut.</p>",
        f'<div class="grid">{titles}</div>',
    )


def review_section(manifest: Mapping[str, Any]) -> str:
    files = manifest.get("files", {})
    listed = [(name, entry) for name, entry in files.items() if name.startswith("review.")]
    if not listed:
        return ""
    counted = next((entry for _, entry in listed if "candidates" in entry), None)
    shown = ""
    if counted is not None:
        rows, candidates = int(counted["rows"]), int(counted["candidates"])
        shown = (
            f"<p>Review files: {rows:,} of {candidates:,} rows, the {rows:,} most useful "
            f"(<code>review.limit</code> {counted['limit']}); {candidates - rows:,} left out.</p>"
            if candidates > rows
            else f"<p>Review files: all {rows:,} rows for review, the most useful first.</p>"
        )
    return section(
        "review",
        "Review",
        '<p class="note">Abstained rows and rows whose sources disagree, with the predictions '
        "as pre-annotations, for Label Studio and Argilla, ordered by priority (smallest margin "
        "between the top two labels first, rows of classes with few accepted rows promoted; "
        "<code>zs_priority</code>); import the results with "
        "<code>zslabel import-reviews</code>.</p>",
        shown,
        table(["file", "rows"], [(name, entry.get("rows")) for name, entry in listed]),
    )
