"""bench/bootstrap.py end to end on a small dataset: fake teacher, tiny-model student."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from .conftest import LABELS, WORDS

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bootstrap.py"


@pytest.fixture(scope="module")
def bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_bootstrap", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def half_named(n: int) -> tuple[list[str], list[str]]:
    """Texts of topic words; only every other one names its label, which the fake teacher
    gets right (the rest it guesses)."""
    import random

    rng = random.Random(4)
    texts, gold = [], []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        first, second = rng.sample(WORDS[label], 2)
        named = f"{label} today, " if (i // len(LABELS)) % 2 else ""
        texts.append(f"news {i}: {named}{first} and {second}")
        gold.append(label)
    return texts, gold


def test_bootstrap_reports_teacher_and_student_per_round_on_the_held_out_part(
    bootstrap: ModuleType,
    write_parquet: Callable[..., Path],
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts, gold = half_named(200)
    dataset = write_parquet({"text": texts, "gold": gold}, name="data.parquet")
    job = tmp_path / "job.yaml"
    job.write_text(
        yaml.safe_dump(
            {
                "input": {"path": "unused.parquet", "text_column": "text"},
                "labels": LABELS,
                "sources": [{"kind": "fake"}],
                "output": {"dir": str(tmp_path / "out")},
                "student": {"model": str(tiny_model), "rounds": 2},
            }
        )
    )
    args = [str(dataset), "--job", str(job), "--gold-column", "gold", "--eval-fraction", "0.25"]
    assert bootstrap.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["evaluation_rows"] == 50  # a quarter of each class, rounded
    assert report["pool_rows"] == 150
    assert set(report["teacher"]) == {"accuracy", "macro_f1"}
    assert [r["round"] for r in report["rounds"]] == list(range(len(report["rounds"])))
    final = report["rounds"][-1]
    # The texts are separable, the fake teacher is not: the student beats it on unseen rows.
    assert final["student"]["accuracy"] >= 0.8
    assert report["student_minus_teacher"]["accuracy"] > 0
    assert report["adoption"]["student_better"] is True
    assert report["adoption"]["decision_right"] is (report["adoption"]["adopted"] is True)
    # The pipeline never saw gold: the labeled pool has no gold column.
    labeled = tmp_path / "out-bootstrap" / "pool" / "labeled.parquet"
    import pyarrow.parquet as pq

    assert "gold" not in pq.read_schema(labeled).names


def test_evaluation_rows_are_stratified_and_seeded(bootstrap: ModuleType) -> None:
    gold = ["a"] * 50 + ["b"] * 30
    mask = bootstrap.evaluation_rows(gold, 0.2, seed=0)
    assert mask[:50].sum() == 10
    assert mask[50:].sum() == 6
    assert (bootstrap.evaluation_rows(gold, 0.2, seed=0) == mask).all()
    assert not (bootstrap.evaluation_rows(gold, 0.2, seed=1) == mask).all()


def test_subsample_rows_keeps_class_shares_and_is_seeded(bootstrap: ModuleType) -> None:
    gold = ["a"] * 100 + ["b"] * 100 + ["c"] * 100
    mask = bootstrap.subsample_rows(gold, 0, shares={"a": 0.5, "b": 0.3, "c": 0.2})
    assert [int(mask[i : i + 100].sum()) for i in (0, 100, 200)] == [100, 60, 40]
    assert (bootstrap.subsample_rows(gold, 0, shares={"a": 5, "b": 3, "c": 2}) == mask).all()
    assert not (bootstrap.subsample_rows(gold, 1, shares={"a": 5, "b": 3, "c": 2}) == mask).all()
    capped = bootstrap.subsample_rows(gold, 0, rows=30, shares={"a": 5, "b": 3, "c": 2})
    assert [int(capped[i : i + 100].sum()) for i in (0, 100, 200)] == [15, 9, 6]
    assert bootstrap.subsample_rows(gold, 0, rows=60).sum() == 60
    assert bootstrap.subsample_rows(gold, 0).all()
    with pytest.raises(SystemExit, match="missing"):
        bootstrap.subsample_rows(gold, 0, shares={"a": 1.0, "b": 1.0})


def test_zipf_shares_fall_by_rank_to_the_ratio(bootstrap: ModuleType) -> None:
    shares = bootstrap.zipf_shares([f"c{i}" for i in range(77)], 4.0)
    values = list(shares.values())
    assert values == sorted(values, reverse=True)
    assert values[0] / values[-1] == pytest.approx(4.0)
    assert bootstrap.zipf_shares(["a", "b"], 1.0) == {"a": 1.0, "b": 1.0}


def test_refine_guards_measures_each_setting_on_a_part_with_an_absent_label(
    write_parquet: Callable[..., Path],
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # as when run as a script
    spec = importlib.util.spec_from_file_location("bench_guards", BENCH.parent / "refine_guards.py")
    assert spec is not None
    assert spec.loader is not None
    guards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guards)
    texts, gold = half_named(150)
    dataset = write_parquet({"text": texts, "gold": gold}, name="data.parquet")
    job = tmp_path / "job.yaml"
    source = {"kind": "embedding", "model": str(tiny_model)}
    job.write_text(
        yaml.safe_dump(
            {
                "input": {"path": "unused.parquet", "text_column": "text"},
                "labels": LABELS,
                "sources": [source],
                "output": {"dir": "unused"},
            }
        )
    )
    args = [str(dataset), "--job", str(job), "--gold-column", "gold", "--part", "evaluation"]
    assert guards.main([*args, "--absent", "gardening"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 30  # a fifth of each class
    assert list(result["settings"]) == ["default", "min_rows 2, no stray guard", "off"]
    default, off = result["settings"]["default"], result["settings"]["off"]
    assert default["refine"] == {}
    assert off["refine"] is False
    # Refinement on changes the labels of this set; off is the unrefined teacher.
    assert default["all_rows_accuracy"] != off["all_rows_accuracy"]
    assert guards.main([*args, "--setting", 'tight={"stray_mads": 0.01}']) == 0
    tight = json.loads(capsys.readouterr().out)["settings"]
    assert list(tight) == ["tight"]
    assert tight["tight"]["stray_labels"] >= 1  # a cut at the median marks a label
