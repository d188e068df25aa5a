"""The ``label-dataset`` flow: score shards in parallel, then select and export once.

Each task is one library call. Scoring is mapped over shards on the job's task runner (threads,
Dask or Ray) in a child flow; a shard whose features are already cached finishes at once as
"Cached", which is how a rerun after a crash resumes. The global steps run in the flow's process.
"""

# No `from __future__ import annotations` here: Prefect validates flow parameters from the
# annotations, and a flow loaded from its entrypoint (serve, workers) cannot resolve strings.
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import numpy as np

from zslabel.flows import environment

environment.configure()

from prefect import State, flow, get_run_logger, task  # noqa: E402 - settings must come first
from prefect.artifacts import (  # noqa: E402
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE  # noqa: E402
from prefect.futures import as_completed  # noqa: E402
from prefect.states import Completed  # noqa: E402
from prefect.tasks import exponential_backoff  # noqa: E402

from zslabel.combine import Combiner  # noqa: E402
from zslabel.config import JobConfig, deep_merge, load_job  # noqa: E402
from zslabel.dataset import Shard  # noqa: E402
from zslabel.errors import ConfigError, ZslabelError  # noqa: E402
from zslabel.flows import artifacts  # noqa: E402
from zslabel.flows.runners import task_runner  # noqa: E402
from zslabel.flows.student import run_student  # noqa: E402
from zslabel.incremental import (  # noqa: E402
    Increment,
    plan_increment,
    previous_version,
    record_version,
)
from zslabel.lock import job_lock  # noqa: E402
from zslabel.pipeline import (  # noqa: E402
    calibrate,
    combine,
    decisions,
    drift,
    ids,
    language,
    manifest,
    plan,
    predict,
    refine,
    reviews,
    score,
    select,
    split,
    write,
)
from zslabel.pipeline.calibrate import Calibration  # noqa: E402
from zslabel.pipeline.clock import RunClock  # noqa: E402
from zslabel.pipeline.combine import Combined  # noqa: E402
from zslabel.pipeline.decisions import Selected  # noqa: E402
from zslabel.pipeline.plan import JobPlan  # noqa: E402
from zslabel.pipeline.score import ScoringRecord, ShardScore  # noqa: E402
from zslabel.pipeline.select import SelectedRows  # noqa: E402
from zslabel.pipeline.write import Exported, ExportRecord, RunResult  # noqa: E402
from zslabel.progress import Progress  # noqa: E402
from zslabel.redact import redact  # noqa: E402
from zslabel.refine import Refinement  # noqa: E402
from zslabel.review import MatchedReviews  # noqa: E402
from zslabel.selection import Predictions, Selection  # noqa: E402
from zslabel.summary import format_run  # noqa: E402


@dataclass(frozen=True)
class JobRef:
    """What tasks receive instead of data: the job, the files of this run, the run, and the
    job's artifact-key slug (:func:`zslabel.flows.artifacts.job_slug`)."""

    config_json: str
    files: tuple[str, ...] | None
    run_id: str
    slug: str = "job"


_PLANS: dict[JobRef, JobPlan] = {}
_PLANS_LOCK = threading.Lock()


def job_plan(ref: JobRef) -> JobPlan:
    """The run's plan (its input opened, its sources built), once per worker process and run.

    Keyed by run so that a long-lived worker sees new input on the next run; the model itself
    is shared across runs by the library (``zslabel.encoder.shared_encoder``).
    """
    with _PLANS_LOCK:
        if ref not in _PLANS:
            if len(_PLANS) >= 2:
                _PLANS.pop(next(iter(_PLANS)))
            config = JobConfig.model_validate_json(ref.config_json)
            _PLANS[ref] = plan.plan_job(config, ref.files)
        return _PLANS[ref]


def _is_transient(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry crashes and I/O hiccups, not errors that say the job or its data is wrong."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, ZslabelError)


@task(
    name="score-shard",
    task_run_name="score shard {shard.index}",
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=_is_transient,
    cache_policy=NONE,
)
def score_shard(job: JobRef, shard: Shard) -> ShardScore | State[ShardScore]:
    scored = score.score_shard(job_plan(job), shard)
    logger = get_run_logger()
    if scored.reused:
        logger.info(
            "shard %d (%s): %d rows, scores reused", shard.index, shard.path, shard.num_rows
        )
        return Completed(data=scored, name="Cached", message="features reused from the cache")
    logger.info("shard %d (%s): scored %d rows", shard.index, shard.path, shard.num_rows)
    return scored


class ShardsFailed(RuntimeError):
    """Some shards could not be scored; the message names them."""


@flow(name="score-shards", log_prints=False)
def score_shards(job: JobRef, shards: list[Shard]) -> list[ShardScore]:
    """Map scoring over shards and resolve every future, failing with the shards that failed."""
    futures = [score_shard.submit(job, shard) for shard in shards]
    progress = cast(
        UUID,
        create_progress_artifact(
            0.0, key=artifacts.ArtifactKeys.for_job(job.slug).progress, description="shards scored"
        ),
    )
    scores: dict[int, ShardScore] = {}
    failed: dict[int, str] = {}
    # The library path's bar, a shard at a time (shown on a terminal only, as there).
    sources = len(job_plan(job).sources)
    with Progress(sum(s.num_rows for s in shards) * sources, "scoring") as bar:
        for done, future in enumerate(as_completed(futures), start=1):
            update_progress_artifact(progress, 100.0 * done / len(futures))
            shard = shards[futures.index(future)]
            outcome = future.result(raise_on_failure=False)
            bar.advance(shard.num_rows * sources)
            if isinstance(outcome, BaseException):
                failed[shard.index] = f"shard {shard.index} ({shard.path}): {outcome}"
            else:
                scores[shard.index] = cast(ShardScore, outcome)
    if failed:
        listed = "; ".join(failed[index] for index in sorted(failed))
        # A library error is redacted already; an unexpected one may quote a URI with a secret.
        raise ShardsFailed(redact(f"{len(failed)} of {len(shards)} shard(s) failed: {listed}"))
    return [scores[shard.index] for shard in shards]


# The global stages: one task each, in the flow's process.


@task(name="refine", cache_policy=NONE)
def refine_references(job: JobRef, scores: list[ShardScore], earlier: Path | None) -> Refinement:
    return refine.refine(job_plan(job), scores, earlier)


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
    job: JobRef, predictions: Predictions, reviewed: MatchedReviews | None
) -> SelectedRows:
    return select.select_rows(job_plan(job), predictions, reviewed)


@task(name="assign-splits", cache_policy=NONE)
def assign_splits(job: JobRef, predictions: Predictions, selection: Selection) -> np.ndarray:
    return split.assign_splits(job_plan(job), predictions, selection)


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


@task(name="assemble-manifest", cache_policy=NONE)
def assemble_manifest(
    job: JobRef,
    scoring: ScoringRecord,
    selected: Selected,
    exported: ExportRecord,
    languages: dict[str, Any] | None,
) -> dict[str, Any]:
    return manifest.assemble_manifest(job_plan(job), scoring, selected, exported, languages)


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


@flow(name="label-dataset")
def label_dataset(
    job_path: str | None = None,
    overrides: dict[str, Any] | None = None,
    job: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any] | State:
    """Label a job's input into its output folder (a new version if incremental), with its
    drift.json and, when the job has a ``student`` section, its student (docs/drift.md).

    The job is the file ``job_path`` with ``overrides`` merged over it, or ``job``: a whole job
    as a mapping (``JobConfig.model_dump(mode="json")``, what ``zslabel run`` sends for the quick
    form, ``--dry-run``, ``--model`` and ``--template``), with ``overrides`` merged over it.
    ``name`` keys the run's artifacts (``zslabel-<name>-summary``, slugified); by default the
    job file's stem, else the output folder's name. Raises ConfigError for an invalid job, or
    when both or neither of ``job_path`` and ``job`` are given. A version that crossed a drift
    threshold of a job with ``on_drift: fail`` is written, then the run ends Failed, naming the
    thresholds (:func:`artifacts.end_state`): the call raises DriftFailed.
    """
    config = _job_config(job_path, overrides, job)
    slug = artifacts.job_slug(name or artifacts.default_name(job_path, config.output.dir))
    # The flow's process holds the run lock from planning to publishing: tasks on other threads
    # or workers never take it, and a second run of the same output fails at once.
    with job_lock(config):
        return _label(config, slug)


def _job_config(
    job_path: str | None, overrides: dict[str, Any] | None, job: dict[str, Any] | None
) -> JobConfig:
    if (job_path is None) == (job is None):
        raise ConfigError("label-dataset: give exactly one of the parameters job_path and job")
    if job_path is not None:
        return load_job(job_path, overrides)
    assert job is not None
    return JobConfig.from_dict(deep_merge(job, overrides or {}), origin="parameter job")


def _label(config: JobConfig, slug: str) -> dict[str, Any] | State:
    logger = get_run_logger()
    keys = artifacts.ArtifactKeys.for_job(slug)
    files: tuple[str, ...] | None = None
    increment = None
    if config.incremental:
        increment = plan_new_files(config)
        if increment is None:
            logger.info("No new input files since the latest version in %s", config.output.dir)
            create_markdown_artifact(
                f"No new input files: every file of `{redact(config.input.path)}` is in a version "
                f"under `{config.output.dir}`.",
                key=keys.summary,
            )
            return {"output_dir": config.output.dir, "version": None, "new_files": 0}
        files = increment.files
        logger.info("%s", increment.describe())
        config = increment.config

    clock = RunClock()
    job = JobRef(config.model_dump_json(), files, clock.run_id, slug)
    previous = previous_version(Path(config.output.dir).parent) if increment else None
    result = _run_stages(job, clock, previous, increment.carry_from if increment else None)
    status = result.counts["status"]
    logger.info(
        "Labeled %d rows: %d accepted, %d abstained, %d invalid; outputs in %s",
        result.counts["rows"], status["accepted"], status["abstained"], status["invalid"],
        result.output_dir,
    )  # fmt: skip
    artifacts.publish(result, format_run(result), keys)
    failed = artifacts.publish_drift(result, keys, logger)
    version = None
    if increment is not None:
        version = publish_version(str(Path(increment.config.output.dir).parent), increment, result)
    student = run_student(config, str(result.output_dir), keys.student)
    outcome = {
        "output_dir": str(result.output_dir),
        "manifest": result.manifest,
        "run_info": result.run_info,
        "version": version,
        "student": student,
    }
    return artifacts.end_state(outcome, failed)


def _run_stages(
    job: JobRef, clock: RunClock, previous: Path | None, carry_from: Path | None
) -> RunResult:
    """The stages of :func:`zslabel.runner.run_job`, one task each (scoring mapped over shards
    on the job's task runner); ``previous`` and ``carry_from`` as there."""
    config = job_plan(job).config
    shards = list(job_plan(job).dataset.shards)
    clock.lap("open")
    languages = check_input(job)
    rows = sum(s.num_rows for s in shards)
    get_run_logger().info(
        "Scoring %d rows in %d shard(s) on %s", rows, len(shards), config.runner.kind
    )
    scores = score_shards.with_options(task_runner=task_runner(config.runner))(job, shards)
    clock.lap("score")
    refinement = refine_references(job, scores, carry_from)
    reviewed = match_reviews(job)
    calibration = fit_calibration(job, reviewed, refinement)
    combined = combine_sources(job, scores, calibration, refinement)
    predictions = predict_rows(job, scores, combined.combiner, refinement)
    chosen = select_rows(job, predictions, reviewed)
    del predictions  # the selected rows' predictions replace them
    split_index = assign_splits(job, chosen.predictions, chosen.selection)
    selected = decisions.settle(combined, chosen, split_index, refinement)
    del chosen
    clock.lap("select")
    exported = export_rows(job, scores, selected, clock.run_id)
    described = assemble_manifest(
        job, record_scoring(job, scores), selected, exported.record, languages
    )
    clock.lap("export")
    described = measure_drift(job, exported, described, scores, selected, previous)
    clock.lap("drift")
    return write_outputs(job, exported, described, clock, scores)
