"""Review keys: a review matches exactly one row, or import-reviews and the run say it did not.

Every test goes through the command (``zslabel label`` / ``zslabel import-reviews``) on Parquet
inputs, with review exports simulated as a browser-based tool returns them: JSON numbers become
doubles (JavaScript), and text may come back in Unicode NFC.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.review import ARGILLA_FILE, HUMAN_REVIEW, LABEL_STUDIO_FILE, REVIEWS_FILE
from zslabel.review.apply import NO_ROW_OF_INPUT
from zslabel.rowkeys import EXACT_JSON_INTEGERS, key_strings, match_keys, row_key

from .conftest import LABELS, make_texts

# 19 digits, above 2**53: as doubles, BASE ... BASE + 127 are all one number.
BASE = 2**60
ROWS = 30
JOB = """\
input: {{path: {input}, text_column: text{id}}}
labels: [{labels}]
sources:
  - {{kind: fake}}
  - {{kind: fake, seed: 5, name: second}}
selection: {{per_class_top_fraction: 0.5}}
calibration: {{reviews: true}}
output: {{dir: out}}
"""
ID_KINDS: dict[str, Callable[[int], Any] | None] = {
    "int64 above 2**53": lambda i: BASE + i,
    "string with accents in NFD": lambda i: unicodedata.normalize("NFD", f"envío-{i:02d}"),
    "no id column": None,
}


def write_job(
    folder: Path,
    write_parquet: Callable[..., Path],
    ids: Callable[[int], Any] | None,
    labels: list[str] = LABELS,
) -> Path:
    data: dict[str, Any] = {"text": make_texts(ROWS)}
    if ids is not None:
        values = [ids(i) for i in range(ROWS)]
        data["doc_id"] = pa.array(values, pa.int64() if isinstance(values[0], int) else None)
    path = write_parquet(data)
    job = folder / "job.yaml"
    job.write_text(
        JOB.format(
            input=path.name,
            id=", id_column: doc_id" if ids is not None else "",
            labels=", ".join(labels),
        ),
        encoding="utf-8",
    )
    return job


def job_store(job: Path) -> Path:
    """The job's review store: beside its job file."""
    return job.with_name(job.stem + ".reviews.parquet")


