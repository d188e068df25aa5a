"""Reviews belong to the job: kept beside its job file, applied by every output of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import load_job
from zslabel.review import HUMAN_REVIEW, LABEL_STUDIO_FILE, REVIEWS_FILE, REVIEWS_SCHEMA
from zslabel.review.apply import NO_ROW_OF_INPUT, ignored_store_reason

from .conftest import LABELS, make_texts

JOB = """\
input: {{path: ../data/tickets.parquet, text_column: text, id_column: doc_id}}
labels: [sports, weather, finance]
sources: [{{kind: fake}}]
selection: {{per_class_top_fraction: 0.5}}
output: {{dir: ../out/tickets}}
{extra}"""


@pytest.fixture
def job_file(tmp_path: Path, write_parquet: Callable[..., Path]) -> Path:
    texts = make_texts(60)
    write_parquet(
        {"text": texts, "doc_id": [f"t{i}" for i in range(60)]}, name="data/tickets.parquet"
    )
    job = tmp_path / "jobs" / "tickets.yaml"
    job.parent.mkdir()
    job.write_text(JOB.format(extra=""), encoding="utf-8")
    return job


def store_of(job: Path) -> Path:
    return job.with_name("tickets.reviews.parquet")


def label(job: Path, out: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    """``zslabel label JOB --out OUT``; the manifest, with the printed summary as ``_out``."""
    assert main(["label", str(job), "--out", str(out), "--no-progress", *flags]) == 0
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["_out"] = capsys.readouterr().out
    return manifest


def answers(out: Path, count: int) -> tuple[Path, dict[str, str]]:
    """A Label Studio export of ``out``'s first ``count`` review tasks, each answered with a
    label other than the predicted one; and the answers by key."""
    tasks = json.loads((out / LABEL_STUDIO_FILE).read_text(encoding="utf-8"))[:count]
    given = {}
    exported = []
    for i, task in enumerate(tasks):
        predicted = task["predictions"][0]["result"][0]["value"]["choices"][0]
        human = next(name for name in LABELS if name != predicted)
        given[task["data"]["zs_key"]] = human
        result = [{"from_name": "label", "to_name": "text", "type": "choices",
                   "value": {"choices": [human]}}]  # fmt: skip
        exported.append({"id": i + 1, **task, "annotations": [{"id": i, "result": result}]})
    path = out.parent / f"{out.name}-export.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    return path, given


def import_reviews(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["import-reviews", *argv]) == 0
    return capsys.readouterr().out


def human_labels(out: Path) -> dict[str, str]:
    rows = pq.read_table(out / "labeled.parquet").to_pylist()
    return {r["doc_id"]: r["zs_label"] for r in rows if r["zs_reason"] == HUMAN_REVIEW}


def write_store(path: Path, reviews: dict[str, str], texts: dict[str, str]) -> None:
    """A review store as import-reviews writes it (older versions in <out>/.zslabel)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"key": k, "text": texts[k], "label": v, "file": "x.json"} for k, v in reviews.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=REVIEWS_SCHEMA), path)


def texts_by_id(out: Path) -> dict[str, str]:
    return {r["doc_id"]: r["text"] for r in pq.read_table(out / "labeled.parquet").to_pylist()}


def test_a_job_file_keeps_its_store_beside_itself(job_file: Path) -> None:
    assert load_job(job_file).review.store == str(store_of(job_file).resolve())
    job_file.write_text(JOB.format(extra="review: {store: ../shared/t.parquet}\n"))
    assert load_job(job_file).review.store == str(job_file.parent / "../shared/t.parquet")


