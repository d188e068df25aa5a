"""Run a labeling job on one machine (:func:`run_job`), and :class:`LabelingJob`, the same
stages behind one object for code that drives them step by step.

The stages live in :mod:`zslabel.pipeline`, one module each; this module keeps the names
callers import.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from zslabel.combine import Combiner
from zslabel.config import JobConfig
from zslabel.dataset import Shard
from zslabel.pipeline import (
    calibrate,
    combine,
    decisions,
    drift,
    features,
    ids,
    manifest,
    predict,
    refine,
    reviews,
    row_languages,
    score,
    select,
    split,
    write,
)
from zslabel.pipeline.calibrate import Calibration
from zslabel.pipeline.clock import RunClock
from zslabel.pipeline.decisions import Selected
from zslabel.pipeline.plan import plan_job
from zslabel.pipeline.run import run_job
from zslabel.pipeline.score import ShardInput, ShardScore
from zslabel.pipeline.write import ABSTAINED_FILE, LABELED, NOT_SCORED, RUN_INFO, RunResult
from zslabel.refine import Refinement
from zslabel.review import MatchedReviews
from zslabel.selection import Predictions, Selection
from zslabel.sources import Source

__all__ = [
    "ABSTAINED_FILE",
    "LABELED",
    "NOT_SCORED",
    "RUN_INFO",
    "LabelingJob",
    "RunClock",
    "RunResult",
    "Selected",
    "ShardInput",
    "ShardScore",
    "run_job",
]


class LabelingJob:
    """One job's stages as methods over its plan (:func:`zslabel.pipeline.plan.plan_job`).

    Each method is one stage call; see :mod:`zslabel.pipeline` for what each takes and returns.
    """

    def __init__(self, config: JobConfig, files: Collection[str] | None = None) -> None:
        self.plan = plan_job(config, files)
        # Before any stage: a duplicate id would otherwise fail the split, after scoring.
        ids.check_ids(self.plan)
        self.config = config
        self.label_names = self.plan.label_names
        self.output_dir = self.plan.output_dir
        self.work_dir = self.plan.work_dir
        self.dataset = self.plan.dataset
        self.cache = self.plan.cache
        self.multi_label = config.multi_label
        self.sources: list[Source] = self.plan.sources
        self.reads_text = self.plan.reads_text
        self.shown_sources = self.plan.shown_sources
        self.window_sources = self.plan.window_sources
        self.schema = self.plan.schema

    def score_shard(self, shard: Shard, on_rows: Callable[[int], None] | None = None) -> ShardScore:
        """Make sure every source's features for this shard are cached; compute what is not."""
        return score.score_shard(self.plan, shard, on_rows)

    def truncated_texts(self, scores: Sequence[ShardScore]) -> dict[str, int | None]:
        return score.scoring_record(self.plan, scores).truncated_texts

    def source_probabilities(
        self, shard_score: ShardScore, refinement: Refinement | None = None
    ) -> list[np.ndarray]:
        """Each source's (rows, classes) probabilities for a scored shard, from the cache."""
        return features.source_probabilities(self.plan, shard_score, refinement)

    def uncovered_rows(self, scores: Sequence[ShardScore]) -> np.ndarray | None:
        """(n,) bool: rows in languages no model of the job covers (None: none to abstain)."""
        return row_languages.uncovered_rows(self.plan, scores).mask

    def refine(self, scores: Sequence[ShardScore]) -> Refinement:
        excluded = row_languages.uncovered_rows(self.plan, scores).excluded
        return refine.refine(self.plan, scores, None, excluded)

    def matched_reviews(self) -> MatchedReviews | None:
        return reviews.matched_reviews(self.plan)

    def fit_calibration(
        self, reviewed: MatchedReviews | None = None, refinement: Refinement | None = None
    ) -> Calibration:
        return calibrate.fit_calibration(self.plan, reviewed, refinement)

    def fit_combiner(
        self,
        sample: Callable[[], np.ndarray],
        reviewed: MatchedReviews | None = None,
        refinement: Refinement | None = None,
    ) -> Combiner:
        """Calibrate the sources, then fit the combiner on ``sample()``."""
        calibration = calibrate.fit_calibration(self.plan, reviewed, refinement)
        return combine.fit_combiner(self.plan, sample, calibration)

    def diagnose(self, sample: Callable[[], np.ndarray], combiner: Combiner) -> dict[str, Any]:
        return combine.diagnose(self.plan, sample, combiner)

    def predict(
        self,
        scores: Sequence[ShardScore],
        combiner: Combiner,
        refinement: Refinement | None = None,
    ) -> Predictions:
        return predict.predict(self.plan, scores, combiner, refinement)

    def select(
        self,
        predictions: Predictions,
        uncovered: np.ndarray | None = None,
        unranked: np.ndarray | None = None,
    ) -> Selection:
        """``uncovered``: :meth:`uncovered_rows`, abstained with reason ``uncovered_language``;
        ``unranked``: rows labeled but kept out of the class quotas (``UncoveredRows.kept``
        of :func:`zslabel.pipeline.row_languages.uncovered_rows`)."""
        return select.select_rows(self.plan, predictions, None, uncovered, unranked).selection

    def assign_splits(self, predictions: Predictions, selection: Selection) -> np.ndarray:
        return split.assign_splits(self.plan, predictions, selection)

    def select_rows(self, scores: Sequence[ShardScore]) -> Selected:
        """Refine, calibrate, combine, predict, select and split every row: the cheap, global
        half of a run, as :func:`run_job` runs it."""
        job = self.plan
        uncovered = row_languages.uncovered_rows(job, scores)
        refinement = refine.refine(job, scores, None, uncovered.excluded)
        reviewed = reviews.matched_reviews(job)
        calibration = calibrate.fit_calibration(job, reviewed, refinement)
        combined = combine.combine(job, scores, calibration, refinement)
        predictions = predict.predict(job, scores, combined.combiner, refinement)
        chosen = select.select_rows(job, predictions, reviewed, uncovered.mask, uncovered.kept)
        split_index = split.assign_splits(job, chosen.predictions, chosen.selection)
        return decisions.settle(combined, chosen, split_index, refinement)

    def write_outputs(
        self, scores: Sequence[ShardScore], selected: Selected, clock: RunClock
    ) -> RunResult:
        """Write every output file and commit them atomically, ``run.json`` from ``clock``."""
        exported = write.export(self.plan, scores, selected, clock.run_id)
        described = manifest.assemble_manifest(
            self.plan, score.scoring_record(self.plan, scores), selected, exported.record
        )
        before = drift.previous_output(self.plan.output_dir)
        labels = selected.predictions.label
        drift.measure(self.plan, exported.staged, described, scores, labels, before)
        return write.commit(self.plan, exported.staged, described, clock, scores)

    def _id_batches(self) -> Iterator[tuple[int, pa.Array]]:
        return ids.id_batches(self.plan)

    def _feature_key(self, source: Source, fingerprint: str) -> str:
        return score.feature_key(source, fingerprint)