def label(job: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    """Run ``zslabel label`` and return the manifest and the summary it printed."""
    assert main(["label", str(job), "--no-progress"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((job.parent / "out" / "manifest.json").read_text(encoding="utf-8"))
    return manifest, out


def import_reviews(
    job: Path, export: Path, capsys: pytest.CaptureFixture[str], *, code: int = 0
) -> str:
    assert main(["import-reviews", str(export), "--job", str(job)]) == code
    captured = capsys.readouterr()
    return captured.out if code == 0 else captured.err


def through_browser(payload: Any, *, nfc: bool = False) -> Any:
    """``payload`` after JSON.parse and JSON.stringify in a browser: every number a double
    (written with the shortest digits that read back as it), text NFC when ``nfc``."""
    numbers = json.loads(json.dumps(payload), parse_int=lambda s: int(Decimal(repr(float(s)))))
    return _nfc(numbers) if nfc else numbers


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    return value


def review_records(out: Path, kind: str) -> list[dict[str, Any]]:
    if kind == "label_studio":
        tasks: list[dict[str, Any]] = json.loads((out / LABEL_STUDIO_FILE).read_text("utf-8"))
        return tasks
    lines = (out / ARGILLA_FILE).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def answered(kind: str, record: dict[str, Any], *labels: str) -> dict[str, Any]:
    """``record`` with one annotation per label, as the tool exports it."""
    if kind == "label_studio":
        result = [
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [a]}}
            for a in labels
        ]
        annotations = [{"was_cancelled": False, "result": [r]} for r in result]
        return {**record, "annotations": annotations}
    responses = [
        {"value": a, "user_id": f"u{i}", "status": "submitted"} for i, a in enumerate(labels)
    ]
    return {**record, "responses": {"label": responses}}


def key_of(kind: str, record: dict[str, Any]) -> Any:
    return record["data"]["zs_key"] if kind == "label_studio" else record["metadata"]["zs_key"]


def with_key(kind: str, record: dict[str, Any], key: Any) -> dict[str, Any]:
    if kind == "label_studio":
        return {**record, "data": {**record["data"], "zs_key": key}}
    return {**record, "id": str(key), "metadata": {**record["metadata"], "zs_key": key}}


def text_of(kind: str, record: dict[str, Any]) -> str:
    text: str = record["data"]["text"] if kind == "label_studio" else record["fields"]["text"]
    return text


def write_export(folder: Path, kind: str, records: list[dict[str, Any]]) -> Path:
    if kind == "label_studio":
        path = folder / "label-studio-export.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    else:
        path = folder / "argilla-export.jsonl"
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def labeled_rows(job: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(job.parent / "out" / "labeled.parquet").to_pylist()
    return rows


def other_label(row: dict[str, Any]) -> str:
    return next(name for name in LABELS if name != row["zs_label"])


def mean_confidences(manifest: dict[str, Any]) -> dict[str, float | None]:
    classes = manifest["counts"]["classes"]
    return {name: figures["mean_confidence_accepted"] for name, figures in classes.items()}


# -- a. keys survive a browser: strings in every review file ----------------------------------


@pytest.mark.parametrize("kind", ["label_studio", "argilla"])
def test_19_digit_ids_come_back_exact_and_six_answers_are_six_rows(
    tmp_path: Path,
    write_parquet: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS["int64 above 2**53"])
    label(job, capsys)
    records = review_records(tmp_path / "out", kind)
    assert len(records) >= 6
    assert all(isinstance(key_of(kind, r), str) for r in records)
    if kind == "argilla":
        assert all(r["id"] == r["metadata"]["zs_key"] for r in records)
    by_id = {row["doc_id"]: row for row in labeled_rows(job)}
    assert {int(key_of(kind, r)) for r in records} <= set(by_id)

    returned = through_browser(records)
    assert [key_of(kind, r) for r in returned] == [key_of(kind, r) for r in records]
    chosen = returned[:6]
    humans = {int(key_of(kind, r)): other_label(by_id[int(key_of(kind, r))]) for r in chosen}
    export = write_export(
        tmp_path, kind, [answered(kind, r, humans[int(key_of(kind, r))]) for r in chosen]
    )

    out = import_reviews(job, export, capsys)
    assert (
        f"Reviews: 6 matched, 0 unmatched, 0 duplicate (keys checked against the {ROWS} rows" in out
    )
    assert "Stored 6 review(s); 6 in" in out

    manifest, summary = label(job, capsys)
    assert "  reviews: 6 applied\n" in summary
    assert manifest["counts"]["reviews"] == {
        "store": str(job_store(job)),
        "stored": 6,
        "applied": 6,
        "invalid_rows": 0,
        "unmatched": 0,
    }
    rows = {row["doc_id"]: row for row in labeled_rows(job)}
    reviewed = {
        i: (r["zs_label"], r["zs_reason"])
        for i, r in rows.items()
        if r["zs_reason"] == HUMAN_REVIEW
    }
    assert reviewed == {i: (human, HUMAN_REVIEW) for i, human in humans.items()}
    assert manifest["combine"]["calibration"]["reviews"] == 6


def test_old_numeric_keys_rounded_by_a_browser_are_reported_not_stored(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS["int64 above 2**53"])
    first, _ = label(job, capsys)
    # A review file as zslabel wrote it before keys were strings: zs_key a JSON number.
    tasks = review_records(tmp_path / "out", "label_studio")
    old = [with_key("label_studio", t, int(key_of("label_studio", t))) for t in tasks]
    returned = through_browser(old)
    rounded = {key_of("label_studio", t) for t in returned}
    assert rounded == {int(Decimal(repr(float(BASE))))} == {1152921504606847000}
    export = write_export(
        tmp_path, "label_studio", [answered("label_studio", t, "finance") for t in returned[:6]]
    )

    out = import_reviews(job, export, capsys)
    assert "Reviews: 0 matched, 1 unmatched, 5 duplicate" in out
    assert "Stored 0 review(s); 0 in" in out
    assert (
        "  not stored: 1 review(s): records with different texts share this key: "
        "'1152921504606847000'"
    ) in out
    assert "a key written as a JSON number of 2^53 or more, which a browser rounds" in out
    assert not job_store(job).exists()
    assert not (tmp_path / "out" / ".zslabel" / REVIEWS_FILE).exists()

    second, summary = label(job, capsys)
    assert "reviews:" not in summary
    assert "reviews" not in second["counts"]
    assert mean_confidences(second) == mean_confidences(first)


def test_old_numeric_keys_below_2_53_still_import(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, lambda i: 1000 + i)
    label(job, capsys)
    tasks = review_records(tmp_path / "out", "label_studio")[:2]
    old = through_browser(
        [with_key("label_studio", t, int(key_of("label_studio", t))) for t in tasks]
    )
    export = write_export(
        tmp_path, "label_studio", [answered("label_studio", t, "sports") for t in old]
    )
    out = import_reviews(job, export, capsys)
    assert "Reviews: 2 matched, 0 unmatched, 0 duplicate" in out
    _, summary = label(job, capsys)
    assert "  reviews: 2 applied\n" in summary


# -- b. reviews of no row are not stored, not applied, never calibration gold ------------------


def test_unmatched_reviews_are_counted_not_stored_and_leave_confidence_alone(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS["int64 above 2**53"])
    first, _ = label(job, capsys)
    tasks = review_records(tmp_path / "out", "label_studio")[:4]
    # Reviews of another dataset's rows: their ids are nowhere in this job's input.
    strangers = [
        answered("label_studio", with_key("label_studio", t, str(BASE + 1000 + i)), "finance")
        for i, t in enumerate(tasks)
    ]
    export = write_export(tmp_path, "label_studio", strangers)

    out = import_reviews(job, export, capsys)
    assert "Reviews: 0 matched, 4 unmatched, 0 duplicate" in out
    assert "Stored 0 review(s)" in out
    assert (
        "  not stored: 4 review(s): no row has this key: '1152921504606847976', "
        "'1152921504606847977', '1152921504606847978', '1152921504606847979'"
    ) in out
    assert "browser rounds" not in out  # string keys: nothing was rounded
    assert not job_store(job).exists()
    assert not (tmp_path / "out" / ".zslabel" / REVIEWS_FILE).exists()

    second, summary = label(job, capsys)
    assert mean_confidences(second) == mean_confidences(first)
    assert second["combine"].get("calibration") is None
    assert "reviews:" not in summary


def store(work: Path, rows: Sequence[tuple[str, str | None, str]]) -> None:
    """reviews.parquet as an older zslabel stored it: any key it read, checked against nothing."""
    from zslabel.review import REVIEWS_SCHEMA

    work.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(
        [{"key": k, "text": t, "label": a, "file": "old.json"} for k, t, a in rows],
        schema=REVIEWS_SCHEMA,
    )
    pq.write_table(table, work / REVIEWS_FILE)


def test_stored_reviews_of_no_row_never_calibrate_and_the_run_says_so(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS["int64 above 2**53"])
    first, _ = label(job, capsys)
    labeled = labeled_rows(job)
    work = tmp_path / "out" / ".zslabel"  # the old place: read while the job has no store
    # Four reviews stored by an older zslabel whose keys name no row (rounded ids), with texts
    # that disagree with the fake source: as gold they would flatten every confidence.
    strangers = [
        (str(BASE + 1000 + i), f"a text of another dataset {i}", LABELS[i % 3]) for i in range(4)
    ]
    store(work, strangers)
    second, summary = label(job, capsys)
    assert mean_confidences(second) == mean_confidences(first)
    assert second["combine"].get("calibration") is None
    assert second["counts"]["reviews"] == {
        "store": str(work / REVIEWS_FILE),
        "move_to": str(job_store(job)),
        "stored": 4,
        "applied": 0,
        "invalid_rows": 0,
        "unmatched": 4,
        "not_applied": 4,
        "not_applied_reasons": [{"reviews": 4, "reason": NO_ROW_OF_INPUT}],
    }
    assert (
        "  reviews: 0 applied of 4 stored; 4 match no row of this input (not applied, not "
        "used to calibrate)"
    ) in summary

    # With two reviews of real rows beside them, the run is the one those two alone give.
    real = [(str(row["doc_id"]), row["text"], other_label(row)) for row in labeled[:2]]
    store(work, real)
    alone, _ = label(job, capsys)
    confidences = [(r["zs_label"], r["zs_confidence"]) for r in labeled_rows(job)]
    store(work, [*strangers, *real])
    mixed, summary = label(job, capsys)
    assert "  reviews: 2 applied of 6 stored; 4 match no row of this input" in summary
    assert mixed["combine"]["calibration"]["reviews"] == 2
    assert mixed["counts"]["reviews"]["unmatched"] == 4
    assert mean_confidences(mixed) == mean_confidences(alone) != mean_confidences(first)
    assert [(r["zs_label"], r["zs_confidence"]) for r in labeled_rows(job)] == confidences


# -- the sweep: id kinds x review formats, with duplicates and strays in one export -------------


@pytest.mark.parametrize("kind", ["label_studio", "argilla"])
@pytest.mark.parametrize("ids", list(ID_KINDS), ids=list(ID_KINDS))
def test_keys_of_every_id_kind_match_exactly_in_both_formats(
    tmp_path: Path,
    write_parquet: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    ids: str,
    kind: str,
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS[ids])
    label(job, capsys)
    rows = labeled_rows(job)
    records = review_records(tmp_path / "out", kind)
    keys = [key_of(kind, r) for r in records]
    id_column = "doc_id" if ID_KINDS[ids] else "zs_row"

    def id_of(row: dict[str, Any]) -> Any:
        return row[id_column]

    # Each key is exactly one row's key (the files list rows most useful first, not in order).
    assert len(set(keys)) == len(keys) > 0
    assert set(keys) <= {row_key(id_of(row)) for row in rows}
    returned = through_browser(records, nfc=True)
    by_key = {row_key(id_of(row)): row for row in rows}
    a, b, c, d = returned[:4]
    humans = {key_of(kind, r): other_label(by_key[row_key(key_of(kind, r))]) for r in (a, b, c)}
    export = [
        answered(kind, a, humans[key_of(kind, a)]),
        answered(kind, b, humans[key_of(kind, b)]),
        # The same task twice (imported twice into the tool): one row, two annotations.
        answered(kind, c, humans[key_of(kind, c)]),
        answered(kind, c, humans[key_of(kind, c)]),
        # A key of no row.
        answered(kind, with_key(kind, d, "9" * 25), "sports"),
        # A key of a row, with the text of another row.
        answered(kind, with_key(kind, a, key_of(kind, d)), "sports"),
    ]
    path = write_export(tmp_path, kind, export)

    out = import_reviews(job, path, capsys)
    assert "Reviews: 3 matched, 2 unmatched, 1 duplicate" in out
    assert f"  not stored: 1 review(s): no row has this key: '{'9' * 25}'" in out
    assert "  not stored: 1 review(s): records with different texts share this key" not in out
    nfc_key = unicodedata.normalize("NFC", key_of(kind, d))
    assert f"  not stored: 1 review(s): the row with this key has another text: {nfc_key!r}" in out

    manifest, summary = label(job, capsys)
    assert "  reviews: 3 applied\n" in summary
    assert manifest["counts"]["reviews"]["applied"] == 3
    after = {row_key(id_of(row)): row for row in labeled_rows(job)}
    reviewed = {k: r["zs_label"] for k, r in after.items() if r["zs_reason"] == HUMAN_REVIEW}
    assert reviewed == {row_key(k): human for k, human in humans.items()}


def test_records_of_one_row_vote_together_and_a_tie_is_skipped(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, ID_KINDS["string with accents in NFD"])
    label(job, capsys)
    first, second = review_records(tmp_path / "out", "argilla")[:2]
    export = write_export(
        tmp_path,
        "argilla",
        [
            answered("argilla", first, "weather"),
            answered("argilla", first, "weather", "sports"),  # weather 2 : sports 1
            answered("argilla", second, "sports"),
            answered("argilla", second, "finance"),  # a tie across the two records
        ],
    )
    out = import_reviews(job, export, capsys)
    assert "Reviews: 1 matched, 0 unmatched, 2 duplicate" in out
    assert "Stored 1 review(s) (skipped: annotators disagree 1)" in out
    rows = pq.read_table(job_store(job)).to_pylist()
    assert [(r["key"], r["label"]) for r in rows] == [
        (unicodedata.normalize("NFC", first["metadata"]["zs_key"]), "weather")
    ]


def test_review_labels_compare_in_canonical_form_and_a_near_miss_says_what_differs(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, None, labels=["sports", "weather", "envío"])
    label(job, capsys)
    tasks = review_records(tmp_path / "out", "label_studio")[:2]
    nfd = unicodedata.normalize("NFD", "envío")
    export = write_export(
        tmp_path, "label_studio", [answered("label_studio", t, nfd) for t in tasks]
    )
    out = import_reviews(job, export, capsys)
    assert "Reviews: 2 matched, 0 unmatched, 0 duplicate" in out
    rows = pq.read_table(job_store(job)).to_pylist()
    assert {r["label"] for r in rows} == {"envío"}  # stored as the job spells it
    _, summary = label(job, capsys)
    assert "  reviews: 2 applied\n" in summary

    # Letter case alone: the job's label (a labeling config typed by hand, "Software").
    export = write_export(tmp_path, "label_studio", [answered("label_studio", tasks[0], "Envío")])
    out = import_reviews(job, export, capsys)
    assert "read in the job's letter case: Envío -> envío 1" in out
    export = write_export(tmp_path, "label_studio", [answered("label_studio", tasks[0], "envio")])
    err = import_reviews(job, export, capsys, code=2)
    assert "label 'envio' is not a label of the job (sports, weather, envío): " in err
    assert "'envio' differs from the job's label 'envío' only in accents" in err


def test_import_without_a_run_is_an_error_naming_the_output_folder(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, None)
    export = write_export(tmp_path, "label_studio", [])
    err = import_reviews(job, export, capsys, code=2)
    assert f"{tmp_path / 'out' / 'manifest.json'}: not found; reviews are checked against" in err


# -- the key functions ------------------------------------------------------------------------


def test_row_key_forms() -> None:
    assert row_key(BASE + 1) == "1152921504606846977"
    assert row_key(7.0) == row_key(7) == "7"
    assert row_key(0.5) == "0.5"
    assert row_key(unicodedata.normalize("NFD", "envío")) == "envío"
    assert row_key(b"abc") == "abc"
    assert EXACT_JSON_INTEGERS == 9007199254740992
    ints = pa.array([BASE + 1, -3, None], pa.int64())
    assert key_strings(ints).to_pylist() == ["1152921504606846977", "-3", None]
    texts = pa.array([unicodedata.normalize("NFD", "envío")], pa.large_string())
    assert key_strings(texts).to_pylist() == ["envío"]
    floats = pa.array([7.0, 0.5])
    assert key_strings(floats).to_pylist() == ["7", "0.5"]


def test_match_keys_finds_one_row_or_says_none_or_several() -> None:
    nfd, nfc = unicodedata.normalize("NFD", "é"), "é"
    batches = [(0, pa.array(["a", nfd])), (2, pa.array([nfc, "b"]))]
    found = match_keys(["b", "zz", "é"], batches)
    assert found.tolist() == [3, -1, -2]
    assert match_keys([], batches).tolist() == []
    assert np.array_equal(match_keys(["1"], [(5, pa.array([0, 1]))]), [6])


# -- row numbers are keys only while the rows stay where they were ------------------------------


def test_row_number_reviews_of_an_input_that_changed_are_not_applied(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, write_parquet, None)
    label(job, capsys)
    tasks = review_records(tmp_path / "out", "label_studio")[:2]
    export = write_export(
        tmp_path, "label_studio", [answered("label_studio", t, "finance") for t in tasks]
    )
    assert "Reviews: 2 matched" in import_reviews(job, export, capsys)
    # A row inserted at the top: every row number now names the row after the one reviewed.
    write_parquet({"text": ["news: a new first row, sports today", *make_texts(ROWS)]})
    manifest, summary = label(job, capsys)
    assert manifest["counts"]["reviews"] == {
        "store": str(job_store(job)),
        "stored": 2,
        "applied": 0,
        "invalid_rows": 0,
        "unmatched": 2,
        "not_applied": 2,
        "not_applied_reasons": [{"reviews": 2, "reason": NO_ROW_OF_INPUT}],
    }
    assert "  reviews: 0 applied of 2 stored; 2 match no row of this input" in summary
    assert all(r["zs_reason"] != HUMAN_REVIEW for r in labeled_rows(job))
    assert manifest["combine"].get("calibration") is None


@pytest.mark.parametrize("ids", [True, False], ids=["id column", "row numbers"])
def test_an_incremental_job_checks_reviews_against_every_version(
    tmp_path: Path,
    write_parquet: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    ids: bool,
) -> None:
    def write(name: str, rows: int, seed: int) -> None:
        data: dict[str, Any] = {"text": make_texts(rows, seed=seed)}
        if ids:
            data["doc_id"] = [f"{name}-{i}" for i in range(rows)]
        write_parquet(data, name=f"data/{name}.parquet")

    write("a", 12, 0)
    job = tmp_path / "job.yaml"
    job.write_text(
        JOB.format(input="data", id=", id_column: doc_id" if ids else "", labels=", ".join(LABELS))
        + "incremental: true\n"
    )
    assert main(["label", str(job), "--no-progress"]) == 0
    write("b", 9, 1)
    assert main(["label", str(job), "--no-progress"]) == 0
    capsys.readouterr()
    first = review_records(tmp_path / "out" / "v0001", "label_studio")
    second = review_records(tmp_path / "out" / "v0002", "label_studio")
    # Without ids, the same row number names a row of each version: the text tells which.
    in_both = next(r for r in second if r["data"]["zs_row"] < 12)
    export = write_export(tmp_path, "label_studio", [answered("label_studio", in_both, "sports")])
    out = import_reviews(job, export, capsys)
    versions = f"the 21 rows of {tmp_path / 'out' / 'v0001' / 'labeled.parquet'}, "
    assert f"Reviews: 1 matched, 0 unmatched, 0 duplicate (keys checked against {versions}" in out
    if ids:
        export = write_export(
            tmp_path,
            "label_studio",
            [
                answered("label_studio", first[0], "finance"),
                answered("label_studio", second[0], "sports"),
            ],
        )
        assert "Reviews: 2 matched, 0 unmatched, 0 duplicate" in import_reviews(job, export, capsys)
