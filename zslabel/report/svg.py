"""Small inline-SVG charts for the HTML report: strings in, an ``<svg>`` string out.

Hand-written SVG keeps the report one self-contained file that works offline (no JavaScript, no
CDN). Every chart is an ``<svg class="plot" data-plot=KIND>`` so that tests and readers can find
it; colours come from CSS classes in the report's stylesheet. Every text that came from the user
(label names, source names) is escaped here, at the point it enters markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 150, 20, 28, 44
SHOWN_CHARS = 22


@dataclass(frozen=True)
class Series:
    """One named set of values; ``css`` picks its colour (``s0`` .. ``s5`` in the stylesheet)."""

    name: str
    values: Sequence[float]
    css: str = "s0"
    xs: Sequence[float] = ()  # for line charts: the x of each value


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def short(text: str) -> str:
    """Long label names are cut on the axis; the full name stays in a tooltip."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "\u2026"


def num(value: float) -> str:
    """Coordinates with one decimal: enough for a screen, and the same bytes on every run."""
    return f"{value:.1f}"


def _open(kind: str, height: float, title: str) -> str:
    return (
        f'<svg class="plot" data-plot="{esc(kind)}" role="img" aria-label="{esc(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {num(height)}" '
        f'width="{WIDTH}" height="{num(height)}"><title>{esc(title)}</title>'
    )


@dataclass(frozen=True)
class Key:
    """One legend entry: a name and how its mark is drawn (``box``: a bar's colour, ``line``:
    a series line, ``marker``: the red cut line, ``reference``: the dashed y = x, ``point``: a
    dot)."""

    name: str
    css: str
    shape: str = "box"


LEGEND_ROW = 16


def _legend_layout(keys: Sequence[Key], x0: float) -> list[tuple[float, int]]:
    """Each entry's x and legend row: entries wrap onto a new row rather than leave the chart."""
    places, x, row = [], x0, 0
    for key in keys:
        width = 24 + 7 * len(key.name)
        if x > x0 and x + width > WIDTH - 4:
            x, row = x0, row + 1
        places.append((x, row))
        x += width
    return places


def _legend_rows(keys: Sequence[Key], x0: float) -> int:
    return 1 + max((row for _, row in _legend_layout(keys, x0)), default=0)


def _legend(keys: Sequence[Key], x0: float, y: float) -> str:
    """The legend, its first row's baseline at ``y``: a mark and the name of every entry."""
    parts = []
    for key, (x, row) in zip(keys, _legend_layout(keys, x0), strict=True):
        top = y + LEGEND_ROW * row
        mid = top - 4
        if key.shape == "box":
            mark = (
                f'<rect class="{esc(key.css)}" x="{num(x)}" y="{num(top - 9)}" '
                'width="10" height="10"/>'
            )
        elif key.shape == "point":
            mark = f'<circle class="{esc(key.css)}" cx="{num(x + 5)}" cy="{num(mid)}" r="4"/>'
        else:  # a line: a series, the cut marker or the reference diagonal
            css = f"legend-line {key.css}" if key.shape == "line" else key.css
            mark = (
                f'<line class="{esc(css)}" x1="{num(x - 2)}" x2="{num(x + 12)}" '
                f'y1="{num(mid)}" y2="{num(mid)}"/>'
            )
        parts.append(
            f'<g class="legend-entry">{mark}<text x="{num(x + 14)}" y="{num(top)}">'
            f"{esc(key.name)}</text></g>"
        )
    return "".join(parts)


def _keys(series: Sequence[Series], shape: str = "box") -> list[Key]:
    return [Key(s.name, s.css, shape) for s in series]


