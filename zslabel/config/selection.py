"""The ``combine``, ``calibration`` and ``selection`` sections: how several sources'
probabilities become one, what they are calibrated on, and which rows are accepted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from zslabel.config.base import Fraction, StrictModel
from zslabel.config.labels import canonical_keys

# The default ``selection.min_above_chance`` (docs/label-quality.md, "Confidence floor"): the
# largest value (steps of 0.05) that lowers accepted accuracy on no public set and costs none more
# than 5 points of coverage. 0.5 while refined scores were overconfident; at their calibrated
# temperature (refine.temperature_scale) 0.45 cost SST-2 Zipf 10 9.7 points, 0.4 costs 3.7.
MIN_ABOVE_CHANCE = 0.4


class CombineSpec(StrictModel):
    """How several sources' probabilities become one."""

    # auto: a single source as it is; several: their weighted mean. single: only ``source``
    # decides (the others are still scored, shown and diagnosed).
    method: Literal["auto", "single", "mean", "vote", "dawid_skene"] = "auto"
    source: str | None = None  # for single; default the first source
    # Without a gold file, each of several sources gets the temperature that makes its mean
    # confidence on the data equal this prior accuracy (Snorkel's prior, 0.7), so that a sharp
    # source (a rule's hard vote) does not outvote a flat one by scale alone. null: raw scores.
    prior_accuracy: Annotated[float, Field(gt=0.0, lt=1.0)] | None = 0.7
    # The Dawid-Skene label model and the source diagnostics use at most this many rows, spread
    # evenly over the input, so that memory stays bounded on large datasets.
    fit_rows: Annotated[int, Field(gt=0)] = 100_000


class CalibrationSpec(StrictModel):
    """What each source's temperature is fitted on: a small hand-labeled Parquet file, the
    job's stored human reviews, or both."""

    gold: str | None = None  # a hand-labeled Parquet file; none: the reviews alone
    column: str = "label"
    text_column: str | None = None  # default: input.text_column
    # Reviewed rows (zslabel import-reviews) are the hard, abstained ones: a biased sample that
    # would move every other row's confidence. They calibrate only when the job asks for it.
    reviews: bool = False

    @model_validator(mode="after")
    def _something_to_fit_on(self) -> CalibrationSpec:
        if self.gold is None and not self.reviews:
            raise ValueError(
                "calibration needs a gold file (calibration: {gold: gold.parquet}) or the "
                "job's reviews (calibration: {reviews: true}), or both"
            )
        return self


class SelectionSpec(StrictModel):
    """Which scored rows are accepted; the rest are abstained (kept for review), never dropped."""

    min_confidence: Fraction = 0.0
    per_class_min_confidence: dict[str, Fraction] = Field(default_factory=dict)
    # The most confident fraction of the rows predicted as each class. Per class rather than
    # global: a global cut keeps mostly the easiest class and starves the others.
    # Half of each class by default: the confident half of a zero-shot labeler is far more
    # accurate than the rest (AG News: 0.89 against 0.77 for every row).
    per_class_top_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    # The confidence floor, relative to chance: a row is accepted only where its confidence is
    # at least this share of the way from chance (1/k for k labels) to 1 (``floor``). Without
    # it, the top fraction accepts half of a class whose rows are all near chance. The default
    # is measured on AG News, SST-2 and BANKING77 and imbalanced variants (docs/label-quality.md,
    # "Confidence floor"); null or 0 turns the floor off.
    min_above_chance: Fraction | None = MIN_ABOVE_CHANCE
    min_margin: Fraction = 0.0
    # Rows in a language that no model of the job covers (detected per row by py3langid) are
    # abstained, reason uncovered_language, and kept out of refinement: an English model puts
    # them in one class, confidently (zslabel.pipeline.row_languages). false: label them anyway.
    abstain_uncovered_languages: bool = True
    # Multi-label mode: a label is assigned where its probability reaches its threshold.
    threshold: Fraction = 0.5
    per_class_threshold: dict[str, Fraction] = Field(default_factory=dict)

    def floor(self, labels: int) -> float:
        """The confidence floor with ``labels`` classes: ``1/k + min_above_chance * (1 - 1/k)``
        (0.0 when ``min_above_chance`` is null or there are no labels)."""
        if not self.min_above_chance or labels < 1:
            return 0.0
        chance = 1.0 / labels
        return chance + self.min_above_chance * (1.0 - chance)

    @field_validator("per_class_min_confidence", "per_class_threshold", mode="before")
    @classmethod
    def _label_keys(cls, keyed: Any) -> Any:
        return canonical_keys(keyed)
