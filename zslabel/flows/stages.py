"""The flow's global stages, after scoring: one task each, in the flow's process.

Each task is one call into :mod:`zslabel.pipeline`, in the order of :func:`zslabel.runner.run_job`
(``_run_stages`` in :mod:`zslabel.flows.label_dataset` calls them), so that the Prefect UI shows
every stage with its own state and time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslabel.flows import environment

environment.configure()

from prefect import task  # noqa: E402 - settings must come first
from prefect.cache_policies import NONE  # noqa: E402

from zslabel.combine import Combiner  # noqa: E402
from zslabel.config import JobConfig  # noqa: E402
from zslabel.flows.jobref import JobRef, job_plan  # noqa: E402
from zslabel.incremental import Increment, plan_increment, record_version  # noqa: E402
from zslabel.pipeline import (  # noqa: E402
    calibrate,
    combine,
    drift,
    ids,
    language,
    manifest,
    predict,
    refine,
    reused_ids,
    reviews,
    row_languages,
    score,
    select,
    split,
    write,
)
from zslabel.pipeline.calibrate import Calibration  # noqa: E402
from zslabel.pipeline.clock import RunClock  # noqa: E402
from zslabel.pipeline.combine import Combined  # noqa: E402
from zslabel.pipeline.decisions import Selected  # noqa: E402
from zslabel.pipeline.reused_ids import ReusedIds  # noqa: E402
from zslabel.pipeline.row_languages import UncoveredRows  # noqa: E402
from zslabel.pipeline.score import ScoringRecord, ShardScore  # noqa: E402
from zslabel.pipeline.select import SelectedRows  # noqa: E402
from zslabel.pipeline.write import Exported, ExportRecord, RunResult  # noqa: E402
from zslabel.refine import Refinement  # noqa: E402
from zslabel.review import MatchedReviews  # noqa: E402
from zslabel.selection import Predictions, Selection  # noqa: E402


@task(name="find-uncovered-languages", cache_policy=NONE)
def find_uncovered_languages(job: JobRef, scores: list[ShardScore]) -> UncoveredRows:
    """Rows in languages no model of the job covers, from the codes scoring cached."""
    return row_languages.uncovered_rows(job_plan(job), scores)


@task(name="refine", cache_policy=NONE)
def refine_references(
    job: JobRef, scores: list[ShardScore], earlier: Path | None, excluded: np.ndarray | None
) -> Refinement:
    return refine.refine(job_plan(job), scores, earlier, excluded)


@task(name="match-reviews", cache_policy=NONE)
def match_reviews(job: JobRef) -> MatchedReviews | None:
    return reviews.matched_reviews(job_plan(job))


@task(name="calibrate", cache_policy=NONE)
def fit_calibration(
    job: JobRef, reviewed: MatchedReviews | None, refinement: Refinement
) -> Calibration:
    return calibrate.fit_calibration(job_plan(job), reviewed, refinement)


@task(name="combine", cache_policy=NONE)
def combine_sources(
    job: JobRef, scores: list[ShardScore], calibration: Calibration, refinement: Refinement
) -> Combined:
    return combine.combine(job_plan(job), scores, calibration, refinement)


@task(name="predict", cache_policy=NONE)
def predict_rows(
    job: JobRef, scores: list[ShardScore], combiner: Combiner, refinement: Refinement
) -> Predictions:
    return predict.predict(job_plan(job), scores, combiner, refinement)


@task(name="select-rows", cache_policy=NONE)
def select_rows(
    job: JobRef,
    predictions: Predictions,
    reviewed: MatchedReviews | None,
    uncovered: np.ndarray | None,
    unranked: np.ndarray | None = None,
) -> SelectedRows:
    return select.select_rows(job_plan(job), predictions, reviewed, uncovered, unranked)


@task(name="assign-splits", cache_policy=NONE)
def assign_splits(
    job: JobRef, predictions: Predictions, selection: Selection, pinned: np.ndarray | None
) -> np.ndarray:
    return split.assign_splits(job_plan(job), predictions, selection, pinned)


@task(name="export-rows", cache_policy=NONE)
def export_rows(job: JobRef, scores: list[ShardScore], selected: Selected, run_id: str) -> Exported:
    return write.export(job_plan(job), scores, selected, run_id)


@task(name="record-scoring", cache_policy=NONE)
def record_scoring(job: JobRef, scores: list[ShardScore]) -> ScoringRecord:
    return score.scoring_record(job_plan(job), scores)


@task(name="check-input", cache_policy=NONE)
def check_input(job: JobRef) -> dict[str, Any] | None:
    """Before scoring: unique ids (else the run fails at the split, after scoring every
    shard), then the texts' language against the model's."""
    ids.check_ids(job_plan(job))
    return language.check_language(job_plan(job))


@task(name="check-reused-ids", cache_policy=NONE)
def check_reused_ids(job: JobRef, earlier: tuple[Path, ...], others: tuple[Path, ...]) -> ReusedIds:
    """Ids that earlier versions of the same settings labeled too: a warning, never a failure,
    and the splits of their earlier copies."""
    return reused_ids.reused_ids(job_plan(job), earlier, others)


@task(name="assemble-manifest", cache_policy=NONE)
def assemble_manifest(
    job: JobRef,
    scoring: ScoringRecord,
    selected: Selected,
    exported: ExportRecord,
    languages: dict[str, Any] | None,
    reused: dict[str, Any] | None,
) -> dict[str, Any]:
    return manifest.assemble_manifest(job_plan(job), scoring, selected, exported, languages, reused)


@task(name="measure-drift", cache_policy=NONE)
def measure_drift(
    job: JobRef,
    exported: Exported,
    described: dict[str, Any],
    scores: list[ShardScore],
    selected: Selected,
    previous: Path | None,
) -> dict[str, Any]:
    """drift.json of the staged outputs against ``previous`` (default: the outputs this run
    replaces); the manifest with its ``drift`` entry. The staging folder is removed on error."""
    planned = job_plan(job)
    before = drift.previous_output(planned.output_dir if previous is None else previous)
    drift.measure(planned, exported.staged, described, scores, selected.predictions.label, before)
    return described


@task(name="write-outputs", cache_policy=NONE)
def write_outputs(
    job: JobRef,
    exported: Exported,
    described: dict[str, Any],
    clock: RunClock,
    scores: list[ShardScore],
) -> RunResult:
    return write.commit(job_plan(job), exported.staged, described, clock, scores)


@task(name="plan-increment", cache_policy=NONE)
def plan_new_files(config: JobConfig) -> Increment | None:
    return plan_increment(config)


@task(name="record-version", cache_policy=NONE)
def publish_version(root: str, increment: Increment, result: RunResult) -> dict[str, Any]:
    return record_version(root, increment, result)
