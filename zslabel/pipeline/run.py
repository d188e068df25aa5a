"""Run a labeling job on one machine: the stages of :mod:`zslabel.pipeline`, in order."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from zslabel.config import JobConfig
from zslabel.errors import ConfigError
from zslabel.lock import run_lock
from zslabel.pipeline import (
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
    reused_ids,
    reviews,
    row_languages,
    score,
    select,
    split,
    write,
)
from zslabel.pipeline.clock import RunClock
from zslabel.pipeline.write import RunResult
from zslabel.progress import Progress


def run_job(
    config: JobConfig,
    *,
    progress: bool = False,
    files: Collection[str] | None = None,
    previous: str | Path | None = None,
    carry_from: str | Path | None = None,
    earlier_versions: Sequence[str | Path] = (),
    other_versions: Sequence[str | Path] = (),
) -> RunResult:
    """Label ``config.input`` (or only ``files`` of it) into ``config.output.dir``.

    Rerunning reuses cached scores. Incremental jobs go through
    :func:`zslabel.incremental.run_incremental`, which calls this for each new version.
    drift.json compares the outputs with ``previous`` (an output folder), by default with the
    outputs this run replaces; a baseline when there are none. ``carry_from``: an incremental
    job's latest earlier version of the same settings (:attr:`Increment.carry_from`), whose
    label prototype rows refinement adds to this run's (:mod:`zslabel.pipeline.prototypes`).
    ``earlier_versions``: its earlier versions of the same settings, whose ids this run's are
    compared with (a warning, :func:`zslabel.pipeline.reused_ids.reused_ids`), and whose splits
    an accepted row with one of their ids keeps; ``other_versions``: its earlier versions under
    other settings, which only keep splits (:attr:`Increment.other_settings`).
    Whether the drift crossed a threshold is in ``manifest["drift"]``: the run never fails on
    it, callers decide (``on_drift``). Raises ConfigError for an incremental job, and each
    stage's errors.
    """
    if config.incremental:
        raise ConfigError(
            "this job is incremental: run it with zslabel.run_incremental, "
            "'zslabel label' or 'zslabel run'"
        )
    clock = RunClock()
    job = plan.plan_job(config, files)
    # One run at a time per output folder; taken once the job is known to be valid, so that a
    # bad job leaves no lock or folder behind.
    with run_lock(job.output_dir, job.work_dir, job.cache.folder):
        clock.lap("open")
        # Before scoring: a duplicate id would otherwise fail the run at the split, after it.
        ids.check_ids(job)
        reused = reused_ids.reused_ids(job, earlier_versions, other_versions)
        languages = language.check_language(job)
        with Progress(job.dataset.num_rows * len(job.sources), "scoring", enabled=progress) as bar:
            scores = [score.score_shard(job, shard, bar.advance) for shard in job.dataset.shards]
        clock.lap("score")
        uncovered = row_languages.uncovered_rows(job, scores)
        earlier = None if carry_from is None else Path(carry_from).expanduser()
        refinement = refine.refine(job, scores, earlier, uncovered.excluded)
        reviewed = reviews.matched_reviews(job)
        calibration = calibrate.fit_calibration(job, reviewed, refinement)
        combined = combine.combine(job, scores, calibration, refinement)
        predictions = predict.predict(job, scores, combined.combiner, refinement)
        chosen = select.select_rows(job, predictions, reviewed, uncovered.mask, uncovered.kept)
        split_index = split.assign_splits(job, chosen.predictions, chosen.selection, reused.pinned)
        selected = decisions.settle(combined, chosen, split_index, refinement)
        clock.lap("select")
        exported = write.export(job, scores, selected, clock.run_id)
        languages = row_languages.language_record(languages, uncovered)
        described = manifest.assemble_manifest(
            job,
            score.scoring_record(job, scores),
            selected,
            exported.record,
            languages,
            reused.record,
        )
        clock.lap("export")
        before = drift.previous_output(job.output_dir if previous is None else previous)
        drift.measure(job, exported.staged, described, scores, selected.predictions.label, before)
        clock.lap("drift")
        return write.commit(job, exported.staged, described, clock, scores)
