"""The ``input`` and ``output`` sections: where the rows come from and how they are read in
shards, and where the labeled splits go, in which format and proportions.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from zslabel.config.base import Fraction, StrictModel
from zslabel.config.runner import RunnerSpec

DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# The folder of every cache zslabel keeps for a user (features, int8 model exports).
CACHE_ENV = "ZSLABEL_CACHE_DIR"
FEATURES = "features"


class InputSpec(StrictModel):
    path: str
    text_column: str = "text"
    id_column: str | None = None
    batch_rows: Annotated[int, Field(gt=0)] = 4096
    # Rows per shard, the unit of scoring, caching and resuming: whole row groups, or ranges
    # of shard_rows to 2 x shard_rows rows of a larger group. About a minute and a half of
    # CPU scoring with the default model.
    shard_rows: Annotated[int, Field(gt=0)] = 16_384


class OutputSpec(StrictModel):
    dir: str
    format: Literal["parquet", "jsonl", "csv"] = "parquet"
    splits: dict[str, Fraction] = Field(default_factory=lambda: dict(DEFAULT_SPLITS))
    seed: int = 0
    # Per-output state (the run lock, the id check, reviews of the quick form); None:
    # ``<dir>/.zslabel``.
    work_dir: str | None = None
    # The cache folder (features under ``<cache_dir>/features``), shared by every job and
    # output that points at it: entries are keyed by content. None: the user's cache folder,
    # or the work folder for a job run on an existing cluster (feature_cache_folder).
    cache_dir: str | None = None

    @field_validator("splits")
    @classmethod
    def _splits_sum_to_one(cls, splits: dict[str, float]) -> dict[str, float]:
        if not splits:
            raise ValueError("at least one split is needed, e.g. {train: 1.0}")
        for name in splits:
            if not re.fullmatch(r"[\w-]+", name):  # letters of any script: "validación"
                raise ValueError(f"split name {name!r}: use letters, digits, '_' and '-' only")
        reserved = {"labeled", "abstained", "manifest", "run", "prototypes"}
        clash = reserved & {name.lower() for name in splits}
        if clash:
            raise ValueError(f"split names {sorted(clash)} are reserved for other output files")
        total = sum(splits.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split fractions must sum to 1, got {total:g}")
        return splits


def user_cache_root() -> Path:
    """``$ZSLABEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/zslabel``, else ``~/.cache/zslabel``.

    The XDG base directory rule (what ``platformdirs.user_cache_dir`` gives on Linux), the
    same folder the int8 model exports use (:func:`zslabel.onnx.cache_root`).
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "zslabel"


def work_folder(output: OutputSpec) -> Path:
    """An output's own state (run lock, id check, quick-form reviews): ``output.work_dir``,
    else ``<output.dir>/.zslabel``."""
    return Path(output.work_dir or Path(output.dir) / ".zslabel").expanduser()


def feature_cache_folder(output: OutputSpec, runner: RunnerSpec | None = None) -> Path:
    """Where a job's features are cached: ``<output.cache_dir>/features`` when the job sets
    it; else ``<user_cache_root()>/features``, shared by every output and job of the user,
    since entries are keyed by content.

    Workers of an existing Dask or Ray cluster (``runner.address``) would resolve a user's
    cache folder on their own machines, where the flow does not find their entries: such a job
    keeps its cache in its work folder (:func:`work_folder`), on the output's storage, unless
    ``output.cache_dir`` names a folder every machine shares.
    """
    if output.cache_dir:
        return Path(output.cache_dir).expanduser() / FEATURES
    if runner is not None and runner.kind != "threads" and runner.address is not None:
        return work_folder(output) / FEATURES
    return user_cache_root() / FEATURES
