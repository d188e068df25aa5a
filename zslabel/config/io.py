"""The ``input`` and ``output`` sections: where the rows come from and how they are read in
shards, and where the labeled splits go, in which format and proportions.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from zslabel.config.base import Fraction, StrictModel

DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}


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
    work_dir: str | None = None

    @field_validator("splits")
    @classmethod
    def _splits_sum_to_one(cls, splits: dict[str, float]) -> dict[str, float]:
        if not splits:
            raise ValueError("at least one split is needed, e.g. {train: 1.0}")
        for name in splits:
            if not re.fullmatch(r"[\w-]+", name):  # letters of any script: "validación"
                raise ValueError(f"split name {name!r}: use letters, digits, '_' and '-' only")
        reserved = {"labeled", "abstained", "manifest", "run"}
        clash = reserved & {name.lower() for name in splits}
        if clash:
            raise ValueError(f"split names {sorted(clash)} are reserved for other output files")
        total = sum(splits.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split fractions must sum to 1, got {total:g}")
        return splits
