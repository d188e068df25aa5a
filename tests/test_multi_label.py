"""Multi-label mode end to end: independent per-label scores, per-label thresholds, list columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel.config import JobConfig, SelectionSpec
from zslabel.errors import ConfigError
from zslabel.runner import run_job
from zslabel.selection import ACCEPTED, NO_LABEL_ASSIGNED, Predictions, select

LABELS = ["sports", "weather", "finance"]
TEXTS = [
    "sports and weather today",  # two labels
    "finance news",  # one
    "nothing to see here",  # none: abstained for review
    "sports, weather and finance",  # all three
    None,  # invalid
] * 4


def multi_job(tmp_path: Path, write_parquet: Callable[..., Path], **sections: object) -> JobConfig:
    path = write_parquet({"text": TEXTS, "doc": list(range(len(TEXTS)))})
    raw: dict[str, object] = {
        "input": {"path": str(path)},
        "labels": LABELS,
        "multi_label": True,
        "sources": [{"kind": "fake"}],
        "output": {"dir": str(tmp_path / "out"), "splits": {"train": 1.0}},
        **sections,
    }
    return JobConfig.from_dict(raw)


def test_rows_get_every_label_they_carry_as_a_list(
    tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    result = run_job(multi_job(tmp_path, write_parquet))
    table = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    assert len(table) == len(TEXTS)
    by_text = {row["text"]: row for row in table}
    assert by_text["sports and weather today"]["zs_labels"] == ["sports", "weather"]
    assert by_text["finance news"]["zs_labels"] == ["finance"]
    assert by_text["sports, weather and finance"]["zs_labels"] == LABELS
    nothing = by_text["nothing to see here"]
    assert nothing["zs_labels"] == []
    assert (nothing["zs_status"], nothing["zs_reason"]) == ("abstained", NO_LABEL_ASSIGNED)
    assert by_text[None]["zs_labels"] is None
    assert by_text[None]["zs_reason"] == "null_text"
    # Independent probabilities: a row's scores need not sum to 1.
    two = by_text["sports and weather today"]
    assert two["zs_score_sports"] > 0.5
    assert two["zs_score_weather"] > 0.5
    assert two["zs_score_finance"] < 0.5
    # The confidence is that of the least sure label decision.
    expected = min(two["zs_score_sports"], two["zs_score_weather"], 1 - two["zs_score_finance"])
    assert two["zs_confidence"] == pytest.approx(expected, abs=1e-6)
    counts = result.counts
    assert counts["status"] == {"accepted": 12, "abstained": 4, "invalid": 4}
    assert counts["classes"]["sports"]["accepted"] == 8  # rows 0 and 3 of each block
    assert counts["classes"]["finance"]["accepted"] == 8
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["multi_label"] is True
    assert manifest["selection"]["class_confidence_cutoffs"] == dict.fromkeys(LABELS, 0.5)
    assert (tmp_path / "out" / "train.parquet").exists()


def test_a_per_label_threshold_changes_only_that_label(
    tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    job = multi_job(tmp_path, write_parquet, selection={"per_class_threshold": {"weather": 0.999}})
    run_job(job)
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    assert {tuple(r["zs_labels"]) for r in rows if r["zs_labels"]} == {
        ("sports",),
        ("finance",),
        ("sports", "finance"),
    }


def test_rules_vote_for_the_labels_they_match_and_abstain_on_the_rest(
    tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    rules = {"kind": "rules", "rules": {"sports": {"keywords": ["sports"]}}}
    run_job(multi_job(tmp_path, write_parquet, sources=[rules]))
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    sports = next(r for r in rows if r["text"] == "sports and weather today")
    assert sports["zs_labels"] == ["sports"]
    assert sports["zs_score_sports"] == 1.0
    assert sports["zs_score_weather"] is None  # abstained on, not a made-up 0
    finance = next(r for r in rows if r["text"] == "finance news")
    assert (finance["zs_status"], finance["zs_reason"]) == ("abstained", "no_source_scored")


def test_several_sources_combine_label_by_label(
    tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    sources = [
        {"kind": "fake", "name": "a"},
        {"kind": "rules", "name": "r", "rules": {"finance": {"keywords": ["sports"]}}},
    ]
    run_job(multi_job(tmp_path, write_parquet, sources=sources, combine={"method": "mean"}))
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    row = next(r for r in rows if r["text"] == "sports and weather today")
    # finance: the fake source's low score averaged with the rule's 1.0 (a misfiring rule).
    assert 0.5 < row["zs_score_finance"] < 1.0
    assert row["zs_source_r_label"] == "finance"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"combine": {"method": "dawid_skene"}}, "dawid_skene.*multi_label"),
        ({"selection": {"per_class_top_fraction": 0.3}}, "per_class_top_fraction"),
        ({"selection": {"per_class_threshold": {"nope": 0.5}}}, "unknown label"),
    ],
)
def test_settings_that_do_not_fit_multi_label_are_refused(
    tmp_path: Path, write_parquet: Callable[..., Path], extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        multi_job(tmp_path, write_parquet, **extra)


def test_thresholds_are_refused_in_single_label_jobs(
    tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    with pytest.raises(ConfigError, match=r"selection.threshold: applies to multi_label"):
        multi_job(tmp_path, write_parquet, multi_label=False, selection={"threshold": 0.6})


@settings(max_examples=60, deadline=None)
@given(
    probs=st.lists(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3), min_size=1, max_size=30),
    low=st.floats(0.05, 0.95),
    raise_by=st.floats(0.0, 0.5),
)
def test_a_higher_threshold_never_assigns_more_labels_or_accepts_more_rows(
    probs: list[list[float]], low: float, raise_by: float
) -> None:
    array = np.asarray(probs)
    high = min(low + raise_by, 1.0)
    results = []
    for threshold in (low, high):
        spec = SelectionSpec(threshold=threshold)
        predictions = Predictions.from_independent(array, np.full(3, threshold))
        assert predictions.assigned is not None
        results.append((predictions.assigned, select(predictions, spec, LABELS)))
    (low_assigned, low_sel), (high_assigned, high_sel) = results
    assert not (high_assigned & ~low_assigned).any()
    assert ((high_sel.status == ACCEPTED) <= (low_sel.status == ACCEPTED)).all()


def test_the_cli_labels_multi_label_and_evaluates_label_sets(
    tmp_path: Path, write_parquet: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from zslabel.cli import main

    gold = [["sports", "weather"], ["finance"], [], LABELS, None] * 4
    path = write_parquet({"text": TEXTS, "gold": gold})
    out = tmp_path / "cli"
    argv = ["label", str(path), "--labels", ",".join(LABELS), "--out", str(out), "--multi-label"]
    assert main([*argv, "--dry-run"]) == 0
    dry = tmp_path / "cli-dry-run"
    assert pq.read_schema(dry / "labeled.parquet").field("zs_labels").type == pa.list_(pa.string())
    capsys.readouterr()
    assert main(["eval", str(dry), "--gold-column", "gold", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["multi_label"] is True
    # The fake source assigns exactly the labels named in each text, which is the gold here;
    # the rows without any label are abstained, so every accepted row is exactly right.
    assert report["accepted"]["accuracy"] == 1.0
    assert report["accepted"]["micro_f1"] == 1.0
    assert report["valid_rows"] == 16
    assert report["accepted_rows"] == 12
    assert report["accepted"]["per_class"]["weather"]["support"] == 8


def test_similarity_sources_assign_labels_near_the_best_or_above_a_fixed_center() -> None:
    from zslabel.sources.base import independent_probabilities

    sims = np.array([[0.50, 0.49, 0.30], [0.20, np.nan, 0.10]])
    relative = independent_probabilities(sims, temperature=0.05, within=0.02, center=None)
    assert (relative[0] > 0.5).tolist() == [True, True, False]  # 0.49 is within 0.02 of 0.50
    assert relative[1, 0] > 0.5  # the best label always passes
    assert np.isnan(relative[1, 1])
    fixed = independent_probabilities(sims, temperature=0.05, within=0.02, center=0.4)
    assert (fixed[0] > 0.5).tolist() == [True, True, False]
    assert (fixed[1, [0, 2]] < 0.5).all()  # no label above the center: none assigned


def test_an_embedding_source_labels_multi_label_jobs(
    tiny_model: Path, tmp_path: Path, write_parquet: Callable[..., Path]
) -> None:
    job = multi_job(
        tmp_path, write_parquet, sources=[{"kind": "embedding", "model": str(tiny_model)}]
    )
    result = run_job(job)
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    scored = [row for row in rows if row["zs_status"] != "invalid"]
    assert len(scored) == 16
    # Relative to each row's best label: every scored row has at least that label.
    assert all(row["zs_labels"] for row in scored)
    assert all(row["zs_label"] in row["zs_labels"] for row in scored)
    (source,) = result.manifest["sources"]
    assert source["within"] == 0.02
