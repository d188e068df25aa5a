"""The report as one HTML page: the manifest and the streamed counts in, a string out.

No JavaScript and no external resource: the page is inline CSS and inline SVG, so it opens
offline, in a mail attachment or a CI artifact viewer, and renders the same everywhere. Nothing
in it depends on the clock or the run id, so a rerun writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zslabel.report import svg
from zslabel.report.stats import (
    HISTOGRAM_BINS,
    ReportStats,
    coverage_accuracy,
    expected_calibration_error,
    macro_f1,
    reliability,
)
from zslabel.report.svg import Series, esc
from zslabel.sources.distinct import SIMILAR_PROMPT_COSINE, similar_label_warnings

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#666}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}.grid svg{width:480px;height:auto}
svg.plot{font:11px system-ui,sans-serif;max-width:100%;height:auto}
.s0{fill:#2b6cb0;stroke:#2b6cb0}.s1{fill:#dd6b20;stroke:#dd6b20}.s2{fill:#38a169;stroke:#38a169}
.s3{fill:#805ad5;stroke:#805ad5}.s4{fill:#d53f8c;stroke:#d53f8c}.s5{fill:#718096;stroke:#718096}
polyline.line{fill:none;stroke-width:2}.frame{fill:none;stroke:#999}
.reference{fill:none;stroke:#aaa;stroke-dasharray:4 3}.marker{stroke:#c53030;stroke-width:1.5}
.point{fill:#c53030}.cell{fill:#2b6cb0}.flagged{stroke:#c53030;stroke-width:2}.cell-dark{fill:#fff}.cell-light{fill:#222}
.axis{fill:#444}
"""
COLORS = ("s0", "s1", "s2", "s3", "s4", "s5")
STATUSES = ("accepted", "abstained", "invalid")


def render(
    manifest: Mapping[str, Any],
    stats: ReportStats,
    gold_column: str | None = None,
    student: Mapping[str, Any] | None = None,
    title: str = "zslabel report",
) -> str:
    sections = [
        _overview(manifest),
        _classes(manifest),
        _histograms(manifest, stats),
        _gold(stats, gold_column),
        _reliability(manifest, stats),
        _sources(manifest),
        _similarity(manifest),
        _refinement(manifest),
        _student(student),
        _review(manifest),
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        # Nothing may load from elsewhere: the report must work offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], css: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    attr = f' class="{esc(css)}"' if css else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return esc(value)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _section(anchor: str, heading: str, *content: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(heading)}</h2>{"".join(content)}</section>'


def _overview(manifest: Mapping[str, Any]) -> str:
    counts = manifest["counts"]
    total = int(counts["rows"])
    rows = [
        (name, counts["status"].get(name, 0), _pct(int(counts["status"].get(name, 0)), total))
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
        (key, value)
        for key, value in selection.items()
        if key != "class_confidence_cutoffs"
        and key not in not_used
        and not isinstance(value, dict | list)
    ]
    return _section(
        "overview",
        "Overview",
        f"<p>{total:,} input rows of <code>{esc(manifest['input']['path'])}</code>, "
        f"{len(manifest['labels'])} labels, zslabel {esc(manifest.get('zslabel_version', '?'))}."
        "</p>",
        _table(["status", "rows", "share"], rows, "status"),
        "<h3>Sources</h3>",
        _table(["source", "kind", "model", "weight"], sources),
        f"<p>Combined by <code>{esc(manifest.get('combine', {}).get('method', '?'))}</code>.</p>",
        "<h3>Selection</h3>",
        _table(["setting", "value"], thresholds),
    )


def _model_name(source: Mapping[str, Any]) -> str:
    model = source.get("model")
    if isinstance(model, Mapping):
        name = str(model.get("name", ""))
        revision = model.get("revision")
        return f"{name}@{revision}" if revision else name
    return "" if model is None else str(model)


def _classes(manifest: Mapping[str, Any]) -> str:
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
        for line in similar_label_warnings(dict(manifest))
    )
    return _section(
        "classes",
        "Class distribution",
        chart,
        _table(
            ["class", "accepted", "abstained", "mean confidence (accepted)", "cutoff"],
            rows,
            "classes",
        ),
        warnings,
    )


def _histograms(manifest: Mapping[str, Any], stats: ReportStats) -> str:
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
    return _section(
        "confidence",
        "Confidence per class",
        '<p class="note">Rows by the combined probability of their top label; the red line is '
        "the confidence at which the class's accepted rows were cut.</p>",
        f'<div class="grid">{titles}</div>',
    )


