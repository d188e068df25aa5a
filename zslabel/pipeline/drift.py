"""Drift: how the staged outputs of this run differ from the previous version, as drift.json.

Measured on the staged files, before the commit: drift.json is then committed atomically with
the data it describes and listed in the manifest, and the previous outputs (for a plain job
rerun into the same folder, the very files the commit replaces) are still there to be read. The
report's ``current`` is ``.`` and its ``baseline`` a path relative to the output folder
(``../v0002`` for a version, ``.`` for the outputs a rerun replaced): nothing in it depends on
the run id, the staging folder or where the folders live, so the same inputs give the same
drift.json and manifest bytes, and a moved dataset keeps a valid drift.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.changes import version_settings
from zslabel.drift import DRIFT, DriftReport, baseline, centroids_from_cache, compare, write_drift
from zslabel.export import MANIFEST, StagedOutput, file_sha256
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ShardScore

LABELED = "labeled.parquet"


def previous_output(folder: str | Path) -> Path | None:
    """``folder`` when it holds a finished output (manifest.json and labeled.parquet), else
    None: the version a plain job's rerun compares with, before its commit replaces it."""
    path = Path(folder).expanduser()
    if (path / MANIFEST).is_file() and (path / LABELED).is_file():
        return path
    return None


def measure(
    plan: JobPlan,
    staged: StagedOutput,
    manifest: dict[str, Any],
    scores: Sequence[ShardScore],
    labels: np.ndarray,
    previous: Path | None,
) -> DriftReport | None:
    """Write drift.json of the staged outputs into the staging folder and describe it in
    ``manifest`` (``files["drift.json"]`` and a ``drift`` summary). ``labels``: the (rows,) int
    label code of every input row (-1: none), for the class centroids of the cached features.
    ``previous``: the output folder to compare with; None writes a baseline.

    An identical rerun (``previous`` holds the same labeled.parquet bytes and a drift.json with
    the same thresholds) keeps the drift.json it had: it is the same version, and comparing it
    with itself would replace a real comparison by "no drift". Returns the report, or None when
    one was carried over. Raises InputError / OutputError (zslabel.drift), after removing the
    staging folder, as the other stages do.
    """
    try:
        return _measure(plan, staged, manifest, scores, labels, previous)
    except BaseException:
        staged.abort()
        raise


def _measure(
    plan: JobPlan,
    staged: StagedOutput,
    manifest: dict[str, Any],
    scores: Sequence[ShardScore],
    labels: np.ndarray,
    previous: Path | None,
) -> DriftReport | None:
    spec = plan.config.drift
    _note_version_settings(previous, plan.output_dir, manifest)
    carried = _carried_over(previous, plan.output_dir, manifest, spec.model_dump(mode="json"))
    if carried is not None:
        (staged.staging / DRIFT).write_text(carried, encoding="utf-8")
        _describe(staged, manifest, json.loads(carried))
        return None
    # read_profile reads the folder's manifest; the commit writes the final one over this.
    staged.write_json(MANIFEST, manifest)
    try:
        centroids = centroids_from_cache(plan, scores, labels)
        if previous is None:
            report = baseline(staged.staging, spec, centroids=centroids)
        else:
            report = compare(previous, staged.staging, spec, centroids=centroids)
    finally:
        (staged.staging / MANIFEST).unlink(missing_ok=True)
    report = dataclasses.replace(
        report,
        current=".",
        baseline=None if previous is None else _relative(previous, plan.output_dir),
    )
    write_drift(staged.staging, report)
    _describe(staged, manifest, report.to_dict())
    return report


def _note_version_settings(previous: Path | None, output: Path, manifest: dict[str, Any]) -> None:
    """An incremental version is compared with the version before it, not with the output folder
    its manifest's ``changes`` were read from (none yet): the settings changed since that
    version go into ``changes`` too, so that a drift they explain (a new threshold, an upgrade
    that moved the defaults) does not fail the run (:func:`settings_changed`)."""
    if previous is None or previous.resolve() == output.resolve():
        return
    try:
        before = json.loads((previous / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # read_profile below raises with the file's name
    changed = version_settings(before, manifest) if isinstance(before, dict) else {}
    if changed:
        changes = manifest.setdefault("changes", {})
        changes.setdefault("settings", {}).update(changed)
        changes["since"] = _relative(previous, output)


def _relative(folder: Path, start: Path) -> str:
    return Path(
        os.path.relpath(folder.expanduser().resolve(), start.expanduser().resolve())
    ).as_posix()


def _carried_over(
    previous: Path | None, output_dir: Path, manifest: dict[str, Any], thresholds: dict[str, Any]
) -> str | None:
    if previous is None or _relative(previous, output_dir) != ".":
        return None  # only a rerun into the same folder can be the same version
    try:
        old = json.loads((previous / MANIFEST).read_text(encoding="utf-8"))
        text = (previous / DRIFT).read_text(encoding="utf-8")
        recorded = json.loads(text)
    except (OSError, ValueError):
        return None
    same_rows = (
        old.get("files", {}).get(LABELED, {}).get("sha256") == manifest["files"][LABELED]["sha256"]
    )
    same_spec = {**recorded.get("thresholds", {}), "on_drift": recorded.get("on_drift")}
    if same_rows and same_spec == thresholds:
        return text
    return None


def _describe(staged: StagedOutput, manifest: dict[str, Any], report: dict[str, Any]) -> None:
    """The manifest's record of drift.json: its hash, and what the summary, the report and the
    flow act on (the verdict, the crossed thresholds, the figures the report plots)."""
    manifest["files"][DRIFT] = {"sha256": file_sha256(staged.staging / DRIFT)}
    profiles = (report.get("baseline_profile") or {}, report.get("profile") or {})
    manifest["drift"] = {
        "file": DRIFT,
        "first_version": report["first_version"],
        "baseline": report["baseline"],
        "drifted": report["drifted"],
        "on_drift": report["on_drift"],
        "message": report["message"],
        "crossed": report["crossed"],
        "metrics": [
            {key: m.get(key) for key in ("metric", "value", "threshold", "status", "reason")}
            for m in report["metrics"]
        ],
        "class_shares": {
            "baseline": profiles[0].get("class_shares"),
            "current": profiles[1].get("class_shares"),
        },
        "new_terms": [t.get("term") for t in report.get("new_terms", [])][:10],
    }


# Settings keys (zslabel.changes) that cannot change which rows get which label; the review
# store's path is where answers are kept (the answers applied show in the counts).
_NOT_LABELING = ("drift.", "runner.", "student.", "output.", "incremental", "review.store")


def failure_message(manifest: dict[str, Any]) -> str | None:
    """The reason a run with ``on_drift: fail`` ends failed (after its outputs are written), or
    None when it did not drift or only warns."""
    drift = manifest.get("drift") or {}
    if settings_changed(manifest):
        return None
    if drift.get("drifted") and drift.get("on_drift") == "fail":
        return f"{manifest['config']['output']['dir']}: {drift['message']}"
    return None


def settings_changed(manifest: dict[str, Any]) -> list[str]:
    """The job settings this run changed against the outputs it replaces (``manifest
    ["changes"]``): a drift they explain is the user's own doing, so ``on_drift: fail`` does
    not fail the run (a new-user trial: a rerun with another per_class_top_fraction was refused
    as drift). Keys that change how a run is carried out or judged, not its labels (the drift
    thresholds, the runner, the student, the output and review store folders) explain no drift:
    turning ``on_drift: fail`` on still fails the run that drifted."""
    settings = (manifest.get("changes") or {}).get("settings") or {}
    return sorted(key for key in settings if not key.startswith(_NOT_LABELING))
