"""report.html: what it shows, that it is escaped, bounded and deterministic."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.errors import InputError
from zslabel.evaluate import evaluate
from zslabel.export import file_sha256
from zslabel.report import CARD, REPORT, svg, write_report
from zslabel.report.class_rows import SHOWN_CHARS, pick_class_rows, shorten
from zslabel.report.class_sections import class_rows_section
from zslabel.report.stats import HISTOGRAM_BINS, collect
from zslabel.runner import run_job

from .conftest import LABELS

DOCUMENTS = (REPORT, CARD, "review.label_studio.json", "review.argilla.jsonl")


class Tables(HTMLParser):
    """Every <table class=...>'s cells, by class, and every <svg data-plot=...> kind."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.plots: list[str] = []
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("class") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in {"td", "th"}:
            self._cell = []
        elif tag == "svg":
            self.plots.append(attributes.get("data-plot") or "")
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Tables:
    tables = Tables()
    tables.feed(path.read_text(encoding="utf-8"))
    return tables


@pytest.fixture
def varied_input(write_parquet: Callable[..., Path]) -> Path:
    """Texts without label names, so the fake source's confidences spread out; a gold column."""
    texts: list[str | None] = [f"item {i}: plain words number {i * 7}" for i in range(120)]
    texts[3] = None
    gold = [LABELS[(i * 5) % 3] for i in range(120)]
    return write_parquet({"text": texts, "topic": gold}, row_group_size=40)


