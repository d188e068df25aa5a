"""Incremental labeling: each run labels only the input files no earlier version of the same job
labeled, and publishes them as a new version folder instead of overwriting.

Layout of ``output.dir`` in incremental mode::

    versions.json     the index: every version, the files it labeled, its counts; and "latest"
    v0001/            a complete output folder (labeled.parquet, splits, manifest.json, ...)
    v0002/            the next run's new files only; its label prototypes are refined from
                      its rows and the earlier versions' (prototypes.parquet, carried on)
    .zslabel/         the work folder shared by all versions (run lock, id checks); the
                      feature cache is the user's, shared by every job (output.cache_dir)

A file is known by its path and a fingerprint of its size, modification time and Parquet footer,
so a file rewritten in place is labeled again; empty files wait until they have rows. "The same
job" means the same config apart from output, runner, review and the incremental flag: a changed
label, template or threshold starts labeling from scratch.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslabel.atomic import temporary_beside
from zslabel.config import JobConfig
from zslabel.dataset import InputDataset
from zslabel.export import file_sha256
from zslabel.lock import job_lock
from zslabel.review.pending import versions_with_pending_reviews
from zslabel.review.store import choose_store, load_reviews
from zslabel.runner import RunResult, run_job
from zslabel.version_index import INDEX, check_not_mixed, current_versions, read_index


@dataclass(frozen=True)
class Increment:
    """The next version: which files to label, and the job that labels only them."""

    version: str
    files: tuple[str, ...]
    fingerprints: dict[str, str]
    config: JobConfig  # output.dir is the version folder; the work folder stays shared
    job_key: str
    # Of ``files``, those an earlier version labeled under other settings (another job key).
    relabeled: tuple[str, ...] = ()
    # The latest earlier version of the same job key: its label prototype rows cover exactly the
    # files done under these settings, so this version adds them to its own (refinement).
    carry_from: Path | None = None
    # Every earlier version of the same job key, oldest first: ids this version shares with
    # them are warned about (zslabel.pipeline.ids.reused_ids).
    same_settings: tuple[Path, ...] = ()
    # Every earlier version under other settings: ids are not warned about there (a settings
    # change labels every file again) but keep the split they had (reused_ids).
    other_settings: tuple[Path, ...] = ()
    # Of ``files``, those an earlier version labeled before they changed (rewritten in place).
    rewritten: tuple[str, ...] = ()
    # Of ``files``, unchanged ones labeled again because reviews imported since name their rows
    # (zslabel.review.pending), and the sha256 of the review store this version reads.
    reviewed: tuple[str, ...] = ()
    review_store_sha256: str | None = None
    # Files an earlier version of the same job key labeled that the input no longer holds,
    # and no earlier version reported gone (its "files_gone"): deleted, or rewritten under new
    # names (Spark's partition overwrite), which makes their rows new files' rows here while
    # the earlier version still holds them.
    vanished: tuple[str, ...] = ()

    def describe(self) -> str:
        """``Version v0004: 2 new file(s)``, and how many of them are relabeled or rewritten
        (a trial read "1 of them labeled ... under other settings" for 3 files labeled before,
        2 of which it had rewritten)."""
        line = f"Version {self.version}: {len(self.files)} new file(s)"
        said = []
        if self.relabeled:
            said.append(
                f"{len(self.relabeled)} of them labeled by an earlier version under other "
                "settings, labeled again under these"
            )
        if self.rewritten:
            said.append(
                f"{len(self.rewritten)} changed since an earlier version labeled them, "
                "labeled again as a whole"
            )
        if self.reviewed:
            said.append(
                f"{len(self.reviewed)} labeled again to apply reviews imported since their version"
            )
        line += f" ({'; '.join(said)})" if said else ""
        if self.vanished:
            first = self.vanished[0]
            line += (
                f". {len(self.vanished)} file(s) earlier versions labeled are no longer in the "
                f"input (e.g. {first}): if they were rewritten under new names (Spark's "
                "partition overwrite), this version labels their rows again while the earlier "
                "versions still hold them; read the versions together deduplicated by id, or "
                "start a new output folder"
            )
        return line


def job_key(config: JobConfig) -> str:
    """What decides the labels of a version: the job less where and how it runs. Defaults are left
    out, so a new setting with a default does not relabel every earlier version; so is
    ``review`` (where the reviews are kept, how many rows the review files offer), so that a
    moved job file or a new review limit does not either, nor ``drift`` (thresholds that judge a
    version, not its labels)."""
    settings = config.model_dump(
        mode="json",
        exclude={"output", "runner", "incremental", "student", "review", "drift"},
        exclude_defaults=True,
    )
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def plan_increment(config: JobConfig) -> Increment | None:
    """The files of ``config.input`` that no version of this job has labeled; None if none."""
    root = Path(config.output.dir).expanduser()
    check_not_mixed(root, incremental=True)
    key = job_key(config)
    index = read_index(root)
    done = {
        (path, fingerprint)
        for version in index["versions"]
        if version["job_key"] == key
        for path, fingerprint in version["files"].items()
    }
    dataset = InputDataset(config.input)
    fingerprints = {path: dataset.file_fingerprint(path) for path in dataset.files}
    store_sha, reviewed = _pending_reviews(config, root, index, key, fingerprints)
    # An empty file has nothing to label; once rows are written to it, its fingerprint changes.
    new = tuple(
        path
        for path, fp in fingerprints.items()
        if ((path, fp) not in done or path in reviewed) and dataset.file_rows(path) > 0
    )
    if not new:
        return None
    labeled_before = {
        (path, fingerprint)
        for version in index["versions"]
        for path, fingerprint in version["files"].items()
    }
    paths_before = {path for path, _ in labeled_before}
    relabeled_paths = {
        path
        for path in new
        if (path, fingerprints[path]) in labeled_before and path not in reviewed
    }
    reported_gone = {path for v in index["versions"] for path in v.get("files_gone", [])}
    version = f"v{len(index['versions']) + 1:04d}"
    same_key = [v for v in index["versions"] if v["job_key"] == key]
    output = config.output.model_copy(
        update={
            "dir": str(root / version),
            "work_dir": config.output.work_dir or str(root / ".zslabel"),
        }
    )
    return Increment(
        version=version,
        files=new,
        fingerprints={path: fingerprints[path] for path in new},
        config=config.model_copy(update={"output": output, "incremental": False}),
        job_key=key,
        relabeled=tuple(path for path in new if path in relabeled_paths),
        rewritten=tuple(
            path
            for path in new
            if path in paths_before and path not in relabeled_paths and path not in reviewed
        ),
        reviewed=tuple(path for path in new if path in reviewed),
        review_store_sha256=store_sha,
        vanished=tuple(sorted({path for path, _ in done} - set(fingerprints) - reported_gone)),
        carry_from=root / str(same_key[-1]["dir"]) if same_key else None,
        # A version whose files are labeled again for reviews holds every one of their ids:
        # not re-sent records to warn of, yet their rows keep the splits they had there.
        same_settings=tuple(
            root / str(v["dir"]) for v in same_key if not reviewed & set(v["files"])
        ),
        other_settings=tuple(
            root / str(v["dir"])
            for v in index["versions"]
            if v["job_key"] != key or reviewed & set(v["files"])
        ),
    )


def _pending_reviews(
    config: JobConfig,
    root: Path,
    index: dict[str, Any],
    key: str,
    fingerprints: dict[str, str],
) -> tuple[str | None, set[str]]:
    """The review store's sha256 (None: no store) and the unchanged input files, labeled by a
    current version of this job key, that hold rows with a review the version has not applied
    (:mod:`zslabel.review.pending`). The versions are read only when the store changed since
    the latest version was labeled."""
    work_dir = config.output.work_dir or str(root / ".zslabel")
    store = choose_store(config.review.store, work_dir).read
    if store is None:
        return None, set()
    sha = file_sha256(store)
    versions = index["versions"]
    if not versions or versions[-1].get("review_store_sha256") == sha:
        return sha, set()
    current, _ = current_versions(index)
    mine = [v for v in current if v["job_key"] == key]
    reviews = load_reviews(store, list(config.label_names))
    if reviews is None:
        return sha, set()
    dirs = set(
        versions_with_pending_reviews(
            root,
            mine,
            reviews,
            list(config.label_names),
            config.input.id_column,
            config.input.text_column,
        )
    )
    return sha, {
        path
        for v in mine
        if v["dir"] in dirs
        for path, fp in v["files"].items()
        if fingerprints.get(path) == fp
    }


def record_version(root: str | Path, increment: Increment, result: RunResult) -> dict[str, Any]:
    """Add the finished version to the index (atomically) and make it the latest."""
    root = Path(root).expanduser()
    index = read_index(root)
    entry = {
        "version": increment.version,
        "dir": increment.version,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "job_key": increment.job_key,
        "files": increment.fingerprints,
        "rows": result.counts["rows"],
        "status": result.counts["status"],
        "run_id": result.run_info["run_id"],
        **(
            {"review_store_sha256": increment.review_store_sha256}
            if increment.review_store_sha256
            else {}
        ),
        **({"files_gone": list(increment.vanished)} if increment.vanished else {}),
    }
    index["versions"].append(entry)
    index["latest"] = increment.version
    _write_atomically(root / INDEX, index)
    return entry


def previous_version(root: str | Path) -> Path | None:
    """The latest version's folder, which the next version's drift.json compares with; None
    before the first version (which writes a baseline)."""
    root = Path(root).expanduser()
    index = read_index(root)
    latest = index.get("latest")
    if not latest:
        return None
    entry = next((v for v in index["versions"] if v["version"] == latest), None)
    return root / str(entry["dir"] if entry else latest)


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def run_incremental(
    config: JobConfig, *, progress: bool = False
) -> tuple[Increment, RunResult] | None:
    """Label the new files of an incremental job into a new version; None if nothing is new."""
    # Held from planning to recording: two runs planning at once would both label the same new
    # files into the same version folder.
    with job_lock(config):
        increment = plan_increment(config)
        if increment is None:
            return None
        result = run_job(
            increment.config,
            progress=progress,
            files=increment.files,
            previous=previous_version(config.output.dir),
            carry_from=increment.carry_from,
            earlier_versions=increment.same_settings,
            other_versions=increment.other_settings,
        )
        record_version(config.output.dir, increment, result)
        return increment, result
