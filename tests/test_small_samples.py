"""Issue 13: estimators on small or degenerate data back off instead of producing confident
nonsense. Each example runs through the command line on real Parquet files (fake and rules
sources, no model), plus property tests of the estimators themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zslabel.calibration import MAX_CONFIDENCE, TemperatureScaler
from zslabel.cli import main
from zslabel.combine import fit_combiner
from zslabel.labelmodel import DawidSkene

from .conftest import make_texts

CLASSES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def label(capsys: pytest.CaptureFixture[str], job: Path) -> tuple[str, dict[str, Any]]:
    """Run ``zslabel label JOB``; its printed summary and the manifest it wrote."""
    assert main(["label", str(job), "--no-progress"]) == 0
    out = capsys.readouterr().out
    return out, json.loads((job.parent / "out" / "manifest.json").read_text())


def labeled(job: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(job.parent / "out" / "labeled.parquet").to_pylist()
    return rows


def write_job(folder: Path, body: str, columns: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(columns), folder / "input.parquet")
    job = folder / "job.yaml"
    job.write_text("input: {path: input.parquet, text_column: text, id_column: doc_id}\n" + body)
    return job


# --- a. splits -----------------------------------------------------------------------------------


def test_22_accepted_rows_over_5_classes_fill_every_split(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 40 rows; a rule fires on 22 of them (4, 4, 5, 4, 5 per class), the others abstain.
    per_class = [4, 4, 5, 4, 5]
    named = [name for name, n in zip(CLASSES, per_class, strict=True) for _ in range(n)]
    texts = [f"row {i} about {name}" for i, name in enumerate(named)]
    texts += [f"row {i} about nothing" for i in range(len(texts), 40)]
    rules = ", ".join(f"{name}: {{keywords: [{name}]}}" for name in CLASSES)
    job = write_job(
        tmp_path,
        f"labels: {CLASSES}\n"
        f"sources: [{{kind: rules, rules: {{{rules}}}}}]\n"
        "selection: {per_class_top_fraction: 1.0}\n"
        "output: {dir: out}\n",
        {"text": texts, "doc_id": [f"d{i}" for i in range(40)]},
    )
    _, manifest = label(capsys, job)
    assert manifest["counts"]["status"]["accepted"] == 22
    # Rounded class by class with ties to the first split this was 17 / 5 / 0.
    assert manifest["counts"]["splits"] == {"train": 18, "validation": 2, "test": 2}
    for name, rows in (("train", 18), ("validation", 2), ("test", 2)):
        assert pq.read_metadata(tmp_path / "out" / f"{name}.parquet").num_rows == rows
    first = [(r["doc_id"], r["zs_split"]) for r in labeled(job)]
    label(capsys, job)
    assert [(r["doc_id"], r["zs_split"]) for r in labeled(job)] == first  # deterministic


# --- b. calibration on a handful of gold rows ----------------------------------------------------


def gold_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts that name their label (the fake source gets every one right) and that label."""
    texts = make_texts(n, seed=seed)
    return texts, [t.split(": ")[1].split(" ")[0] for t in texts]


FAKE_JOB = (
    "labels: [sports, weather, finance]\n"
    "sources: [{{kind: fake}}]\n"
    "{calibration}"
    "selection: {{per_class_top_fraction: 1.0, min_confidence: 0.9}}\n"
    "output: {{dir: out}}\n"
)


def test_five_right_gold_rows_leave_confidences_below_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    texts, gold = gold_texts(5, seed=9)
    pq.write_table(pa.table({"text": texts, "label": gold}), tmp_path / "gold.parquet")
    job = write_job(
        tmp_path,
        FAKE_JOB.format(calibration="calibration: {gold: gold.parquet}\n"),
        {"text": make_texts(60), "doc_id": [f"d{i}" for i in range(60)]},
    )
    out, manifest = label(capsys, job)
    report = manifest["combine"]["calibration"]
    assert report["fake"]["gold_accuracy"] == 1.0
    assert report["fake"]["gold_rows"] == 5
    # The maximum-likelihood temperature runs to its lower bound, 0.05, on these five rows.
    assert TemperatureScaler(prior_scale=None).fit(
        _fake_gold_probs(texts), _indices(gold)
    ).temperature_ == pytest.approx(0.05, rel=1e-3)
    assert 0.4 < report["fake"]["temperature"] < 1.0
    warning = (
        "calibration of 'fake' rests on 5 gold row(s), fewer than 50: its temperature is "
        "shrunk toward 1 (the scores as they are) and still uncertain; add gold rows"
    )
    assert report["warnings"] == [warning]
    assert f"warning: {warning}" in out
    confidence = [r["zs_confidence"] for r in labeled(job)]
    assert max(confidence) < 1.0
    # min_confidence filters again: some rows fall below 0.9, the others are accepted.
    counts = manifest["counts"]
    assert counts["abstain_reasons"] == {"below_min_confidence": sum(c < 0.9 for c in confidence)}
    assert 0 < counts["status"]["abstained"] < counts["status"]["accepted"]


