"""The report's per-class section: what each label was described as, and rows of text it got."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report.blocks import section, table
from zslabel.report.class_rows import SHOWN_ROWS, ClassRows, ExampleRow
from zslabel.report.svg import esc

# Manifest keys of each source kind's prompt wording: the template, and the rendered prompts.
PROMPT_KEYS = (("template", "prompts"), ("hypothesis", "hypotheses"))


def class_rows_section(manifest: Mapping[str, Any], rows: Mapping[str, ClassRows]) -> str:
    """Per label: its descriptions, the prompt templates of the sources, and example rows."""
    if not rows:
        return ""
    blocks = [
        _class_block(k, label, manifest, rows.get(label["name"], ClassRows()))
        for k, label in enumerate(manifest["labels"])
    ]
    return section(
        "class-rows",
        "Rows per class",
        f'<p class="note">For each class: up to {SHOWN_ROWS} of its most and least confident '
        "accepted rows, and the most confident rows the selection set aside (abstained) with "
        "the label that came second; texts are shortened. Ties go to the earlier row. Rows "
        "labeled by people are not shown.</p>",
        *blocks,
    )


def _class_block(
    k: int, label: Mapping[str, Any], manifest: Mapping[str, Any], rows: ClassRows
) -> str:
    name = str(label["name"])
    descriptions = ", ".join(f"<q>{esc(d)}</q>" for d in label.get("descriptions") or [name])
    parts = [
        f'<div class="class-rows" id="class-{k}"><h3>{esc(name)}</h3>',
        f"<p>Described as {descriptions}.</p>",
        _prompts(name, manifest),
        _examples("Most confident accepted rows", rows.most_confident, "most-confident"),
        _examples("Least confident accepted rows", rows.least_confident, "least-confident"),
        _examples("Most confident abstained rows", rows.abstained, "abstained", runner_up=True),
        "</div>",
    ]
    return "".join(parts)


def _prompts(name: str, manifest: Mapping[str, Any]) -> str:
    lines = []
    for source in manifest["sources"]:
        for template_key, prompts_key in PROMPT_KEYS:
            if template_key not in source:
                continue
            prompts = (source.get(prompts_key) or {}).get(name) or []
            shown = "; ".join(f"<q>{esc(p)}</q>" for p in prompts)
            lines.append(
                f"<li>{esc(source.get('name'))} ({esc(source.get('kind'))}): template "
                f"<code>{esc(source[template_key])}</code>"
                + (f", prompts {shown}" if shown else "")
                + "</li>"
            )
    return f'<ul class="prompts">{"".join(lines)}</ul>' if lines else ""


def _examples(heading: str, rows: list[ExampleRow], css: str, runner_up: bool = False) -> str:
    if not rows:
        return f'<p class="note">{esc(heading)}: none.</p>'
    header = ["row", "confidence", *(["runner-up", "margin"] if runner_up else []), "text"]
    cells = [
        (
            r.key,
            r.confidence,
            *((r.runner_up, r.margin) if runner_up else ()),
            r.text,
        )
        for r in rows
    ]
    return f"<h4>{esc(heading)}</h4>" + table(header, cells, f"examples {css}")