def test_reviews_imported_once_apply_to_every_output_of_the_job(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    strict, loose = tmp_path / "out" / "strict", tmp_path / "out" / "loose"
    label(job_file, strict, capsys)
    export, given = answers(strict, 3)

    printed = import_reviews(capsys, str(export), "--job", str(job_file), "--out", str(strict))
    assert "Reviews: 3 matched, 0 unmatched" in printed
    assert f"3 in {store_of(job_file).resolve()}" in printed
    assert not (strict / ".zslabel" / REVIEWS_FILE).exists()  # not in the output folder

    for out, flags in ((strict, ()), (loose, ("--per-class-top-fraction", "0.9"))):
        manifest = label(job_file, out, capsys, *flags)
        assert human_labels(out) == given
        counts = manifest["counts"]["reviews"]
        assert (counts["store"], counts["applied"]) == (str(store_of(job_file).resolve()), 3)
        assert "not_applied" not in counts


def test_import_with_only_out_finds_the_store_in_the_manifest(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "strict"
    label(job_file, out, capsys)
    export, given = answers(out, 2)
    printed = import_reviews(capsys, str(export), "--out", str(out))
    assert f"2 in {store_of(job_file).resolve()}" in printed
    assert "note:" not in printed
    label(job_file, tmp_path / "out" / "other", capsys)
    assert human_labels(tmp_path / "out" / "other") == given


def test_a_store_at_the_old_place_is_read_with_a_notice_then_moved_on_import(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "strict"
    label(job_file, out, capsys)
    old = out / ".zslabel" / REVIEWS_FILE
    write_store(old, {"t1": "finance", "t2": "sports"}, texts_by_id(out))

    manifest = label(job_file, out, capsys)
    counts = manifest["counts"]["reviews"]
    assert counts["store"] == str(old)
    assert counts["move_to"] == str(store_of(job_file).resolve())
    assert counts["applied"] == 2
    assert human_labels(out) == {"t1": "finance", "t2": "sports"}
    assert (
        f"  reviews read from the old place {old}; move it to {store_of(job_file).resolve()}"
    ) in manifest["_out"]

    export, given = answers(out, 1)
    printed = import_reviews(capsys, str(export), "--job", str(job_file), "--out", str(out))
    assert f"Moved 2 earlier review(s) from the old place {old}" in printed
    assert not old.exists()
    stored = pq.read_table(store_of(job_file)).to_pylist()
    assert {r["key"]: r["label"] for r in stored} == {"t1": "finance", "t2": "sports", **given}
    manifest = label(job_file, out, capsys)
    assert "move_to" not in manifest["counts"]["reviews"]
    assert manifest["counts"]["reviews"]["applied"] == len(stored)


def test_an_old_store_beside_the_job_store_is_counted_as_not_applied(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "strict"
    label(job_file, out, capsys)
    texts = texts_by_id(out)
    write_store(store_of(job_file), {"t1": "finance", "nobody": "sports"}, {**texts, "nobody": "x"})
    old = out / ".zslabel" / REVIEWS_FILE
    write_store(old, {"t2": "sports", "t3": "sports", "t4": "sports"}, texts)

    manifest = label(job_file, out, capsys)
    counts = manifest["counts"]["reviews"]
    assert f"  reviews not applied: 3 in {old}: stored at the old place" in manifest["_out"]
    assert human_labels(out) == {"t1": "finance"}
    assert counts["applied"] == 1
    assert counts["not_applied"] == 1 + 3
    assert counts["not_applied_reasons"] == [
        {"reviews": 1, "reason": NO_ROW_OF_INPUT},
        {"reviews": 3, "reason": ignored_store_reason(counts["store"]), "store": str(old)},
    ]


def test_the_quick_form_keeps_its_reviews_in_the_output_work_folder(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data" / "tickets.parquet"
    # --dry-run: the model-free fake source, into quick-dry-run.
    argv = ["label", str(data), "--labels", ",".join(LABELS), "--id-column", "doc_id"]
    argv += ["--out", str(tmp_path / "quick"), "--dry-run", "--no-progress"]
    out = tmp_path / "quick-dry-run"
    assert main(argv) == 0
    capsys.readouterr()
    export, given = answers(out, 2)
    printed = import_reviews(capsys, str(export), "--out", str(out))
    assert f"2 in {out / '.zslabel' / REVIEWS_FILE}" in printed
    assert "note:" not in printed
    assert not store_of(job_file).exists()
    assert main(argv) == 0
    assert human_labels(out) == given
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["review"]["store"] is None


def test_an_older_manifest_keeps_the_reviews_in_its_output_and_says_how_to_move_them(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "strict"
    label(job_file, out, capsys)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    del manifest["config"]["review"]  # as versions before job stores wrote it
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    export, _ = answers(out, 1)
    printed = import_reviews(capsys, str(export), "--out", str(out))
    assert f"1 in {out / '.zslabel' / REVIEWS_FILE}" in printed
    assert "names no review store" in printed
    assert "import with --job JOB_FILE" in printed


def test_import_into_another_jobs_output_is_refused(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "strict"
    label(job_file, out, capsys)
    export, _ = answers(out, 1)
    other = job_file.with_name("other.yaml")
    other.write_text(JOB.format(extra="").replace("finance", "politics"), encoding="utf-8")
    assert main(["import-reviews", str(export), "--job", str(other), "--out", str(out)]) == 2
    assert "but the job" in capsys.readouterr().err
    assert not other.with_name("other.reviews.parquet").exists()


def test_a_store_that_is_not_parquet_is_refused(job_file: Path) -> None:
    job_file.write_text(JOB.format(extra="review: {store: reviews.csv}\n"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"review.store.*ending in \.parquet"):
        load_job(job_file)