def _fake_gold_probs(texts: list[str]) -> np.ndarray:
    from zslabel.config import FakeSourceSpec, Label
    from zslabel.sources.fake import FakeSource

    labels = [Label(name=n, descriptions=(n,)) for n in ("sports", "weather", "finance")]
    source = FakeSource(FakeSourceSpec(kind="fake", name="fake"), labels)
    return source.probabilities(source.featurize(texts))


def _indices(gold: list[str]) -> np.ndarray:
    return np.asarray([["sports", "weather", "finance"].index(g) for g in gold])


def label_studio_export(out: Path, answers: dict[str, str]) -> Path:
    """The review file as Label Studio exports it once a person annotated the given tasks."""
    tasks = json.loads((out / "review.label_studio.json").read_text())
    exported = []
    for i, task in enumerate(tasks):
        given = answers.get(task["data"]["zs_key"])
        result = [
            {
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [given]},
            }
        ]
        annotations = [] if given is None else [{"id": i, "was_cancelled": False, "result": result}]
        exported.append({"id": i + 1, **task, "annotations": annotations})
    path = out.parent / "label-studio-export.json"
    path.write_text(json.dumps(exported))
    return path


def test_four_agreeing_reviews_leave_confidences_below_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = write_job(
        tmp_path,
        FAKE_JOB.format(calibration="calibration: {reviews: true}\n"),
        {"text": make_texts(60), "doc_id": [f"d{i}" for i in range(60)]},
    )
    label(capsys, job)
    # A person agrees with the model on four rows it abstained on; the job asks for its reviews
    # to calibrate, so they become calibration gold.
    abstained = [r for r in labeled(job) if r["zs_status"] == "abstained"][:4]
    assert len(abstained) == 4
    export = label_studio_export(tmp_path / "out", {r["doc_id"]: r["zs_label"] for r in abstained})
    assert main(["import-reviews", str(export), "--job", str(job)]) == 0
    out, manifest = label(capsys, job)
    report = manifest["combine"]["calibration"]
    assert report["reviews"] == 4
    assert report["fake"]["gold_rows"] == 4
    assert 0.4 < report["fake"]["temperature"] < 1.0
    assert "warning: calibration of 'fake' rests on 4 gold row(s), fewer than 50" in out
    rows = labeled(job)
    machine = [r["zs_confidence"] for r in rows if r["zs_reason"] != "human_review"]
    assert len(machine) == 56
    assert max(machine) < 1.0  # a person's label is 1.0; a calibrated model's never is
    below = sum(c < 0.9 for c in machine)
    assert manifest["counts"]["abstain_reasons"] == {"below_min_confidence": below}
    assert 0 < below < len(machine)


# --- c. a label model over one voting source ----------------------------------------------------


