"""The ``label-dataset`` flow: score shards in parallel, then select and export once.

Each task is one library call. Scoring is mapped over shards on the job's task runner (threads,
Dask or Ray) in a child flow; a shard whose features are already cached finishes at once as
"Cached", which is how a rerun after a crash resumes. The global steps run in the flow's process
(their tasks are in :mod:`zslabel.flows.stages`).
"""

# No `from __future__ import annotations` here: Prefect validates flow parameters from the
# annotations, and a flow loaded from its entrypoint (serve, workers) cannot resolve strings.
from pathlib import Path
from typing import Any, cast
from uuid import UUID

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

from zslabel.config import JobConfig, deep_merge, load_job  # noqa: E402
from zslabel.dataset import Shard  # noqa: E402
from zslabel.errors import ConfigError, ZslabelError  # noqa: E402
from zslabel.flows import artifacts  # noqa: E402
from zslabel.flows.jobref import JobRef, job_plan  # noqa: E402
from zslabel.flows.runners import task_runner  # noqa: E402
from zslabel.flows.stages import (  # noqa: E402
    assemble_manifest,
    assign_splits,
    check_input,
    check_reused_ids,
    combine_sources,
    export_rows,
    find_uncovered_languages,
    fit_calibration,
    match_reviews,
    measure_drift,
    plan_new_files,
    predict_rows,
    publish_version,
    record_scoring,
    refine_references,
    select_rows,
    write_outputs,
)
from zslabel.flows.student import run_student  # noqa: E402
from zslabel.incremental import Increment, previous_version  # noqa: E402
from zslabel.lock import job_lock  # noqa: E402
from zslabel.pipeline import decisions, row_languages, score  # noqa: E402
from zslabel.pipeline.clock import RunClock  # noqa: E402
from zslabel.pipeline.reused_ids import ReusedIds  # noqa: E402
from zslabel.pipeline.score import ShardScore  # noqa: E402
from zslabel.pipeline.write import RunResult  # noqa: E402
from zslabel.progress import Progress  # noqa: E402
from zslabel.redact import redact  # noqa: E402
from zslabel.summary import format_run, warning_lines  # noqa: E402


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
    result = _run_stages(job, clock, previous, increment)
    status = result.counts["status"]
    logger.info(
        "Labeled %d rows: %d accepted, %d abstained, %d invalid; outputs in %s",
        result.counts["rows"], status["accepted"], status["abstained"], status["invalid"],
        result.output_dir,
    )  # fmt: skip
    summary = format_run(result)
    # A scheduled run's log is where its warnings are read (language, re-sent ids, passages);
    # drift's are logged with its verdict (artifacts.publish_drift).
    for line in warning_lines(summary):
        if not line.startswith("drift: "):
            logger.warning("%s", line)
    artifacts.publish(result, summary, keys)
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
    job: JobRef, clock: RunClock, previous: Path | None, increment: Increment | None
) -> RunResult:
    """The stages of :func:`zslabel.runner.run_job`, one task each (scoring mapped over shards
    on the job's task runner); ``previous`` as there, ``carry_from`` and ``earlier_versions``
    from the ``increment``."""
    config = job_plan(job).config
    shards = list(job_plan(job).dataset.shards)
    carry_from = increment.carry_from if increment else None
    clock.lap("open")
    languages = check_input(job)
    reused = (
        check_reused_ids(job, increment.same_settings, increment.other_settings)
        if increment
        else ReusedIds(None, None)
    )
    rows = sum(s.num_rows for s in shards)
    get_run_logger().info(
        "Scoring %d rows in %d shard(s) on %s", rows, len(shards), config.runner.kind
    )
    scores = score_shards.with_options(task_runner=task_runner(config.runner))(job, shards)
    clock.lap("score")
    uncovered = find_uncovered_languages(job, scores)
    refinement = refine_references(job, scores, carry_from, uncovered.excluded)
    reviewed = match_reviews(job)
    calibration = fit_calibration(job, reviewed, refinement)
    combined = combine_sources(job, scores, calibration, refinement)
    predictions = predict_rows(job, scores, combined.combiner, refinement)
    chosen = select_rows(job, predictions, reviewed, uncovered.mask, uncovered.kept)
    del predictions  # the selected rows' predictions replace them
    split_index = assign_splits(job, chosen.predictions, chosen.selection, reused.pinned)
    selected = decisions.settle(combined, chosen, split_index, refinement)
    del chosen
    clock.lap("select")
    exported = export_rows(job, scores, selected, clock.run_id)
    languages = row_languages.language_record(languages, uncovered)
    described = assemble_manifest(
        job, record_scoring(job, scores), selected, exported.record, languages, reused.record
    )
    clock.lap("export")
    described = measure_drift(job, exported, described, scores, selected, previous)
    clock.lap("drift")
    return write_outputs(job, exported, described, clock, scores)
