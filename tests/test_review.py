"""The review loop: export for Label Studio / Argilla, import the answers, use them next run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.config import JobConfig, load_job
from zslabel.errors import InputError
from zslabel.review import (
    ARGILLA_FILE,
    HUMAN_REVIEW,
    LABEL_STUDIO_FILE,
    Reviews,
    apply_reviews,
    load_reviews,
    match_reviews,
)
from zslabel.review.importing import import_reviews
from zslabel.review.reading import read_review_file
from zslabel.runner import LabelingJob, run_job
from zslabel.selection import ABSTAINED, ACCEPTED, INVALID, Predictions, Selection

from .conftest import LABELS

JOB = """\
input: {{path: {input}, text_column: text, id_column: doc_id}}
labels: [sports, weather, finance]
sources:
  - {{kind: fake}}
  - {{kind: fake, seed: 5, name: second}}
selection: {{per_class_top_fraction: 0.5}}
output: {{dir: out}}
"""


def rows(folder: Path) -> list[dict[str, Any]]:
    labeled: list[dict[str, Any]] = pq.read_table(folder / "labeled.parquet").to_pylist()
    return labeled


def conflicting(row: dict[str, Any]) -> bool:
    labels = {row["zs_source_fake_label"], row["zs_source_second_label"]} - {None}
    return len(labels) > 1


@pytest.fixture
def job_file(tmp_path: Path, write_parquet: Callable[..., Path]) -> Path:
    texts: list[str | None] = [f"ticket {i}: some words here {i * 3}" for i in range(90)]
    texts[10] = None
    path = write_parquet({"text": texts, "doc_id": [f"t{i}" for i in range(90)]})
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(input=path.name))
    return job


def label_studio_answers(folder: Path, answers: dict[str, list[str]]) -> Path:
    """The review file as Label Studio exports it once people annotated some tasks."""
    tasks = json.loads((folder / LABEL_STUDIO_FILE).read_text())
    exported = []
    for i, task in enumerate(tasks):
        given = answers.get(task["data"]["zs_key"], [])
        annotations = [
            {
                "id": 100 + i * 10 + j,
                "was_cancelled": False,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
            }
            for j, label in enumerate(given)
        ]
        exported.append({"id": i + 1, **task, "annotations": annotations})
    path = folder.parent / "label-studio-export.json"
    path.write_text(json.dumps(exported))
    return path


def test_review_files_hold_abstained_and_conflicting_rows_with_predictions(
    job_file: Path,
) -> None:
    result = run_job(load_job(job_file))
    labeled = rows(result.output_dir)
    expected = [
        r
        for r in labeled
        if r["zs_status"] == "abstained" or (r["zs_status"] == "accepted" and conflicting(r))
    ]
    assert any(r["zs_status"] == "accepted" for r in expected)  # conflicts are exported too
    tasks = json.loads((result.output_dir / LABEL_STUDIO_FILE).read_text())
    assert sorted(t["data"]["zs_key"] for t in tasks) == sorted(r["doc_id"] for r in expected)
    # Most useful first (tests/test_review_order.py checks the order itself).
    order = [(-t["data"]["zs_priority"], t["data"]["zs_row"]) for t in tasks]
    assert order == sorted(order)
    first = tasks[0]
    row = next(r for r in expected if r["doc_id"] == first["data"]["zs_key"])
    assert first["data"]["text"] == row["text"]
    combined = first["predictions"][0]
    assert combined["score"] == pytest.approx(row["zs_confidence"], abs=1e-4)
    assert combined["result"] == [
        {
            "from_name": "label",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [row["zs_label"]]},
        }
    ]
    assert [p["model_version"] for p in first["predictions"]] == [
        "zslabel-mean",
        "zslabel-fake",
        "zslabel-second",
    ]
    records = [
        json.loads(line) for line in (result.output_dir / ARGILLA_FILE).read_text().splitlines()
    ]
    assert [r["id"] for r in records] == [t["data"]["zs_key"] for t in tasks]
    assert [r["metadata"]["zs_priority"] for r in records] == [
        t["data"]["zs_priority"] for t in tasks
    ]
    assert records[0]["fields"] == {"text": row["text"]}
    assert records[0]["suggestions"] == {
        "label": {
            "value": row["zs_label"],
            "score": pytest.approx(row["zs_confidence"], abs=1e-4),
            "agent": "zslabel-mean",
        }
    }
    assert result.manifest["files"][ARGILLA_FILE]["rows"] == len(expected)


def test_reviewed_rows_come_back_accepted_with_the_human_label(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_job(load_job(job_file))
    abstained = [r for r in rows(first.output_dir) if r["zs_status"] == "abstained"]
    target, other = abstained[0], abstained[1]
    human = next(label for label in LABELS if label != target["zs_label"])
    export = label_studio_answers(
        first.output_dir, {target["doc_id"]: [human], other["doc_id"]: [other["zs_label"]]}
    )

    assert main(["import-reviews", str(export), "--job", str(job_file)]) == 0
    out = capsys.readouterr().out
    assert "Reviews: 2 matched, 0 unmatched, 0 duplicate (keys checked against the 90 rows" in out
    assert "Stored 2 review(s)" in out

    # The job asks for its reviews to calibrate the sources (by default they do not).
    job_file.write_text(job_file.read_text() + "calibration: {reviews: true}\n")
    second = run_job(load_job(job_file))
    by_id = {r["doc_id"]: r for r in rows(second.output_dir)}
    reviewed = by_id[target["doc_id"]]
    assert reviewed["zs_status"] == "accepted"
    assert reviewed["zs_label"] == human
    assert reviewed["zs_confidence"] == 1.0
    assert reviewed["zs_margin"] == 1.0
    assert reviewed["zs_reason"] == HUMAN_REVIEW
    assert reviewed["zs_split"] in {"train", "validation", "test"}
    split = pq.read_table(second.output_dir / f"{reviewed['zs_split']}.parquet").to_pylist()
    assert [r["zs_label"] for r in split if r["doc_id"] == target["doc_id"]] == [human]
    # Reviewed rows are not sent for review again, and (opted in) they calibrate the sources.
    tasks = json.loads((second.output_dir / LABEL_STUDIO_FILE).read_text())
    assert target["doc_id"] not in {t["data"]["zs_key"] for t in tasks}
    calibration = second.manifest["combine"]["calibration"]
    assert calibration["reviews"] == 2
    assert calibration["gold"] is None
    assert sum(r["zs_reason"] == HUMAN_REVIEW for r in by_id.values()) == 2
    # Counted as accepted for a reason, not among the abstain reasons.
    assert second.counts["accepted_reasons"] == {HUMAN_REVIEW: 2}
    # ("store" also names where the job's reviews are kept.)
    assert {k: v for k, v in second.counts["reviews"].items() if k != "store"} == {
        "stored": 2,
        "applied": 2,
        "invalid_rows": 0,
        "unmatched": 0,
    }
    assert HUMAN_REVIEW not in second.counts["abstain_reasons"]


def test_argilla_export_imports_through_the_output_folder(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_job(load_job(job_file))
    lines = (first.output_dir / ARGILLA_FILE).read_text().splitlines()
    records = [json.loads(line) for line in lines[:3]]
    records[0]["responses"] = {"label": [{"value": "finance", "user_id": "u1"}]}
    records[1]["responses"] = {"label": [{"value": "sports", "user_id": "u1", "status": "draft"}]}
    records[2]["responses"] = {
        "label": [{"value": "sports", "user_id": "u1"}, {"value": "weather", "user_id": "u2"}]
    }
    export = first.output_dir.parent / "argilla.jsonl"
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n")

    assert main(["import-reviews", str(export), "--out", str(first.output_dir)]) == 0
    out = capsys.readouterr().out
    assert "Stored 1 review(s) (skipped: annotators disagree 1, no answer 1)" in out

    # Stored with the job (beside its file), which the output folder's manifest names.
    reviews = load_reviews(job_file.with_name("job.reviews.parquet"), LABELS)
    assert reviews is not None
    assert reviews.keys == [records[0]["id"]]
    assert reviews.label.tolist() == [LABELS.index("finance")]
    assert reviews.texts == [records[0]["fields"]["text"]]


def test_an_unknown_label_is_an_error_naming_the_file_and_row(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_job(load_job(job_file))
    tasks = json.loads((first.output_dir / LABEL_STUDIO_FILE).read_text())
    keys = [t["data"]["zs_key"] for t in tasks]
    export = label_studio_answers(first.output_dir, {keys[0]: ["sports"], keys[2]: ["cooking"]})

    assert main(["import-reviews", str(export), "--job", str(job_file)]) == 2
    err = capsys.readouterr().err
    assert str(export) in err
    assert (
        f"record 2 (task id 3) (row key '{keys[2]}'): label 'cooking' is not a label of the job"
        in err
    )
    assert not (first.output_dir / ".zslabel" / "reviews.parquet").exists()


def test_every_invalid_record_is_listed_at_once_and_skip_invalid_stores_the_others(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user's trial took three rounds of hand edits, one error each: an unknown label, an
    empty choice list and a label in other letter case. Now one error lists what is invalid;
    an empty choice list is no answer (as an annotation without a result is), and a label in
    other letter case is the job's label."""
    first = run_job(load_job(job_file))
    tasks = json.loads((first.output_dir / LABEL_STUDIO_FILE).read_text())
    keys = [t["data"]["zs_key"] for t in tasks]
    answers = {keys[0]: ["sports"], keys[1]: ["cooking"], keys[2]: ["Weather"], keys[3]: ["x"]}
    export = label_studio_answers(first.output_dir, answers)
    exported = json.loads(export.read_text())
    exported[3]["annotations"][0]["result"][0]["value"]["choices"] = []
    exported[4]["annotations"] = [
        {"result": [{"type": "choices", "value": {"choices": ["sports", "finance"]}}]}
    ]
    export.write_text(json.dumps(exported))
    store = job_file.with_name("job.reviews.parquet")

    assert main(["import-reviews", str(export), "--job", str(job_file)]) == 2
    err = capsys.readouterr().err
    assert "2 invalid record(s), nothing imported" in err
    assert f"record 1 (task id 2) (row key '{keys[1]}'): label 'cooking'" in err
    assert f"record 4 (task id 5) (row key '{keys[4]}'): expected one choice" in err
    assert "--skip-invalid" in err
    assert not store.exists()

    args = ["import-reviews", str(export), "--job", str(job_file), "--skip-invalid"]
    assert main(args) == 0
    out = capsys.readouterr().out
    # Unanswered: the empty choice list, and the tasks after the five annotated ones.
    assert f"Stored 2 review(s) (skipped: invalid 2, no answer {len(tasks) - 4})" in out
    assert "read in the job's letter case: Weather -> weather 1" in out
    assert out.count("not stored (invalid): ") == 2
    reviews = load_reviews(store, LABELS)
    assert reviews is not None
    assert dict(zip(reviews.keys, reviews.label.tolist(), strict=True)) == {
        keys[0]: LABELS.index("sports"),
        keys[2]: LABELS.index("weather"),
    }