def bar_chart(categories: Sequence[str], series: Sequence[Series], title: str) -> str:
    """Horizontal bars, one row per category, the series side by side within a row."""
    row = 10 + 14 * len(series)
    keys = _keys(series)
    extra = LEGEND_ROW * (_legend_rows(keys, LEFT) - 1)
    height = TOP + row * len(categories) + BOTTOM + extra
    top = max((v for s in series for v in s.values), default=0.0) or 1.0
    span = WIDTH - LEFT - RIGHT - 50
    parts = [_open("bar", height, title)]
    for i, category in enumerate(categories):
        y0 = TOP + i * row
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{num(y0 + row / 2 + 4)}" text-anchor="end">'
            f"<title>{esc(category)}</title>{esc(short(category))}</text>"
        )
        for j, s in enumerate(series):
            value = float(s.values[i])
            width = span * value / top
            y = y0 + 5 + 14 * j
            parts.append(
                f'<rect class="{esc(s.css)}" x="{LEFT}" y="{num(y)}" width="{num(width)}" '
                f'height="12"><title>{esc(category)}, {esc(s.name)}: {value:g}</title></rect>'
                f'<text x="{num(LEFT + width + 4)}" y="{num(y + 10)}">{value:g}</text>'
            )
    parts.append(_legend(keys, LEFT, height - 12 - extra))
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    edges: Sequence[float],
    series: Sequence[Series],
    title: str,
    marker: float | None = None,
    marker_name: str = "",
) -> str:
    """Stacked bars over the bins ``edges[i]..edges[i+1]`` of [edges[0], edges[-1]], and an
    optional vertical ``marker`` line; the legend names every series and the marker."""
    left = 50.0
    keys = _keys(series) + ([Key(marker_name, "marker", "marker")] if marker is not None else [])
    extra = LEGEND_ROW * (_legend_rows(keys, left) - 1)
    height = 190.0 + extra
    plot_w, plot_h = WIDTH - left - RIGHT, height - TOP - BOTTOM - extra
    lo, hi = edges[0], edges[-1]
    bins = len(edges) - 1
    totals = [sum(float(s.values[b]) for s in series) for b in range(bins)]
    top = max(totals, default=0.0) or 1.0

    def x_of(value: float) -> float:
        return left + plot_w * (value - lo) / (hi - lo)

    parts = [_open("histogram", height, title), _axes(left, plot_w, plot_h)]
    for b in range(bins):
        base = 0.0
        for s in series:
            value = float(s.values[b])
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - h
            parts.append(
                f'<rect class="{esc(s.css)}" x="{num(x_of(edges[b]) + 0.5)}" y="{num(y)}" '
                f'width="{num(x_of(edges[b + 1]) - x_of(edges[b]) - 1)}" height="{num(h)}">'
                f"<title>{esc(s.name)} {edges[b]:.2f}-{edges[b + 1]:.2f}: {value:g}</title></rect>"
            )
            base += value
    if marker is not None:
        x = x_of(min(max(marker, lo), hi))
        parts.append(
            f'<line class="marker" x1="{num(x)}" x2="{num(x)}" y1="{TOP}" y2="{num(TOP + plot_h)}">'
            f"<title>{esc(marker_name)} {marker:.3f}</title></line>"
        )
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text class="axis" x="{num(x_of(tick))}" y="{num(TOP + plot_h + 14)}" '
            f'text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text class="axis" x="{num(left - 6)}" y="{TOP + 4}" text-anchor="end">{top:g}</text>'
    )
    parts.append(_legend(keys, left, height - 8 - extra))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Sequence[Series],
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
    points: Sequence[tuple[float, float, str]] = (),
    diagonal_name: str = "perfect calibration (accuracy = confidence)",
) -> str:
    """Lines with dots through each series' (xs, values); optional y = x reference and points.
    The legend names every series, the reference line and each point."""
    left = 60.0
    keys = [
        *_keys(series, "line"),
        *([Key(diagonal_name, "reference", "reference")] if diagonal else []),
        *(Key(name, "point", "point") for _, _, name in points),
    ]
    extra = LEGEND_ROW * (_legend_rows(keys, left) - 1)
    height = 300.0 + extra
    plot_w, plot_h = WIDTH - left - RIGHT, height - TOP - BOTTOM - 14 - extra
    (x0, x1), (y0, y1) = x_range, y_range
    x_span, y_span = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def px(x: float) -> float:
        return left + plot_w * (x - x0) / x_span

    def py(y: float) -> float:
        return TOP + plot_h * (1 - (y - y0) / y_span)

    def at(x: float, y: float) -> str:
        return f"{num(px(x))},{num(py(y))}"

    parts = [_open("line", height, title), _axes(left, plot_w, plot_h)]
    if diagonal:
        parts.append(f'<polyline class="reference" points="{at(x0, y0)} {at(x1, y1)}"/>')
    for s in series:
        pairs = [(float(x), float(y)) for x, y in zip(s.xs, s.values, strict=True)]
        if not pairs:
            continue
        line = " ".join(at(x, y) for x, y in pairs)
        parts.append(f'<polyline class="line {esc(s.css)}" points="{line}"/>')
        parts.extend(
            f'<circle class="{esc(s.css)}" cx="{num(px(x))}" cy="{num(py(y))}" r="2.5">'
            f"<title>{esc(s.name)}: {x:.3g}, {y:.3g}</title></circle>"
            for x, y in pairs
        )
    parts.extend(
        f'<circle class="point" cx="{num(px(x))}" cy="{num(py(y))}" r="5"><title>{esc(name)}: '
        f"{x:.3f}, {y:.3f}</title></circle>"
        for x, y, name in points
    )
    parts.extend(
        f'<text class="axis" x="{num(px(tick))}" y="{num(TOP + plot_h + 14)}" '
        f'text-anchor="middle">{tick:g}</text>'
        for tick in (x0, (x0 + x1) / 2, x1)
    )
    parts.extend(
        f'<text class="axis" x="{num(left - 6)}" y="{num(py(tick) + 4)}" '
        f'text-anchor="end">{tick:g}</text>'
        for tick in (y0, (y0 + y1) / 2, y1)
    )
    parts.append(
        f'<text class="axis" x="{num(left + plot_w / 2)}" y="{num(TOP + plot_h + 30)}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
        f'<text class="axis" x="14" y="{num(TOP + plot_h / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {num(TOP + plot_h / 2)})">{esc(y_label)}</text>'
    )
    parts.append(_legend(keys, left, height - 8 - extra))
    parts.append("</svg>")
    return "".join(parts)


