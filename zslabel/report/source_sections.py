"""The report's sections on the sources: diagnostics, label similarity and refinement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report import svg
from zslabel.report.blocks import COLORS, cell, readable, section, table
from zslabel.report.svg import Series
from zslabel.sources.distinct import SIMILAR_PROMPT_COSINE


def sources_section(manifest: Mapping[str, Any]) -> str:
    diagnostics = manifest.get("source_diagnostics") or {}
    per_source = diagnostics.get("sources") or {}
    if not per_source:
        return section(
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
    return section(
        "sources",
        "Source diagnostics",
        f'<p class="note">On {cell(diagnostics.get("rows"))} rows spread over the input.</p>',
        chart,
        table(["source", *map(readable, keys)], rows, "diagnostics"),
    )


def similarity_section(manifest: Mapping[str, Any]) -> str:
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
    return section(
        "similarity",
        "Label similarity",
        '<p class="note">Cosine of the closest prompts of each pair of labels, as the model '
        f"embeds them; outlined: at least {SIMILAR_PROMPT_COSINE}, labels it will often confuse."
        "</p>",
        *charts,
    )


def refinement_section(manifest: Mapping[str, Any]) -> str:
    """Per refined source and label: the rows its prototype came from, and how far its
    reference moved (cosine between the prompt embedding and the refined one)."""
    refinement = manifest.get("refinement") or {}
    if not refinement:
        return ""
    rows: list[tuple[object, ...]] = []
    for name, record in refinement.items():
        if "skipped" in record:
            rows.append((name, "-", None, None, None, f"skipped: {record['skipped']}"))
            continue
        settings = (
            f"passes {record['passes']}, weight {record['weight']}, "
            f"top_fraction {record['top_fraction']}"
        )
        for label, figures in record["labels"].items():
            note = settings
            if figures.get("kept_prompts") == "stray":
                note = "kept its prompts: the prompts gave it its rows with far less confidence"
            elif figures.get("left_out") == "stray":
                note = (
                    "these rows left out (the prompts gave them with far less confidence): "
                    "refined from earlier versions' rows"
                )
            confidence = figures.get("row_confidence")
            rows.append(
                (name, label, _prototype_rows(figures), confidence, figures["cosine"], note)
            )
    return section(
        "refinement",
        "Refinement",
        '<p class="note">Each label\'s reference embeddings moved toward the mean embedding of '
        "the rows the source predicts as that label most confidently; cosine 1.000: unmoved. "
        "Row confidence: the prompts' mean confidence in those rows; a label far below the "
        "others keeps its prompts (refine.stray_mads), or, in an incremental job, is refined "
        "from the earlier versions' rows alone. Rows: this run's, plus the earlier versions' "
        "an incremental job adds.</p>",
        table(
            ["source", "label", "rows", "row confidence", "cosine", "settings"],
            rows,
            "refinement",
        ),
    )


def _prototype_rows(figures: Mapping[str, Any]) -> int | str:
    """The rows cell: this run's count, or for an incremental version ``N + M earlier`` (``0 +
    M earlier (N left out)`` for a label whose rows of this run were left out as stray)."""
    own, earlier = int(figures["rows"]), figures.get("earlier_rows")
    if earlier is None:
        return own
    if figures.get("left_out") == "stray":
        return f"0 + {earlier:,} earlier ({own:,} left out)"
    return f"{own:,} + {earlier:,} earlier"