def test_a_newer_review_of_the_same_row_wins(job_file: Path) -> None:
    first = run_job(load_job(job_file))
    key = json.loads((first.output_dir / LABEL_STUDIO_FILE).read_text())[0]["data"]["zs_key"]
    work = first.output_dir / ".zslabel"
    import_reviews(
        [label_studio_answers(first.output_dir, {key: ["sports"]})],
        work,
        LABELS,
        output_dir=first.output_dir,
    )
    summary = import_reviews(
        [label_studio_answers(first.output_dir, {key: ["weather", "weather", "sports"]})],
        work,
        LABELS,
        output_dir=first.output_dir,
    )
    assert summary.total == 1
    reviews = load_reviews(work, LABELS)
    assert reviews is not None
    assert reviews.label.tolist() == [LABELS.index("weather")]


def test_cancelled_annotations_and_foreign_files_are_handled(tmp_path: Path) -> None:
    export = tmp_path / "ls.json"
    cancelled = {
        "data": {"text": "x", "zs_key": 4},
        "annotations": [
            {
                "was_cancelled": True,
                "result": [{"type": "choices", "value": {"choices": ["sports"]}}],
            }
        ],
    }
    export.write_text(json.dumps([cancelled]))
    assert read_review_file(export, LABELS) == []
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps([{"text": "x", "label": "sports"}]))
    with pytest.raises(InputError, match="record 0: neither a Label Studio task"):
        read_review_file(foreign, LABELS)
    no_key = tmp_path / "nokey.json"
    no_key.write_text(json.dumps([{"data": {"text": "x"}, "annotations": []}]))
    with pytest.raises(InputError, match="record 0: no 'zs_key'"):
        read_review_file(no_key, LABELS)


