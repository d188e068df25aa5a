"""The report as one HTML page: the manifest and the streamed counts in, a string out.

No JavaScript and no external resource: the page is inline CSS and inline SVG, so it opens
offline, in a mail attachment or a CI artifact viewer, and renders the same everywhere. Nothing
in it depends on the clock or the run id, so a rerun writes the same bytes.

The sections come from :mod:`~zslabel.report.run_sections`, :mod:`~zslabel.report.class_sections`,
:mod:`~zslabel.report.accuracy_sections`, :mod:`~zslabel.report.source_sections` and
:mod:`~zslabel.report.student_section`, built from :mod:`~zslabel.report.blocks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.report.accuracy_sections import gold_section, reliability_section
from zslabel.report.class_rows import ClassRows
from zslabel.report.class_sections import class_rows_section
from zslabel.report.drift_section import drift_section
from zslabel.report.run_sections import (
    classes_section,
    histograms_section,
    overview_section,
    review_section,
)
from zslabel.report.source_sections import (
    refinement_section,
    similarity_section,
    sources_section,
)
from zslabel.report.stats import ReportStats
from zslabel.report.student_section import student_section
from zslabel.report.svg import esc

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;max-width:100%}td,th{padding:2px 10px;
border-bottom:1px solid #eee;text-align:right;overflow-wrap:anywhere}th{overflow-wrap:normal}
td:first-child,th:first-child{text-align:left}.note{color:#666}
table.examples{width:100%;table-layout:fixed}.examples th:last-child,.examples td:last-child{
text-align:left;width:55%}.examples td{vertical-align:top}.class-rows h3{margin-bottom:.2em}
.class-rows h4{margin:.8em 0 0}.legend-line{stroke-width:2}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}.grid svg{width:480px;height:auto}
svg.plot{font:11px system-ui,sans-serif;max-width:100%;height:auto}
.s0{fill:#2b6cb0;stroke:#2b6cb0}.s1{fill:#dd6b20;stroke:#dd6b20}.s2{fill:#38a169;stroke:#38a169}
.s3{fill:#805ad5;stroke:#805ad5}.s4{fill:#d53f8c;stroke:#d53f8c}.s5{fill:#718096;stroke:#718096}
polyline.line{fill:none;stroke-width:2}.frame{fill:none;stroke:#999}
.reference{fill:none;stroke:#aaa;stroke-dasharray:4 3}.marker{stroke:#c53030;stroke-width:1.5}
.point{fill:#c53030}.cell{fill:#2b6cb0}.flagged{stroke:#c53030;stroke-width:2}.cell-dark{fill:#fff}.cell-light{fill:#222}
.axis{fill:#444}
"""


def render(
    manifest: Mapping[str, Any],
    stats: ReportStats,
    gold_column: str | None = None,
    student: Mapping[str, Any] | None = None,
    title: str = "zslabel report",
    examples: Mapping[str, ClassRows] | None = None,
) -> str:
    sections = [
        overview_section(manifest),
        classes_section(manifest),
        histograms_section(manifest, stats),
        class_rows_section(manifest, examples or {}),
        gold_section(stats, gold_column),
        reliability_section(manifest, stats),
        sources_section(manifest),
        similarity_section(manifest),
        refinement_section(manifest),
        student_section(student),
        drift_section(manifest),
        review_section(manifest),
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
