"""The artifacts' keys and the summary's markdown, without a Prefect server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prefect.types.names import raise_on_name_alphanumeric_dashes_only

from zslabel.config import load_job
from zslabel.flows.artifacts import (
    ArtifactKeys,
    default_name,
    job_slug,
    location_uri,
    summary_markdown,
)
from zslabel.runner import RunResult, run_job
from zslabel.summary import format_run


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("tickets", "tickets"),
        ("Tickets ES.v2", "tickets-es-v2"),
        ("étiquettes_2024", "etiquettes-2024"),
        ("--out--", "out"),
        ("???", "job"),
        ("", "job"),
        ("x" * 60 + "-y", "x" * 48),
    ],
)
def test_job_slug(name: str, slug: str) -> None:
    assert job_slug(name) == slug
    for key in vars(ArtifactKeys.for_job(slug)).values():
        # Prefect's own rule for artifact keys: it raises ValueError on anything else.
        assert raise_on_name_alphanumeric_dashes_only(key) == key


def test_artifacts_are_named_after_the_job_file_else_the_output_folder() -> None:
    assert default_name("/jobs/tickets.yaml", "/data/out") == "tickets"
    assert default_name(None, "/data/out/strict") == "strict"
    assert default_name(None, "s3://bucket/labels/") == "labels"
    assert ArtifactKeys.for_job("tickets").summary == "zslabel-tickets-summary"


def test_links_are_file_uris_for_paths_and_uris_as_they_are(tmp_path: Path) -> None:
    assert location_uri(str(tmp_path / "a b")) == f"file://{tmp_path}/a%20b"
    assert location_uri("s3://bucket/out/report.html") == "s3://bucket/out/report.html"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import make_texts

    root = tmp_path_factory.mktemp("artifacts")
    pq.write_table(pa.table({"text": [*make_texts(30), None]}), root / "data.parquet")
    (root / "job.yaml").write_text(
        "input: {path: data.parquet}\nlabels: [sports, 'a|b', finance]\n"
        "sources: [{kind: fake}]\nselection: {min_margin: 0.05}\noutput: {dir: out}\n"
    )
    return run_job(load_job(root / "job.yaml"), progress=False)


def test_the_summary_is_markdown_tables(result: RunResult) -> None:
    text = summary_markdown(result, format_run(result))
    counts = result.manifest["counts"]
    assert text.startswith("## zslabel: 31 rows labeled\n")
    assert "Labeled 31 rows of" in text  # the summary's opening line, kept
    status = dict(_table(text, "| status | rows | share | reasons |"))
    assert status["invalid"] == "1 | 3.2 % | null_text 1"
    assert status["accepted"].startswith(f"{counts['status']['accepted']} |")
    classes = dict(_table(text, "| class | accepted | abstained |"))
    assert set(classes) == {"sports", "a\\|b", "finance"}  # a pipe cannot split the row
    mean = counts["classes"]["sports"]["mean_confidence_accepted"]
    assert classes["sports"].split(" | ")[2] == f"{mean:.3f}"
    thresholds = dict(_table(text, "| setting | value |"))
    assert thresholds["min_margin"] == "0.05"
    assert thresholds["per_class_top_fraction"] == str(
        result.manifest["selection"]["per_class_top_fraction"]
    )
    assert "thresholds:" not in text  # said once, as a table
    assert dict(_table(text, "| item | value |"))["model"] == "fake"
    assert text.endswith(f"[{result.output_dir}]({result.output_dir.as_uri()})")


def _warnings(text: str) -> list[str]:
    if "### Warnings" not in text:
        return []
    return text.split("### Warnings\n\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_warnings_get_a_section_of_their_own(result: RunResult) -> None:
    summary = format_run(result)
    stated = [line.strip() for line in summary.splitlines() if line.strip().startswith("warning:")]
    summary += "\n  warning: 100% of sampled texts are in Spanish (es)"
    warnings = _warnings(summary_markdown(result, summary))
    assert len(warnings) == len(stated) + 1  # each of the summary's warnings, one bullet each
    assert warnings[-1] == "- 100% of sampled texts are in Spanish (es)"
    assert all(line.startswith("- ") and "warning:" not in line for line in warnings)


def test_a_summary_of_another_layout_is_kept_whole(result: RunResult) -> None:
    text = summary_markdown(result, "Labeled 31 rows\n\n  something: new")
    assert "| something | new |" in text
    assert "| sports |" in text  # the tables come from the manifest all the same


def _table(text: str, header: str) -> list[tuple[str, str]]:
    """The rows of the markdown table whose header starts with ``header``: (first cell, rest)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first, rest = re.split(r"(?<!\\) \| ", line.strip("| "), maxsplit=1)
        rows.append((first, rest))
    return rows