def test_rows_are_keyed_by_row_number_without_an_id_column(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    config = fake_job(texts_file)
    first = run_job(config)
    task = json.loads((first.output_dir / LABEL_STUDIO_FILE).read_text())[0]
    assert task["data"]["zs_key"] == str(task["data"]["zs_row"])
    export = label_studio_answers(first.output_dir, {task["data"]["zs_key"]: ["finance"]})
    import_reviews([export], first.output_dir / ".zslabel", LABELS, output_dir=first.output_dir)
    second = run_job(config)
    row = rows(second.output_dir)[task["data"]["zs_row"]]
    assert (row["zs_label"], row["zs_status"], row["zs_reason"]) == (
        "finance",
        "accepted",
        HUMAN_REVIEW,
    )


def predictions_and_selection() -> tuple[Predictions, Selection]:
    predictions = Predictions(
        label=np.array([0, 1, -1, 2]),
        confidence=np.array([0.9, 0.4, np.nan, 0.5]),
        margin=np.array([0.5, 0.1, np.nan, 0.2]),
        has_text=np.array([True, True, False, True]),
    )
    selection = Selection(
        status=np.array([ACCEPTED, ABSTAINED, INVALID, ABSTAINED], dtype=np.int8),
        reason=np.array([None, "below_min_margin", None, "below_min_margin"], dtype=object),
        class_cutoffs={},
    )
    return predictions, selection


def test_apply_reviews_fixes_reviewed_rows_only() -> None:
    predictions, selection = predictions_and_selection()
    reviews = Reviews(
        keys=["b", "c", "zz"], texts=["t", None, "u"], label=np.array([2, 0, 1], dtype=np.int64)
    )
    matched = match_reviews(reviews, [(0, pa.array(["a", "b"])), (2, pa.array(["c", "d"]))])
    assert matched.rows.tolist() == [1, 2]
    assert (matched.stored, matched.unmatched) == (3, 1)

    fixed, chosen = apply_reviews(predictions, selection, matched)
    assert fixed.label.tolist() == [0, 2, -1, 2]
    assert fixed.confidence[1] == 1.0
    assert fixed.margin[1] == 1.0
    assert chosen.status.tolist() == [ACCEPTED, ACCEPTED, INVALID, ABSTAINED]  # invalid stays
    assert chosen.reason.tolist() == [None, HUMAN_REVIEW, None, "below_min_margin"]
    assert selection.status[1] == ABSTAINED  # the inputs are not modified


def test_apply_reviews_without_reviews_changes_nothing() -> None:
    predictions, selection = predictions_and_selection()
    assert apply_reviews(predictions, selection, None) == (predictions, selection)


def test_matched_reviews_without_reviews_never_reads_the_ids(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = LabelingJob(load_job(job_file))

    def ids() -> None:
        raise AssertionError("ids read without reviews")

    monkeypatch.setattr(job, "_id_batches", ids)
    assert job.matched_reviews() is None


def test_apply_reviews_with_row_numbers_and_multi_label_sets() -> None:
    predictions, selection = predictions_and_selection()
    assigned = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 1]], dtype=bool)
    predictions = Predictions(
        predictions.label,
        predictions.confidence,
        predictions.margin,
        predictions.has_text,
        assigned,
    )
    reviews = Reviews(keys=["1", "7"], texts=["t", "u"], label=np.array([0, 1], dtype=np.int64))
    matched = match_reviews(reviews, 4)
    assert matched.unmatched == 1  # row 7 of 4
    fixed, chosen = apply_reviews(predictions, selection, matched)
    assert fixed.assigned is not None
    assert fixed.assigned[1].tolist() == [True, False, False]
    assert chosen.status.tolist() == [ACCEPTED, ACCEPTED, INVALID, ABSTAINED]