def test_run_writes_the_report_card_and_review_files_with_the_data(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    files = result.manifest["files"]
    for name in DOCUMENTS:
        assert (result.output_dir / name).is_file()
        assert files[name]["sha256"] == file_sha256(result.output_dir / name)
    on_disk = json.loads((result.output_dir / "manifest.json").read_text())
    assert set(on_disk["files"]) >= set(DOCUMENTS)
    assert not list(result.output_dir.glob(".staging-*"))


def test_report_shows_the_counts_of_the_manifest(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    page = parse(result.output_dir / REPORT)
    classes = result.counts["classes"]
    shown = {row[0]: row[1:3] for row in page.tables["classes"][1:]}
    assert shown == {
        name: [str(classes[name]["accepted"]), str(classes[name]["abstained"])] for name in LABELS
    }
    status = {row[0]: row[1] for row in page.tables["status"][1:]}
    assert status == {k: f"{v:,}" for k, v in result.counts["status"].items()}
    assert page.plots.count("histogram") == len(LABELS)
    assert page.scripts == 0  # no JavaScript: nothing to break, nothing to load


def test_histograms_count_every_accepted_and_abstained_row(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    stats = collect(result.output_dir / "labeled.parquet", LABELS)
    assert stats.histograms.shape == (len(LABELS), 2, HISTOGRAM_BINS)
    for k, name in enumerate(LABELS):
        assert stats.histograms[k, 0].sum() == result.counts["classes"][name]["accepted"]
        assert stats.histograms[k, 1].sum() == result.counts["classes"][name]["abstained"]
    assert stats.rows == 120


def test_rendering_reads_only_the_columns_it_plots(
    varied_input: Path, fake_job: Callable[..., JobConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_job(fake_job(varied_input))
    seen: list[list[str]] = []
    original = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(kwargs["columns"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    write_report(result.output_dir, gold_column="topic")
    scores = [f"zs_score_{name}" for name in LABELS]
    assert seen == [
        ["zs_label", "zs_confidence", "zs_status", "topic"],
        # The example rows: keys first, then the texts and scores of the picked rows only.
        ["zs_row", "zs_label", "zs_confidence", "zs_status", "zs_reason"],
        ["zs_row", "zs_label", "zs_confidence", "zs_reason", "text", *scores],
    ]


def test_rerun_writes_identical_documents_and_regenerating_changes_nothing(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    first = run_job(fake_job(varied_input))
    before = {name: (first.output_dir / name).read_bytes() for name in DOCUMENTS}
    manifest = (first.output_dir / "manifest.json").read_bytes()
    second = run_job(fake_job(varied_input))
    assert {name: (second.output_dir / name).read_bytes() for name in DOCUMENTS} == before
    # The report a run writes is the one `zslabel report DIR` renders from the files.
    write_report(second.output_dir)
    assert (second.output_dir / REPORT).read_bytes() == before[REPORT]
    assert (second.output_dir / "manifest.json").read_bytes() == manifest


def test_gold_sections_agree_with_evaluate(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    before = parse(result.output_dir / REPORT)
    assert "heatmap" not in before.plots

    path = write_report(result.output_dir, gold_column="topic")

    page = parse(path)
    figures = evaluate(result.output_dir, "topic")
    summary = {row[0]: row[1:] for row in page.tables["gold-summary"][1:]}
    assert summary["accepted"][0] == str(figures["accepted_rows"])
    assert float(summary["accepted"][1]) == pytest.approx(figures["accepted"]["accuracy"], abs=1e-3)
    assert float(summary["accepted"][2]) == pytest.approx(figures["accepted"]["macro_f1"], abs=1e-3)
    assert page.plots.count("heatmap") == 1
    assert page.plots.count("line") == 2  # coverage-accuracy and reliability
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert manifest["files"][REPORT]["sha256"] == file_sha256(path)


def test_confusion_matrix_counts_the_accepted_rows(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    stats = collect(result.output_dir / "labeled.parquet", LABELS, "topic")
    assert stats.gold is not None
    table = pq.read_table(result.output_dir / "labeled.parquet").to_pylist()
    accepted = [r for r in table if r["zs_status"] == "accepted"]
    expected = [[0] * 3 for _ in LABELS]
    for row in accepted:
        expected[LABELS.index(row["topic"])][LABELS.index(row["zs_label"])] += 1
    assert stats.gold.confusion == expected
    assert stats.gold.accepted_rows == len(accepted)


def test_gold_labels_the_job_does_not_know_are_shown_as_errors(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    texts = [f"text number {i}" for i in range(30)]
    path = write_parquet({"text": texts, "topic": ["sports"] * 29 + ["cooking"]})
    # Every row accepted: no fraction cut, and no confidence floor (the fake source is near chance).
    selection = {"per_class_top_fraction": 1.0, "min_above_chance": None}
    result = run_job(fake_job(path, selection=selection))
    stats = collect(result.output_dir / "labeled.parquet", LABELS, "topic")
    assert stats.gold is not None
    assert stats.gold.labels == [*LABELS, "cooking"]
    assert sum(stats.gold.confusion[3]) == 1
    text = write_report(result.output_dir, "topic").read_text()
    assert "Gold labels the job does not know: cooking" in text


def test_label_names_and_paths_are_escaped(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    hostile = ["<script>alert(1)</script>", 'a "quoted" & <b>bold</b>', "plain"]
    path = write_parquet({"text": [f"row {i} with words" for i in range(30)]})
    result = run_job(fake_job(path, labels=hostile))
    text = (result.output_dir / REPORT).read_text()
    assert "<script>" not in text
    assert "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;" in text
    assert parse(result.output_dir / REPORT).scripts == 0


def test_student_rounds_appear_when_the_student_wrote_metrics(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    assert "student" not in parse(result.output_dir / REPORT).tables
    metrics = result.output_dir / "student" / "metrics.json"
    metrics.parent.mkdir()
    rounds = [
        {"round": 0, "teacher": {"accuracy": 0.71}, "student_macro_f1": 0.64, "rows": 900},
        {"round": 1, "teacher": {"accuracy": 0.74}, "student_macro_f1": 0.69, "rows": 1200},
    ]
    metrics.write_text(json.dumps({"rounds": rounds}))
    page = parse(write_report(result.output_dir))
    table = page.tables["student"]
    assert table[0] == ["round", "teacher: accuracy", "student macro F1", "rows"]
    assert table[2] == ["1", "0.740", "0.690", "1,200"]
    assert page.plots.count("line") == 1  # fractions plotted by round; row counts only listed


def test_reliability_comes_from_the_calibration_data_without_gold(
    varied_input: Path, fake_job: Callable[..., JobConfig], write_parquet: Callable[..., Path]
) -> None:
    gold = write_parquet(
        {"text": [f"gold text {i}" for i in range(9)], "label": LABELS * 3}, name="gold.parquet"
    )
    result = run_job(fake_job(varied_input, calibration={"gold": str(gold)}))
    text = (result.output_dir / REPORT).read_text()
    assert re.search(r'id="reliability".*data-plot="line"', text, re.S)
    assert "fake (calibrated)" in text


def test_report_of_a_folder_without_output_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"manifest.json: not found"):
        write_report(tmp_path)


def test_unknown_gold_column_is_an_error_naming_it(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    with pytest.raises(InputError, match="gold column 'nope' not found"):
        write_report(result.output_dir, "nope")


def test_label_similarity_heat_map_has_one_cell_per_label_pair(
    varied_input: Path,
    fake_job: Callable[..., JobConfig],
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedding = {"kind": "embedding", "model": str(tiny_model)}
    result = run_job(fake_job(varied_input, sources=[embedding]))
    cosine = result.manifest["sources"][0]["prompt_cosine"]
    assert [len(row) for row in cosine] == [len(LABELS)] * len(LABELS)
    assert all(cosine[k][k] == 1.0 for k in range(len(LABELS)))
    assert all(cosine[a][b] == cosine[b][a] for a in range(3) for b in range(3))
    text = (result.output_dir / REPORT).read_text()
    assert parse(result.output_dir / REPORT).plots.count("similarity") == 1
    chart = re.search(r'<svg[^>]*data-plot="similarity".*?</svg>', text)
    assert chart is not None
    cells = re.findall(r'<rect class="cell[^"]*"[^>]*><title>([^<]*)</title>', chart.group(0))
    assert len(cells) == len(LABELS) ** 2
    assert f"{LABELS[0]} ~ {LABELS[1]}: cosine {cosine[0][1]:.3f}" in cells

    # Past MAX_COSINE_MATRIX_LABELS labels the manifest keeps no matrix, the report no map.
    monkeypatch.setattr("zslabel.sources.embedding.MAX_COSINE_MATRIX_LABELS", 2)
    again = run_job(fake_job(varied_input, sources=[embedding]))
    assert "prompt_cosine" not in again.manifest["sources"][0]
    assert 'data-plot="similarity"' not in (again.output_dir / REPORT).read_text()


def test_no_similarity_section_without_an_embedding_source(
    varied_input: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(varied_input))
    assert "similarity" not in parse(result.output_dir / REPORT).plots


def example_rows_file(path: Path) -> Path:
    """Rows with known confidences (ties included) and per-label scores, in row groups of 3."""
    # (label, confidence, status, reason); scores: the label's is the confidence, the runner-up
    # gets what is left minus 0.1, the third label 0.1.
    rows = [
        ("sports", 0.90, "accepted", None),  # 0
        ("sports", 0.70, "accepted", None),  # 1
        ("sports", 0.90, "accepted", None),  # 2: ties row 0, comes after it
        ("sports", 0.60, "abstained", "below_threshold"),  # 3
        ("sports", 1.00, "accepted", "human_review"),  # 4: by people, no example
        ("weather", 0.50, "abstained", "below_threshold"),  # 5
        (None, None, "invalid", "empty_text"),  # 6
        ("sports", 0.65, "abstained", "below_threshold"),  # 7
        ("sports", 0.80, "accepted", None),  # 8
    ]
    scores: dict[str, list[float | None]] = {name: [] for name in LABELS}
    for label, confidence, _, _ in rows:
        others = [n for n in LABELS if n != label]
        for name in LABELS:
            if label is None or confidence is None:
                value = None
            elif name == label:
                value = confidence
            elif name == others[0]:
                value = max(0.0, 1.0 - confidence - 0.1)
            else:
                value = 0.1
            scores[name].append(value)
    table = pa.table(
        {
            "zs_row": pa.array(range(len(rows)), pa.int64()),
            "text": [f"text <b>{i}</b> " + "é" * (300 if i == 8 else 3) for i in range(len(rows))],
            "zs_label": [r[0] for r in rows],
            "zs_confidence": pa.array([r[1] for r in rows], pa.float32()),
            "zs_status": [r[2] for r in rows],
            "zs_reason": [r[3] for r in rows],
            **{f"zs_score_{n}": pa.array(v, pa.float32()) for n, v in scores.items()},
        }
    )
    pq.write_table(table, path, row_group_size=3)
    return path


def test_example_rows_are_picked_by_confidence_with_ties_to_the_earlier_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zslabel.report.class_rows.BATCH_ROWS", 2)  # across batches too
    path = example_rows_file(tmp_path / "labeled.parquet")
    picked = pick_class_rows(path, LABELS, "text", shown=2)
    assert list(picked) == ["sports", "weather"]  # finance has no rows
    sports = picked["sports"]
    assert [r.row for r in sports.most_confident] == [0, 2]
    assert [r.row for r in sports.least_confident] == [1, 8]
    assert [r.row for r in sports.abstained] == [7, 3]
    runner = sports.abstained[0]
    assert runner.runner_up == "weather"  # the first other label got the larger score
    assert runner.margin == pytest.approx(0.65 - 0.25, abs=1e-6)
    weather = picked["weather"]
    assert (weather.most_confident, [r.row for r in weather.abstained]) == ([], [5])
    long_text = sports.least_confident[1].text
    assert len(long_text) == SHOWN_CHARS + 1
    assert long_text.endswith("\u2026")


def test_example_rows_are_escaped_on_the_page(tmp_path: Path) -> None:
    path = example_rows_file(tmp_path / "labeled.parquet")
    manifest = {"labels": [{"name": n, "descriptions": [f"<i>{n}</i>"]} for n in LABELS]}
    page = class_rows_section(
        {**manifest, "sources": [{"name": "e", "kind": "embedding", "template": "<{label}>"}]},
        pick_class_rows(path, LABELS, "text"),
    )
    assert "<b>" not in page
    assert "text &lt;b&gt;0&lt;/b&gt;" in page
    assert "<i>" not in page
    assert "&lt;i&gt;sports&lt;/i&gt;" in page
    assert "<code>&lt;{label}&gt;</code>" in page


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("abc def", 10, "abc def"),
        ("a  b\n\tc", 10, "a b c"),  # whitespace runs become one space
        ("abcde\u0301fgh", 5, "abcd\u2026"),  # e + combining acute stays whole: cut before it
        ("ab\U0001f468\u200d\U0001f469\u200d\U0001f467xyz", 4, "ab\u2026"),  # a ZWJ family
        ("ab\U0001f44d\U0001f3fdxyz", 3, "ab\u2026"),  # thumbs up + skin tone
    ],
)
def test_shortened_texts_never_split_a_character(text: str, limit: int, shown: str) -> None:
    assert shorten(text, limit) == shown


def test_legends_name_every_series_marker_reference_and_point() -> None:
    histogram = svg.histogram(
        [0.0, 0.5, 1.0], [svg.Series("accepted", [1, 2])], "t", marker=0.4, marker_name="cutoff"
    )
    assert re.findall(r'<g class="legend-entry">.*?<text[^>]*>(.*?)</text>', histogram) == [
        "accepted",
        "cutoff",
    ]
    line = svg.line_chart(
        [svg.Series(f"series number {i}", [0.5], "s0", [0.5]) for i in range(6)],
        "t",
        "x",
        "y",
        diagonal=True,
        points=[(0.5, 0.5, "this selection")],
    )
    names = re.findall(r'<g class="legend-entry">.*?<text[^>]*>(.*?)</text>', line)
    assert names == [
        *(f"series number {i}" for i in range(6)),
        "perfect calibration (accuracy = confidence)",
        "this selection",
    ]
    # Too many for one row: the legend wraps inside the chart instead of running off it.
    xs = [float(x) for x in re.findall(r'<g class="legend-entry"><\w+ [^>]*?x1?="([\d.]+)"', line)]
    assert max(xs) < svg.WIDTH
    assert (
        len(set(re.findall(r'<g class="legend-entry">.*?<text x="[\d.]+" y="([\d.]+)"', line))) > 1
    )