def _column_names(names: Sequence[str], cell: float, top: float) -> list[str]:
    """A matrix's column labels, slanted above its cells."""
    parts = []
    for j, name in enumerate(names):
        x = LEFT + cell * (j + 0.5)
        parts.append(
            f'<text class="axis" x="{num(x)}" y="{num(top - 6)}" '
            f'transform="rotate(-45 {num(x)} {num(top - 6)})"><title>{esc(name)}</title>'
            f"{esc(short(name))}</text>"
        )
    return parts


def _row_name(name: str, y: float, cell: float) -> str:
    """A matrix's row label, left of the row that starts at ``y``."""
    return (
        f'<text class="axis" x="{LEFT - 6}" y="{num(y + cell / 2 + 4)}" text-anchor="end">'
        f"<title>{esc(name)}</title>{esc(short(name))}</text>"
    )


def heatmap(
    rows: Sequence[str], cols: Sequence[str], matrix: Sequence[Sequence[int]], title: str
) -> str:
    """A count matrix (rows: gold, columns: predicted), shaded by each cell's share of its row."""
    cell = max(18.0, min(48.0, (WIDTH - LEFT - RIGHT) / max(1, len(cols))))
    top = 90.0
    height = top + cell * len(rows) + 20
    parts = [_open("heatmap", height, title)]
    parts += _column_names(cols, cell, top)
    for i, name in enumerate(rows):
        y = top + cell * i
        parts.append(_row_name(name, y, cell))
        total = sum(matrix[i]) or 1
        for j, count in enumerate(matrix[i]):
            share = count / total
            parts.append(
                f'<rect class="cell" x="{num(LEFT + cell * j)}" y="{num(y)}" width="{num(cell)}" '
                f'height="{num(cell)}" fill-opacity="{0.08 + 0.92 * share:.3f}"><title>gold '
                f"{esc(name)}, predicted {esc(cols[j])}: {count}</title></rect>"
            )
            if cell >= 26:
                parts.append(
                    f'<text class="{"cell-dark" if share > 0.5 else "cell-light"}" '
                    f'x="{num(LEFT + cell * (j + 0.5))}" y="{num(y + cell / 2 + 4)}" '
                    f'text-anchor="middle">{count}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def similarity_heatmap(
    labels: Sequence[str], cosine: Sequence[Sequence[float]], title: str, flag_at: float
) -> str:
    """A labels x labels cosine matrix, one cell per pair, shaded by the cosine (0 to 1); cells
    off the diagonal at or above ``flag_at`` are outlined (class ``flagged``)."""
    n = len(labels)
    cell = min(48.0, (WIDTH - LEFT - RIGHT) / max(1, n))
    top = 90.0
    height = top + cell * n + 20
    parts = [_open("similarity", height, title)]
    parts += _column_names(labels, cell, top)
    for i, name in enumerate(labels):
        y = top + cell * i
        parts.append(_row_name(name, y, cell))
        for j, value in enumerate(cosine[i]):
            shade = min(max(float(value), 0.0), 1.0)
            css = "cell flagged" if i != j and value >= flag_at else "cell"
            parts.append(
                f'<rect class="{css}" x="{num(LEFT + cell * j)}" y="{num(y)}" '
                f'width="{num(cell)}" height="{num(cell)}" '
                f'fill-opacity="{0.05 + 0.95 * shade:.3f}">'
                f"<title>{esc(name)} ~ {esc(labels[j])}: cosine {float(value):.3f}</title></rect>"
            )
            if cell >= 30:
                parts.append(
                    f'<text class="{"cell-dark" if shade > 0.5 else "cell-light"}" '
                    f'x="{num(LEFT + cell * (j + 0.5))}" y="{num(y + cell / 2 + 4)}" '
                    f'text-anchor="middle">{float(value):.2f}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def _axes(left: float, plot_w: float, plot_h: float) -> str:
    bottom = TOP + plot_h
    return (
        f'<polyline class="frame" points="{num(left)},{TOP} {num(left)},{num(bottom)} '
        f'{num(left + plot_w)},{num(bottom)}"/>'
    )
