"""The review loop through the real Label Studio: project, import, annotations, export, rerun.

Label Studio (from PyPI, in its own virtual environment: it pins its own dependencies) runs on
SQLite, on 127.0.0.1 and a free port, with its data under pytest's tmp folder. Everything goes
through its HTTP API, as a script of a review team would: create a project from the labeling
config the README gives for zslabel's review file, import ``review.label_studio.json``, submit
annotations, export the project as JSON; then ``zslabel import-reviews`` the export and rerun.

Label Studio comes from the side environment of :mod:`tests.review_tools` (``make labelstudio``);
once it is there, a Label Studio that does not start is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import load_job
from zslabel.review import HUMAN_REVIEW, LABEL_STUDIO_CONFIG_FILE, LABEL_STUDIO_FILE
from zslabel.runner import run_job

from .review_tools import side_program

pytestmark = pytest.mark.slow

# Migrations of a fresh SQLite database take about a minute on 2 cores.
START_TIMEOUT_S = 300
USER, PASSWORD, TOKEN = "zslabel@example.com", "zslabel-test-password", "zslabeltesttoken0123456789"

# Label names that a hand-written XML config gets wrong (an '&' must be escaped) and non-ASCII.
LABELS = ["R&D", "Sci/Tech", "envío"]
JOB = """\
input: {{path: {input}, text_column: text, id_column: doc_id}}
labels: {labels}
sources: [{{kind: fake}}, {{kind: fake, seed: 5, name: second}}]
selection: {{per_class_top_fraction: 0.5, min_above_chance: null}}
output: {{dir: out}}
"""
# The fake sources score near chance: without the confidence floor the top fraction accepts some
# rows on which they disagree, so that accepted rows go out for review too.
# Above 2**53: as JSON numbers, neighbours would come back from a browser as one number.
BIG = 2**60 + 1
IDS: dict[str, list[Any]] = {
    "string ids": [f"doc-{i:03d}" if i % 4 else f'envío/{i} & "q" <{i}>' for i in range(40)],
    "large integer ids": [BIG + i for i in range(40)],
}


@dataclass
class LabelStudio:
    url: str
    log: Path

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            exc.close()
            pytest.fail(f"Label Studio: {method} {path}: HTTP {exc.code}: {detail}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log_tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    binary = side_program("label-studio")
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_USERNAME": USER,
        "LABEL_STUDIO_PASSWORD": PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        # Since 1.19 an organization takes only JWT tokens unless legacy ones are enabled.
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "DJANGO_DB": "sqlite",
        "DATABASE_NAME": str(data / "label_studio.sqlite3"),
        # Loopback only: no check of PyPI for a newer version, no usage analytics.
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
    }
    log = data / "label-studio.log"
    command = [
        str(binary),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=data, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    studio = LabelStudio(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"Label Studio exited with {process.returncode} before it answered:\n"
                    + log_tail(log)
                )
            try:
                with urllib.request.urlopen(studio.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass  # not listening yet: poll again until the deadline
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Label Studio did not answer on {studio.url} within {START_TIMEOUT_S} s:\n"
                    + log_tail(log)
                )
            time.sleep(1)
        yield studio
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def rows(folder: Path) -> list[dict[str, Any]]:
    labeled: list[dict[str, Any]] = pq.read_table(folder / "labeled.parquet").to_pylist()
    return labeled


def all_tasks(studio: LabelStudio, project: int) -> list[dict[str, Any]]:
    page = studio.call("GET", f"/api/tasks?project={project}&page_size=10000")
    tasks: list[dict[str, Any]] = page["tasks"] if isinstance(page, dict) else page
    return tasks


@pytest.mark.parametrize("ids", list(IDS), ids=list(IDS))
def test_reviews_round_trip_through_label_studio(
    ids: str,
    label_studio: LabelStudio,
    tmp_path: Path,
    write_parquet: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc_ids = IDS[ids]
    texts = [f"ticket {i}: some words here {i * 7}" for i in range(len(doc_ids))]
    write_parquet({"text": texts, "doc_id": doc_ids})
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(input="input.parquet", labels=json.dumps(LABELS)), encoding="utf-8")
    first = run_job(load_job(job))
    before = {r["doc_id"]: r for r in rows(first.output_dir)}
    review_file = first.output_dir / LABEL_STUDIO_FILE
    exported = json.loads(review_file.read_text(encoding="utf-8"))
    # Abstained rows, and accepted ones whose two sources disagree.
    for_review = [
        r
        for r in before.values()
        if r["zs_status"] == "abstained"
        or (
            r["zs_status"] == "accepted"
            and r["zs_source_fake_label"] != r["zs_source_second_label"]
        )
    ]
    assert len(exported) == len(for_review) >= 6
    assert any(r["zs_status"] == "accepted" for r in for_review)
    # Most useful first: the priority zslabel wrote, high to low, ties by row number.
    order = [(-t["data"]["zs_priority"], t["data"]["zs_row"]) for t in exported]
    assert order == sorted(order)

    # A project from the labeling config, and the review file imported as it is.
    project = label_studio.call(
        "POST",
        "/api/projects",
        # The labeling config zslabel wrote beside the tasks, as a user would paste it.
        {
            "title": f"zslabel {ids}",
            "label_config": (first.output_dir / LABEL_STUDIO_CONFIG_FILE).read_text(),
        },
    )["id"]
    imported = label_studio.call("POST", f"/api/projects/{project}/import", exported)
    assert imported["task_count"] == len(exported)
    # The combined verdict and each source's, pre-annotated.
    assert imported["prediction_count"] == sum(len(t["predictions"]) for t in exported)
    assert imported["prediction_count"] >= 2 * len(exported)
    tasks = all_tasks(label_studio, project)
    assert len(tasks) == len(exported)
    by_key = {t["data"]["zs_key"]: t for t in tasks}
    assert sorted(by_key) == sorted(str(r["doc_id"]) for r in for_review)

    # Annotations: four other labels than zslabel's, one agreeing, one skipped (cancelled).
    keys = [t["data"]["zs_key"] for t in exported]
    by_row_key = {str(i): r for i, r in before.items()}
    human: dict[str, str] = {}
    for n, key in enumerate(keys[:6]):
        predicted = by_row_key[key]["zs_label"]
        label = predicted if n == 4 else next(x for x in LABELS if x != predicted)
        cancelled = n == 5
        label_studio.call(
            "POST",
            f"/api/tasks/{by_key[key]['id']}/annotations",
            {
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
                "was_cancelled": cancelled,
            },
        )
        if not cancelled:
            human[key] = label

    export = label_studio.call(
        "GET", f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=true"
    )
    assert len(export) == len(exported)
    annotated = [t for t in export if t["annotations"]]
    assert len(annotated) == 6
    # Keys and texts come back exactly as zslabel wrote them.
    assert sorted(t["data"]["zs_key"] for t in export) == sorted(keys)
    written = {t["data"]["zs_key"]: t["data"]["text"] for t in exported}
    assert all(written[t["data"]["zs_key"]] == t["data"]["text"] for t in export)
    # Label Studio keeps the data fields the labeling config does not use, the priority too.
    priority = {t["data"]["zs_key"]: t["data"]["zs_priority"] for t in exported}
    assert all(priority[t["data"]["zs_key"]] == t["data"]["zs_priority"] for t in export)
    export_file = tmp_path / "label-studio-export.json"
    export_file.write_text(json.dumps(export), encoding="utf-8")

    assert main(["import-reviews", str(export_file), "--job", str(job)]) == 0
    out = capsys.readouterr().out
    assert (
        f"Reviews: 5 matched, 0 unmatched, 0 duplicate (keys checked against the {len(doc_ids)}"
        in out
    )
    assert "Stored 5 review(s)" in out

    second = run_job(load_job(job))
    after = {r["doc_id"]: r for r in rows(second.output_dir)}
    assert sorted(after, key=str) == sorted(before, key=str)  # ids unchanged, none rounded
    reviewed = {str(i): r for i, r in after.items() if r["zs_reason"] == HUMAN_REVIEW}
    assert {k: r["zs_label"] for k, r in reviewed.items()} == human
    assert all(
        r["zs_status"] == "accepted" and r["zs_confidence"] == 1.0 for r in reviewed.values()
    )
    # ("store" also names where the job's reviews are kept.)
    assert {k: v for k, v in second.counts["reviews"].items() if k != "store"} == {
        "stored": 5,
        "applied": 5,
        "invalid_rows": 0,
        "unmatched": 0,
    }
    # The reviewed rows are not sent for review again; the skipped one is.
    again = {
        t["data"]["zs_key"] for t in json.loads((second.output_dir / LABEL_STUDIO_FILE).read_text())
    }
    assert not again & set(human)
    assert keys[5] in again
    figures = os.environ.get("ZSLABEL_ROUND_TRIP_LOG")
    if figures:  # the round trip's figures, for a report
        with open(figures, "a", encoding="utf-8") as handle:
            handle.write(
                f"{ids}: {len(exported)} rows exported for review, {imported['task_count']} "
                f"tasks imported, {len(annotated)} annotated (1 cancelled), {len(export)} "
                f"exported, 5 imported by zslabel, {second.counts['reviews']['applied']} "
                "applied on rerun\n"
            )
