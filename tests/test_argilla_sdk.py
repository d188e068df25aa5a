"""zslabel's Argilla records against the ``argilla`` SDK's own models, and its export back in.

Why the SDK and not the server: an Argilla 2.x server needs Elasticsearch (or OpenSearch) next
to it, too heavy to start in a test. The SDK is the code that turns ``review.argilla.jsonl``
into what a server receives (``Record.from_dict``, then the server's record model from
``api_model()``), and the code that writes the export people bring back
(``dataset.records.to_json``), so both ends are checked with the real package. What only a
server checks (a suggested value that is no label, metadata outside the settings) is checked
against the SDK's settings objects. The SDK runs in the review tools' side environment
(:mod:`tests.review_tools`) through ``tests/argilla_sdk_check.py``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import load_job
from zslabel.review import ARGILLA_FILE, HUMAN_REVIEW
from zslabel.review.argilla import from_argilla
from zslabel.runner import run_job

from .review_tools import side_program

CHECK = Path(__file__).with_name("argilla_sdk_check.py")
LABELS = ["R&D", "Sci/Tech", "envío"]
JOB = """\
input: {{path: input.parquet, text_column: text, id_column: doc_id}}
labels: {labels}
sources: [{{kind: fake}}, {{kind: fake, seed: 5, name: second}}]
selection: {{per_class_top_fraction: 0.5}}
output: {{dir: out}}
"""


def rows(folder: Path) -> list[dict[str, Any]]:
    labeled: list[dict[str, Any]] = pq.read_table(folder / "labeled.parquet").to_pylist()
    return labeled


@pytest.mark.slow
def test_argilla_records_validate_with_the_sdk_and_its_export_comes_back(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    python = side_program("python")
    doc_ids = [f"doc-{i:03d}" if i % 4 else f'envío/{i} & "q"' for i in range(40)]
    texts = [f"ticket {i}: some words here {i * 7}" for i in range(len(doc_ids))]
    write_parquet({"text": texts, "doc_id": doc_ids})
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(labels=json.dumps(LABELS)), encoding="utf-8")
    first = run_job(load_job(job))
    review = first.output_dir / ARGILLA_FILE
    records = [json.loads(line) for line in review.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 7
    export = tmp_path / "argilla-export.json"

    checked = subprocess.run(
        [str(python), str(CHECK), str(review), json.dumps(LABELS), str(export)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    summary = json.loads(checked.stdout.strip().splitlines()[-1])
    assert summary["records"] == summary["validated"] == len(records)

    # The SDK's export: five submitted answers, a draft it writes without its status.
    exported = json.loads(export.read_text(encoding="utf-8"))
    assert [r["id"] for r in exported] == [r["id"] for r in records]
    draft = exported[5]
    assert "status" not in draft["responses"]["label"][0]
    assert draft["status"] == "pending"

    assert main(["import-reviews", str(export), "--job", str(job)]) == 0
    out = capsys.readouterr().out
    assert "Stored 5 review(s)" in out
    human = {r["id"]: r["responses"]["label"][0]["value"] for r in exported[:5]}
    second = run_job(load_job(job))
    reviewed = {r["doc_id"]: r for r in rows(second.output_dir) if r["zs_reason"] == HUMAN_REVIEW}
    assert {k: r["zs_label"] for k, r in reviewed.items()} == human
    assert second.counts["reviews"]["applied"] == 5


def test_a_response_without_status_counts_only_on_a_completed_record() -> None:
    """``Record.to_dict`` (argilla 2.8) drops each response's status, keeping the record's."""
    response = {"value": "R&D", "user_id": "u1"}
    record: dict[str, Any] = {
        "id": "a",
        "fields": {"text": "x"},
        "metadata": {"zs_key": "a"},
        "responses": {"label": [response]},
    }
    assert from_argilla(record)[2] == ["R&D"]  # no record status: an export without statuses
    assert from_argilla({**record, "status": "completed"})[2] == ["R&D"]
    assert from_argilla({**record, "status": "pending"})[2] == []
    # A response's own status wins.
    submitted = {"label": [{**response, "status": "submitted"}]}
    assert from_argilla({**record, "status": "pending", "responses": submitted})[2] == ["R&D"]
    draft = {"label": [{**response, "status": "draft"}]}
    assert from_argilla({**record, "status": "completed", "responses": draft})[2] == []
