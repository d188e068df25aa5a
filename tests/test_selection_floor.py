"""The confidence floor paired with the per-class top fraction, the effective cutoffs and the
per-class warnings (issue 17, 2a and 2b)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig, SelectionSpec
from zslabel.pipeline.manifest import class_warnings
from zslabel.runner import LABELED, run_job
from zslabel.selection import ABSTAINED, ACCEPTED, Predictions, select
from zslabel.summary import format_run

# The support-ticket job of the issue: 6 intents.
INTENTS = ["billing", "shipping", "technical", "account", "refund", "other"]
# "technical": every row near chance (1/6), under the default floor (0.5 with 6 labels); top
# half by confidence: 0.48, 0.45, 0.42, 0.38.
TECHNICAL = [0.30, 0.35, 0.38, 0.42, 0.45, 0.48, 0.25, 0.28]
# "shipping": confident rows; the top half ends at 0.88, so the two at 0.85 are set aside.
SHIPPING = [0.95, 0.93, 0.90, 0.88, 0.85, 0.85, 0.84, 0.80]


def tickets(rows: list[tuple[str, float]]) -> Predictions:
    """Predictions with each row's top label and confidence; the rest spread evenly."""
    probs = np.empty((len(rows), len(INTENTS)))
    for i, (name, confidence) in enumerate(rows):
        probs[i] = (1.0 - confidence) / (len(INTENTS) - 1)
        probs[i, INTENTS.index(name)] = confidence
    return Predictions.from_probabilities(probs)


def accepted_confidences(
    rows: list[tuple[str, float]], spec: SelectionSpec, name: str
) -> list[float]:
    result = select(tickets(rows), spec, INTENTS)
    return sorted(
        (
            c
            for (label, c), s in zip(rows, result.status, strict=True)
            if label == name and s == ACCEPTED
        ),
        reverse=True,
    )


ROWS = [("technical", c) for c in TECHNICAL] + [("shipping", c) for c in SHIPPING]


def test_default_floor_is_above_chance_for_the_label_count() -> None:
    spec = SelectionSpec()
    assert spec.min_above_chance == 0.4
    assert spec.floor(6) == pytest.approx(1 / 6 + 0.4 * 5 / 6)  # 0.5
    assert spec.floor(2) == pytest.approx(0.7)
    assert spec.floor(77) == pytest.approx(1 / 77 + 0.4 * 76 / 77)
    assert SelectionSpec(min_above_chance=None).floor(6) == 0.0


def test_near_chance_rows_are_no_longer_accepted_by_default() -> None:
    # Before the floor: the top half of "technical" was accepted at 0.38-0.48.
    no_floor = SelectionSpec(min_above_chance=None)
    assert accepted_confidences(ROWS, no_floor, "technical") == [0.48, 0.45, 0.42, 0.38]
    assert accepted_confidences(ROWS, SelectionSpec(), "technical") == []
    result = select(tickets(ROWS), SelectionSpec(), INTENTS)
    technical = [i for i, (name, _) in enumerate(ROWS) if name == "technical"]
    assert set(result.reason[technical].tolist()) == {
        "below_confidence_floor",
    }
    # The floor is tested before the top fraction: the reason names the floor.
    assert result.class_cutoffs["technical"] is None


def test_confident_rows_are_accepted_where_the_fraction_allows() -> None:
    assert accepted_confidences(ROWS, SelectionSpec(), "shipping") == [0.95, 0.93, 0.90, 0.88]
    wider = SelectionSpec(per_class_top_fraction=0.75)
    assert accepted_confidences(ROWS, wider, "shipping") == [0.95, 0.93, 0.90, 0.88, 0.85, 0.85]
    assert accepted_confidences(ROWS, wider, "technical") == []


def test_effective_cutoff_is_the_lowest_accepted_confidence_with_min_confidence() -> None:
    # billing's top half ends at 0.40, but min_confidence 0.6 abstains every row below it.
    billing = [0.95, 0.7, 0.62, 0.58, 0.5, 0.45, 0.4, 0.35, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    rows = [("billing", c) for c in billing]
    spec = SelectionSpec(min_confidence=0.6, min_above_chance=None)
    result = select(tickets(rows), spec, INTENTS)
    assert result.status[:3].tolist() == [ACCEPTED] * 3
    assert set(result.status[3:].tolist()) == {ABSTAINED}
    assert result.class_cutoffs["billing"] == pytest.approx(0.62)
    assert result.class_cutoffs["shipping"] is None
    rules = result.class_rule_cutoffs["billing"]
    assert rules["top_fraction"] == pytest.approx(0.40)
    assert rules["min_confidence"] == 0.6
    assert rules["floor"] == 0.0


def test_run_reports_the_effective_cutoff_in_manifest_and_summary(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    config = fake_job(texts_file, selection={"min_confidence": 0.9, "min_above_chance": None})
    result = run_job(config)
    labeled = pq.read_table(result.output_dir / LABELED).to_pylist()
    cutoffs = result.manifest["selection"]["class_confidence_cutoffs"]
    rules = result.manifest["selection"]["class_rule_cutoffs"]
    summary = format_run(result)
    checked = 0
    for name, cutoff in cutoffs.items():
        accepted = [
            r["zs_confidence"]
            for r in labeled
            if r["zs_label"] == name and r["zs_status"] == "accepted"
        ]
        if not accepted:
            assert cutoff is None
            continue
        checked += 1
        assert cutoff == pytest.approx(min(accepted), abs=1e-6)
        assert cutoff >= 0.9
        assert rules[name]["min_confidence"] == 0.9
        row = next(line for line in summary.splitlines() if line.strip().startswith(name + " "))
        assert row.split()[-1] == f"{cutoff:.3f}"
    assert checked


def test_class_warnings_name_few_rows_and_low_mean_confidence() -> None:
    classes = {
        "billing": {"accepted": 40, "abstained": 3, "mean_confidence_accepted": 0.93},
        "technical": {"accepted": 3, "abstained": 9, "mean_confidence_accepted": 0.61},
        "refund": {"accepted": 0, "abstained": 2, "mean_confidence_accepted": None},
    }
    warned = class_warnings(classes, labels=6, multi_label=False)
    assert set(warned) == {"technical", "refund"}
    assert "only 3 accepted row(s)" in warned["technical"][0]
    assert "low mean confidence 0.610" in warned["technical"][1]
    assert len(warned["refund"]) == 1
    assert warned["refund"][0].startswith("no accepted row: is any text about it?")