@pytest.mark.parametrize(
    "sources",
    [
        "[{kind: fake, seed: 4}]",
        "[{kind: fake, seed: 4}, {kind: rules, rules: {sports: {keywords: [xyzzy]}}}]",
    ],
    ids=["alone", "beside-a-rule-that-never-fires"],
)
def test_dawid_skene_with_one_voting_source_keeps_its_labels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sources: str
) -> None:
    # Texts that do not name their label: the fake source's labels are its hash noise, the kind
    # of uneven source a lone label model relabeled.
    texts = [f"ticket {i}: words {i * 7}" for i in range(200)]
    columns: dict[str, list[Any]] = {"text": texts, "doc_id": [f"t{i}" for i in range(200)]}
    body = (
        "labels: [sports, weather, finance]\n"
        "sources: {sources}\n"
        "combine: {{method: {method}}}\n"
        "selection: {{per_class_top_fraction: 1.0}}\n"
        "output: {{dir: out}}\n"
    )
    reference = write_job(
        tmp_path, body.format(sources="[{kind: fake, seed: 4}]", method="auto"), columns
    )
    label(capsys, reference)
    expected = [(r["zs_label"], r["zs_confidence"]) for r in labeled(reference)]
    job = write_job(tmp_path, body.format(sources=sources, method="dawid_skene"), columns)
    out, manifest = label(capsys, job)
    # The lone source decides as it does alone: its labels and its confidences, unchanged.
    assert [(r["zs_label"], r["zs_confidence"]) for r in labeled(job)] == expected
    combine = manifest["combine"]
    assert combine["method"] == "single"
    fallback = combine["fallback"]
    assert fallback["method"] == "single"
    assert fallback["min_sources"] == 3
    assert fallback["min_votes"] == 30  # 10 per class; 1 % of 200 rows is less
    assert fallback["votes"] == [200] if "rules" not in sources else [200, 0]
    assert "estimated_source_accuracy" not in combine  # no label model was used
    reason = (
        "dawid_skene needs 3 sources that each vote on at least 30 of the 200 sample rows (10 "
        "per class, and 1% of the rows) to identify its model; 1 does, so it combines without a "
        "label model: the one source that scores rows decides, its scores as they are"
    )
    assert fallback["reason"] == reason
    assert f"warning: {reason} (rows voted on: fake" in out


# --- property tests of the estimators -----------------------------------------------------------


@st.composite
def one_voting_source(draw: st.DrawFn) -> np.ndarray:
    """(n, S, k): source 0 scores most rows; any others never vote."""
    n = draw(st.integers(1, 60))
    k = draw(st.integers(2, 5))
    silent = draw(st.integers(0, 2))
    probs = draw(arrays(np.float64, (n, k), elements=st.floats(0.01, 1.0)))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[draw(arrays(np.bool_, n)) & (np.arange(n) > 0)] = np.nan  # row 0 is always scored
    x = np.full((n, 1 + silent, k), np.nan)
    x[:, 0] = probs
    return x


def _top(probs: np.ndarray) -> np.ndarray:
    scored = ~np.isnan(probs).any(axis=1)
    top = np.full(len(probs), -1)
    top[scored] = probs[scored].argmax(axis=1)
    return top


@settings(max_examples=60, deadline=None)
@given(one_voting_source())
def test_a_label_model_over_one_source_returns_its_labels(x: np.ndarray) -> None:
    model = DawidSkene().fit(x)
    assert model.fallback_ == "mean"
    assert model.predict(x).tolist() == _top(x[:, 0]).tolist()


@settings(max_examples=40, deadline=None)
@given(one_voting_source(), st.sampled_from([0.7, None]))
def test_dawid_skene_combining_one_source_returns_its_labels(
    x: np.ndarray, prior: float | None
) -> None:
    combiner = fit_combiner(
        "dawid_skene", [1.0] * x.shape[1], lambda: x, [None] * x.shape[1], prior_accuracy=prior
    )
    assert combiner.label_model is None
    assert combiner.describe()["fallback"]["method"] == "single"
    combined = combiner(list(x.transpose(1, 0, 2)))
    assert _top(combined).tolist() == _top(x[:, 0]).tolist()
    np.testing.assert_array_equal(combined, x[:, 0])  # its scores as they are


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(2, 5),
    st.integers(0, 2**32 - 1),
)
def test_calibration_on_few_right_rows_never_reaches_one(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n + 1, k))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    gold = probs.argmax(axis=1)  # every gold row right: the likelihood wants T -> 0
    scaler = TemperatureScaler().fit(probs, gold)
    assert scaler.temperature_ > 0.2
    out = scaler.transform(np.vstack([probs, np.eye(k)]))
    assert out.max() <= MAX_CONFIDENCE
    assert (out.astype(np.float32) < 1.0).all()
    np.testing.assert_array_equal(out[: n + 1].argmax(axis=1), gold)