def _gold(stats: ReportStats, gold_column: str | None) -> str:
    gold = stats.gold
    if gold is None or gold_column is None:
        return _section(
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
    summary = _table(
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
    return _section(
        "gold",
        "Accuracy against gold",
        f"<p>Gold column <code>{esc(gold_column)}</code>: {gold.rows_with_gold:,} rows with a "
        f"gold label; coverage {_cell(coverage)} of the valid ones.</p>",
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


def _reliability(manifest: Mapping[str, Any], stats: ReportStats) -> str:
    if stats.gold is not None and stats.gold.valid_rows:
        curve = reliability(stats.gold)
        series = [Series("valid rows", curve["accuracy"], "s0", curve["mean_confidence"])]
        note = (
            "Accuracy against mean confidence per confidence bin, over every valid row with "
            f"gold; expected calibration error {_cell(expected_calibration_error(stats.gold))}."
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
            return _section(
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
    return _section("reliability", "Reliability", f'<p class="note">{esc(note)}</p>', chart)


def _sources(manifest: Mapping[str, Any]) -> str:
    diagnostics = manifest.get("source_diagnostics") or {}
    per_source = diagnostics.get("sources") or {}
    if not per_source:
        return _section(
            "sources",
            "Source diagnostics",
            '<p class="note">One source: nothing to compare it with.</p>',
        )
    names = [s["name"] for s in manifest["sources"] if s.get("name") in per_source]
    keys = ["coverage", "overlap", "conflict", "agreement", "accuracy"]
    rows = [(name, *(per_source[name].get(k) for k in keys)) for name in names]
    chart = svg.bar_chart(
        names,
        [
            Series(k, [float(per_source[n].get(k) or 0.0) for n in names], COLORS[i])
            for i, k in enumerate(("coverage", "conflict", "agreement"))
        ],
        "Coverage, conflict and agreement with the combined label, per source",
    )
    return _section(
        "sources",
        "Source diagnostics",
        f'<p class="note">On {_cell(diagnostics.get("rows"))} rows spread over the input.</p>',
        chart,
        _table(["source", *keys], rows, "diagnostics"),
    )


def _similarity(manifest: Mapping[str, Any]) -> str:
    """Per embedding source that recorded it (jobs of at most 40 labels), the cosine of each
    pair of labels' prompts as a heat map."""
    labels = [label["name"] for label in manifest["labels"]]
    charts = [
        svg.similarity_heatmap(
            labels,
            source["prompt_cosine"],
            f"Prompt cosine of each pair of labels, source {source.get('name')}",
            SIMILAR_PROMPT_COSINE,
        )
        for source in manifest["sources"]
        if len(source.get("prompt_cosine") or []) == len(labels)
    ]
    if not charts:
        return ""
    return _section(
        "similarity",
        "Label similarity",
        '<p class="note">Cosine of the closest prompts of each pair of labels, as the model '
        f"embeds them; outlined: at least {SIMILAR_PROMPT_COSINE}, labels it will often confuse."
        "</p>",
        *charts,
    )


def _refinement(manifest: Mapping[str, Any]) -> str:
    """Per refined source and label: the rows its prototype came from, and how far its
    reference moved (cosine between the prompt embedding and the refined one)."""
    refinement = manifest.get("refinement") or {}
    if not refinement:
        return ""
    rows: list[tuple[object, ...]] = []
    for name, record in refinement.items():
        if "skipped" in record:
            rows.append((name, "-", None, None, f"skipped: {record['skipped']}"))
            continue
        settings = (
            f"passes {record['passes']}, weight {record['weight']}, "
            f"top_fraction {record['top_fraction']}"
        )
        for label, figures in record["labels"].items():
            rows.append((name, label, figures["rows"], figures["cosine"], settings))
    return _section(
        "refinement",
        "Refinement",
        '<p class="note">Each label\'s reference embeddings moved toward the mean embedding of '
        "the rows the source predicts as that label most confidently; cosine 1.000: unmoved.</p>",
        _table(["source", "label", "rows", "cosine", "settings"], rows, "refinement"),
    )


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _student(student: Mapping[str, Any] | None) -> str:
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
                Series(k, [float(r[k]) for r in rounds], COLORS[i], xs)
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
    table = _table(keys, [[r.get(k) for k in keys] for r in rounds], "student")
    return _section("student", "Student model", chart, table)


def _review(manifest: Mapping[str, Any]) -> str:
    files = manifest.get("files", {})
    listed = [
        (name, entry.get("rows")) for name, entry in files.items() if name.startswith("review.")
    ]
    if not listed:
        return ""
    return _section(
        "review",
        "Review",
        '<p class="note">Abstained rows and rows whose sources disagree, with the predictions '
        "as pre-annotations, for Label Studio and Argilla; import the results with "
        "<code>zslabel import-reviews</code>.</p>",
        _table(["file", "rows"], listed),
    )
