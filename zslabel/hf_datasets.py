"""Hugging Face ``datasets``: the split files of an output folder, by split name.

``datasets.load_dataset("parquet", data_files=zslabel.hf_data_files(out))`` loads every split
(``"json"`` for ``format: jsonl``, ``"csv"`` for csv). Two shorter calls work in simple cases
but not in all (datasets 5.2, measured here): ``data_dir=out`` finds only the split names
``datasets`` infers from file names (``train``, ``validation``/``valid``/``dev``, ``test``...),
so a ``holdout`` split is silently dropped; ``load_dataset(out)`` reads the folder's README.md
dataset card, which lists every split, but fails on a split with no rows and, after the job is
run again into the same folder, returns the earlier run's rows from its cache.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from zslabel.errors import InputError
from zslabel.version_index import current_versions

MANIFEST = "manifest.json"
VERSIONS = "versions.json"  # the index of an incremental job's output folder
BUILDERS = {"parquet": "parquet", "jsonl": "json", "csv": "csv"}


def hf_data_files(out_dir: str | Path) -> dict[str, list[str]]:
    """The split files of a zslabel output folder, for ``datasets.load_dataset``'s
    ``data_files``.

    Args:
        out_dir: an output folder (it has ``manifest.json``), or an incremental job's folder
            (``versions.json``: each split gathers that split's files of every current
            version, :func:`zslabel.version_index.current_versions`: not those whose files a
            later version labeled again, after a settings change).

    Returns:
        ``{split: [path, ...]}`` (splits in the manifest's order), absolute paths, each
        split's files in version order; splits without a row are left out (``datasets``
        refuses an empty split). The loader is the output format: ``"parquet"``, ``"json"``
        (jsonl) or ``"csv"`` (:data:`BUILDERS`); an incremental job's versions share one.

    Warns:
        UserWarning: a version gathered although a later version relabeled part of its files;
            versions gathered under different settings; versions that hold ids an earlier
            version holds too (re-sent records: the splits hold them twice).

    Raises:
        InputError: ``out_dir`` is not an output folder (no manifest.json or versions.json),
            or a manifest cannot be read.
    """
    root = Path(out_dir).expanduser().resolve()
    if (root / VERSIONS).is_file():
        kept, partly = current_versions(_read_json(root / VERSIONS))
        folders = [root / str(entry["dir"]) for entry in kept]
        for entry in partly:
            warnings.warn(
                f"{root / str(entry['dir'])}: a later version labeled some of its files again "
                "(their rows are in both); its other files are in no later version, so it is "
                "gathered too",
                UserWarning,
                stacklevel=2,
            )
        settings = {entry["job_key"] for entry in kept if "job_key" in entry}
        if len(settings) > 1:
            older = [str(e["dir"]) for e in kept if e.get("job_key") != kept[-1].get("job_key")]
            warnings.warn(
                f"{root}: versions {', '.join(older)} were labeled under other settings than "
                f"the latest, {kept[-1]['dir']}; their files were not in the input when the "
                "settings changed, so no version labeled them under the latest settings",
                UserWarning,
                stacklevel=2,
            )
    elif (root / MANIFEST).is_file():
        folders = [root]
    else:
        raise InputError(
            f"{root}: not a zslabel output folder (expected {MANIFEST}, or {VERSIONS} for an "
            "incremental job)"
        )
    files: dict[str, list[str]] = {}
    reused: dict[str, int] = {}
    for folder in folders:
        manifest = _read_json(folder / MANIFEST)
        if (manifest.get("reused_ids") or {}).get("rows"):
            reused[folder.name] = int(manifest["reused_ids"]["rows"])
        output = manifest["config"]["output"]
        for split in output["splits"]:
            name = f"{split}.{output['format']}"
            rows = manifest["files"].get(name, {}).get("rows")
            files.setdefault(split, [])
            if rows:
                files[split].append(str(folder / name))
    if reused:
        listed = ", ".join(f"{name}: {n:,}" for name, n in reused.items())
        id_column = manifest["config"]["input"].get("id_column")
        warnings.warn(
            f"{root}: some versions hold ids that earlier versions hold too ({listed}): a "
            "re-sent record accepted in both is in the splits twice (in the split of its "
            "earlier copy), and the earlier copy has the earlier text; dedupe by "
            f"{id_column!r} after loading, keeping the row of the latest version",
            UserWarning,
            stacklevel=2,
        )
    return {split: paths for split, paths in files.items() if paths}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from None
