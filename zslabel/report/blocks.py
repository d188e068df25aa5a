"""The report page's building blocks: sections, tables and their cells, and the series colours."""

from __future__ import annotations

import re
from collections.abc import Sequence

from zslabel.report.svg import esc

COLORS = ("s0", "s1", "s2", "s3", "s4", "s5")
# Abbreviations a key spells in lower case, as a reader expects them.
WORDS = {"f1": "F1", "ece": "ECE", "nll": "NLL", "id": "ID", "macro": "macro"}


def readable(key: str) -> str:
    """A JSON key as words for a table header or a legend: ``teacher.accuracy`` ->
    ``teacher: accuracy``, ``student_macro_f1`` -> ``student macro F1``."""
    parts = [
        " ".join(WORDS.get(word, word) for word in re.split(r"[_\s]+", part) if word)
        for part in key.split(".")
    ]
    return ": ".join(p for p in parts if p)


def table(header: Sequence[str], rows: Sequence[Sequence[object]], css: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    attr = f' class="{esc(css)}"' if css else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return esc(value)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def section(anchor: str, heading: str, *content: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(heading)}</h2>{"".join(content)}</section>'
