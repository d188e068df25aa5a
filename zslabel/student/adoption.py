"""Whether to adopt a student over its teacher, decided without gold.

The teacher's probabilities are temperature-calibrated (README: ECE about 0.06), so on every
scored row of the pool they say how likely each label is to be right. Over the pool:

- the teacher's estimated accuracy is its mean top probability;
- the student's estimated accuracy is the mean teacher probability of the *student's* label.

Where the two agree the estimates are the same; where the student disagrees, the estimate
charges it what the teacher's confidence says the change costs. Under the teacher's own
probabilities no student can score above the teacher, so the rule allows a small shortfall: the
student is adopted when its estimate is at least the teacher's minus ``margin`` (README, "A
student that never ships worse than its teacher": how this rule and its margin were measured,
and why the student's agreement with the teacher, on the pool or on the held-back splits, does
not decide it). Otherwise the teacher's labels are kept and the saved student says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zslabel.student import metrics

RULE = (
    "adopt when the mean teacher probability of the student's labels over the pool is at "
    "least the teacher's mean top probability minus the margin"
)


@dataclass(frozen=True)
class Adoption:
    adopted: bool
    rows: int  # pool rows the estimates are made on
    student_estimate: float | None  # mean teacher probability of the student's label
    teacher_estimate: float | None  # the teacher's mean top probability
    margin: float
    # Diagnostics, not used by the rule: agreement with the teacher's labels over the pool, and
    # on the held-back rows (accepted rows of the validation and test splits, never trained on)
    # beside the teacher's expected accuracy there.
    agreement: float | None
    held_back_agreement: float | None
    held_back_teacher_estimate: float | None

    @property
    def message(self) -> str:
        if not self.rows:
            return (
                "student not adopted: no pool rows to estimate its accuracy on; keep the "
                "teacher's labels"
            )
        verdict = "student adopted" if self.adopted else "student not adopted"
        tail = "" if self.adopted else "; keep the teacher's labels"
        return (
            f"{verdict}: estimated accuracy {_show(self.student_estimate)} vs teacher "
            f"{_show(self.teacher_estimate)}{tail}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "adopted": self.adopted,
            "rows": self.rows,
            "student_estimate": self.student_estimate,
            "teacher_estimate": self.teacher_estimate,
            "margin": self.margin,
            "agreement": self.agreement,
            "held_back_agreement": self.held_back_agreement,
            "held_back_teacher_estimate": self.held_back_teacher_estimate,
            "rule": RULE,
            "message": self.message,
        }


def decide(
    teacher_probs: np.ndarray, student_label: np.ndarray, held_back: np.ndarray, margin: float
) -> Adoption:
    """``teacher_probs`` (n, k), ``student_label`` (n,) int and ``held_back`` (n,) bool, all
    over the pool; ``held_back`` only adds diagnostics."""
    rows = len(student_label)
    if not rows:
        return Adoption(False, 0, None, None, margin, None, None, None)
    teacher = teacher_probs.argmax(axis=1)
    student_estimate = round(float(teacher_probs[np.arange(rows), student_label].mean()), 4)
    teacher_estimate = metrics.expected_accuracy(teacher_probs)
    assert teacher_estimate is not None
    # Compared on the rounded figures that metrics.json shows, so the decision can be re-derived.
    adopted = student_estimate >= round(teacher_estimate - margin, 4)
    return Adoption(
        adopted,
        rows,
        student_estimate,
        teacher_estimate,
        margin,
        metrics.agreement(teacher, student_label),
        metrics.agreement(teacher[held_back], student_label[held_back]),
        metrics.expected_accuracy(teacher_probs[held_back]),
    )


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
