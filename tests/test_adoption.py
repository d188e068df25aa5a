"""Adopting a student over its teacher, decided without gold; the fallback to the teacher."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zslabel.cli import main
from zslabel.config import StudentSpec
from zslabel.errors import ZslabelWarning
from zslabel.student import LogisticHead, StudentModel, train
from zslabel.student.adoption import decide
from zslabel.student.model import METADATA

from .conftest import make_texts


@pytest.fixture
def labeled(student_pool: Callable[[int], Path]) -> Path:
    return student_pool(1)


class ShuffledHead(LogisticHead):
    """A student made worse on purpose: it trains on its labels shuffled (seeded)."""

    def fit(
        self, features: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> ShuffledHead:
        super().fit(features, np.random.default_rng(0).permutation(labels), sample_weight)
        return self


@pytest.fixture
def shuffled(monkeypatch: pytest.MonkeyPatch) -> None:
    train_module = importlib.import_module("zslabel.student.train")  # the package shadows it
    monkeypatch.setattr(train_module, "LogisticHead", ShuffledHead)


def spec(tiny_model: Path, **settings: object) -> StudentSpec:
    return StudentSpec.model_validate({"model": str(tiny_model), "rounds": 0, **settings})


# -- the rule -------------------------------------------------------------------------------


def test_decide_rates_the_students_labels_with_the_teachers_probabilities() -> None:
    probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    held = np.array([True, True, False, False])
    # The teacher expects 0.725; the same labels score the same.
    same = decide(probs, np.array([0, 0, 0, 1]), held, margin=0.0)
    assert (same.rows, same.student_estimate, same.teacher_estimate) == (4, 0.725, 0.725)
    assert same.adopted
    assert same.agreement == 1.0
    assert same.message == "student adopted: estimated accuracy 0.725 vs teacher 0.725"
    # Flipping the 0.6 row costs 0.05: within a margin of 0.05, not of 0.04.
    flipped = np.array([0, 0, 1, 1])
    assert decide(probs, flipped, held, margin=0.05).adopted
    worse = decide(probs, flipped, held, margin=0.04)
    assert not worse.adopted
    assert worse.student_estimate == 0.675
    assert worse.agreement == 0.75
    assert worse.held_back_agreement == 1.0
    assert worse.held_back_teacher_estimate == 0.8
    assert worse.message == (
        "student not adopted: estimated accuracy 0.675 vs teacher 0.725; keep the teacher's labels"
    )


def test_without_pool_rows_the_teacher_is_kept() -> None:
    empty = np.zeros((0, 2))
    decision = decide(empty, np.zeros(0, dtype=np.int64), np.zeros(0, bool), 0.0)
    assert not decision.adopted
    assert decision.rows == 0
    assert "no pool rows" in decision.message
    assert decision.as_dict()["adopted"] is False


# -- training -------------------------------------------------------------------------------


def test_a_student_that_learned_the_task_is_adopted(labeled: Path, tiny_model: Path) -> None:
    result = train(labeled, spec(tiny_model), gold_column="topic")
    decision = result.metrics["adoption"]
    assert decision["adopted"] is True
    assert decision["rows"] == result.metrics["pool"]["rows"]
    assert decision["student_estimate"] >= decision["teacher_estimate"] - decision["margin"]
    metadata = json.loads((result.model_dir / METADATA).read_text())
    assert metadata["adopted"] is True
    assert metadata["adoption"] == decision
    assert StudentModel.load(result.model_dir).adopted is True


def test_a_student_worse_than_its_teacher_is_not_adopted_but_saved(
    labeled: Path, tiny_model: Path, shuffled: None
) -> None:
    result = train(labeled, spec(tiny_model), gold_column="topic")
    decision = result.metrics["adoption"]
    gold = result.metrics["rounds"][-1]["gold"]["held_out"]
    # Gold agrees: on the held-out rows the shuffled student is worse than the teacher.
    assert gold["student"]["accuracy"] < gold["teacher"]["accuracy"]
    assert decision["adopted"] is False
    assert decision["student_estimate"] < decision["teacher_estimate"]
    assert decision["message"] == (
        f"student not adopted: estimated accuracy {decision['student_estimate']:.3f} vs teacher "
        f"{decision['teacher_estimate']:.3f}; keep the teacher's labels"
    )
    on_disk = json.loads((labeled / "student" / "metrics.json").read_text())
    assert on_disk["adoption"] == decision
    metadata = json.loads((result.model_dir / METADATA).read_text())
    assert metadata["adopted"] is False
    loaded = StudentModel.load(result.model_dir)
    assert loaded.adopted is False
    # The exported (teacher) labels are untouched: nothing replaces them with the student's.
    assert not (labeled / "student" / "labels.parquet").exists()


def test_the_decision_is_deterministic(labeled: Path, tiny_model: Path, shuffled: None) -> None:
    first = train(labeled, spec(tiny_model, rounds=1)).metrics["adoption"]
    second = train(labeled, spec(tiny_model, rounds=1)).metrics["adoption"]
    assert first == second


def test_the_margin_can_hold_back_a_good_student(labeled: Path, tiny_model: Path) -> None:
    kept = train(labeled, spec(tiny_model, adoption_margin=-0.5)).metrics["adoption"]
    assert kept["adopted"] is False
    assert kept["margin"] == -0.5


def test_cli_says_when_the_student_is_not_adopted(
    labeled: Path,
    tiny_model: Path,
    shuffled: None,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, err = train_then_predict(labeled, tiny_model, write_parquet, tmp_path, capsys)
    lines = [line for line in out.splitlines() if "not adopted" in line]
    assert len(lines) == 1
    assert lines[0].startswith("student not adopted: estimated accuracy ")
    assert lines[0].endswith("; keep the teacher's labels")
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "was not adopted" in warnings[0]


def test_cli_predict_is_quiet_for_an_adopted_student(
    labeled: Path,
    tiny_model: Path,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, err = train_then_predict(labeled, tiny_model, write_parquet, tmp_path, capsys)
    assert "student adopted: estimated accuracy" in out
    assert "warning" not in err


def test_cli_predict_warns_when_the_folder_was_relabeled_after_training(
    labeled: Path,
    tiny_model: Path,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A new user's trial predicted with a student trained before reviews relabeled the folder."""
    train_then_predict(labeled, tiny_model, write_parquet, tmp_path, capsys)
    manifest_path = labeled / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["labeled.parquet"]["sha256"] = "0" * 64  # what a later run records
    manifest_path.write_text(json.dumps(manifest))
    source = tmp_path / "new.parquet"
    assert main(["predict", str(tmp_path / "student"), str(source), "--out",
                 str(tmp_path / "o2.parquet")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"the labels of {labeled.resolve()} changed since this student was trained" in err
    assert f"zslabel train {labeled.resolve()}" in err
    with pytest.warns(ZslabelWarning, match="changed since this student was trained"):
        StudentModel.load(tmp_path / "student")  # Python users are told as well


def train_then_predict(
    labeled: Path,
    tiny_model: Path,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> tuple[str, str]:
    """``zslabel train`` on ``labeled``, then ``zslabel predict`` with the student: what the
    first printed, and what the second wrote to stderr."""
    model = tmp_path / "student"
    args = ["train", str(labeled), "--model", str(tiny_model), "--rounds", "0"]
    assert main([*args, "--out", str(model)]) == 0
    out = capsys.readouterr().out
    source = write_parquet({"text": make_texts(10, seed=5)}, name="new.parquet")
    assert main(["predict", str(model), str(source), "--out", str(tmp_path / "o.parquet")]) == 0
    return out, capsys.readouterr().err