def test_review_records_of_every_shape_and_spelling_are_read_or_listed(tmp_path: Path) -> None:
    """A reviewer's findings: an NFD answer in other letter case, labels that fold alike,
    Argilla's empty and multi-choice answers, records of another shape, and a bad second file
    reported only after the first was fixed."""
    import unicodedata

    from zslabel.review.summary import ImportSummary

    def task(i: int, choices: object) -> dict[str, object]:
        result = [{"type": "choices", "value": {"choices": choices}}]
        return {"id": i, "data": {"zs_key": f"k{i}", "text": f"t{i}"},
                "annotations": [{"result": result}]}  # fmt: skip

    def argilla(i: int, value: object) -> dict[str, object]:
        return {"id": f"a{i}", "fields": {"text": f"a{i}"}, "metadata": {"zs_key": f"a{i}"},
                "responses": {"label": [{"value": value, "status": "submitted"}]}}  # fmt: skip

    labels = ["envío", "Software", "software", "hardware"]
    records = [
        task(1, [unicodedata.normalize("NFD", "ENVÍO")]),  # NFD, other case: envío
        task(2, ["HARDWARE"]),  # folds to one label
        task(3, ["SOFTWARE"]),  # folds to two
        {"id": 4, "data": [1, 2]},  # another shape
        argilla(5, []),  # no answer
        argilla(6, ["hardware", "envío"]),  # several choices
    ]
    first = tmp_path / "first.json"
    first.write_text(json.dumps(records))
    summary = ImportSummary()
    reviews = read_review_file(first, labels, summary, skip_invalid=True)
    assert {r.key: r.label for r in reviews} == {"k1": "envío", "k2": "hardware"}
    assert summary.skipped == {"invalid": 3, "no answer": 1}
    assert summary.case_folded == {"ENVÍO -> envío": 1, "HARDWARE -> hardware": 1}
    listed = "\n".join(summary.invalid)
    assert (
        "record 2 (task id 3) (row key 'k3'): label 'SOFTWARE' is, letter case aside, several "
        "labels of the job (Software, software)"
    ) in listed
    assert "record 3 (task id 4): cannot read the record" in listed
    assert "record 5: expected one choice per response, got ['hardware', 'envío']" in listed

    second = tmp_path / "second.json"
    second.write_text(json.dumps([task(7, ["cooking"])]))
    good = tmp_path / "good.json"
    good.write_text(json.dumps([task(8, ["hardware"])]))
    with pytest.raises(InputError) as raised:
        import_reviews([good, first, second], tmp_path / "store.parquet", labels,
                       output_dir=tmp_path / "none")  # fmt: skip
    message = str(raised.value)
    assert "4 invalid record(s), nothing imported" in message
    assert f"{first}: record 2" in message
    assert f"{second}: record 0 (task id 7) (row key 'k7'): label 'cooking'" in message
