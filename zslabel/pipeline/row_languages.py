"""Rows in languages that no model of the job covers: detected per row while scoring (cached
beside the features), then kept out of refinement and abstained, reason ``uncovered_language``,
so that they go to review instead of into the training set.

An English model reads German, Spanish or French text as noise with structure. In a trial of
support tickets with 8 to 20 % such rows, the accepted ones were 0.28 accurate at a mean
confidence of 0.83 (0.10 in another week); as the most confident rows of one label they also
moved its refined prototype, which an incremental job carried to later versions.

A row counts as in a language only when its text has at least :data:`MIN_CHARS` characters and
py3langid's top language holds at least :data:`MIN_PROBABILITY` of its normalised probability.
Measured on every row of at least 20 characters: at that probability py3langid calls 1 of 7,600
AG News rows, 0 of 1,797 SST-2 rows and 0 of 3,050 BANKING77 rows another language (10 rows of
the three sets with no probability floor, on Latin, Irish, Welsh, Nigerian Pidgin), and finds
all 531 German, French and Spanish rows of the trial's five weeks, calling none of its 4,439
English rows another language.

A job whose models' languages are unknown (neither in ``language.KNOWN_MODELS`` nor in their
model cards), or with a multilingual model, detects nothing. Where most rows with a detected
language are in uncovered languages, the job as a whole is in the wrong model's hands: the rows
are labeled as before and the language warning says to use a multilingual model (abstaining
them all would leave nothing to train on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np

from zslabel.cache import cache_key
from zslabel.errors import OutputError
from zslabel.pipeline.language import text_models
from zslabel.pipeline.plan import JobPlan
from zslabel.sources.languages import confident_languages

if TYPE_CHECKING:
    from zslabel.dataset import Shard
    from zslabel.pipeline.score import ShardScore

MIN_CHARS = 20
MIN_PROBABILITY = 0.5
# Per row, a language code of at most 3 letters (py3langid's longest is "pcm"); b"": unknown.
_CODE = "S3"


@dataclass(frozen=True)
class UncoveredRows:
    """``mask``: (n,) bool over the input's rows, those to abstain (None: none are); ``record``:
    the manifest's ``language.rows`` (None when nothing was detected)."""

    mask: np.ndarray | None
    record: dict[str, Any] | None


def covered_languages(plan: JobPlan) -> frozenset[str] | None:
    """The languages some text model of the job covers, or None when rows are not checked:
    ``selection.abstain_uncovered_languages`` is off, no model's languages are known, or one is
    multilingual."""
    if not plan.config.selection.abstain_uncovered_languages:
        return None
    models = text_models(plan)
    if not models or any("multilingual" in languages for languages in models.values()):
        return None
    return frozenset(code for languages in models.values() for code in languages)


def detect_shard(
    plan: JobPlan, shard: Shard, texts: Sequence[str], valid_rows: Sequence[int], fingerprint: str
) -> None:
    """Cache each row's detected language for one shard (``texts``: its valid rows' texts, at
    ``valid_rows``; ``fingerprint``: the text column's); nothing when rows are not checked."""
    if covered_languages(plan) is None:
        return
    key = _key(fingerprint)
    if plan.cache.has(key):
        return
    codes = np.zeros(shard.num_rows, dtype=_CODE)
    found = confident_languages(texts, MIN_CHARS, MIN_PROBABILITY)
    codes[list(valid_rows)] = np.asarray(found, dtype=_CODE)
    plan.cache.save(key, codes)


def uncovered_rows(plan: JobPlan, scores: Sequence[ShardScore]) -> UncoveredRows:
    """The rows to abstain and the manifest's record of them, from every shard's cached codes.

    Raises OutputError when a shard's codes are missing from the cache (removed mid-run)."""
    covered = covered_languages(plan)
    if covered is None:
        return UncoveredRows(None, None)
    codes = np.concatenate([_load(plan, score) for score in scores] or [np.zeros(0, _CODE)])
    known = codes != b""
    mask = known & ~np.isin(codes, np.asarray(sorted(covered), dtype=_CODE))
    rows = int(mask.sum())
    if not rows:
        return UncoveredRows(None, None)
    counts = Counter(code.decode() for code in codes[mask])
    most = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5])
    majority = rows > 0.5 * int(known.sum())
    record = {"uncovered": rows, "languages": most, "abstained": not majority}
    if majority:
        record["kept_because"] = "most rows are in languages the models do not cover"
    return UncoveredRows(None if majority else mask, record)


def language_record(
    checked: dict[str, Any] | None, uncovered: UncoveredRows
) -> dict[str, Any] | None:
    """The manifest's ``language``: the sample's check (:func:`zslabel.pipeline.language.
    check_language`, None when it had no warning) with ``rows``, the per-row record, added."""
    if uncovered.record is None:
        return checked
    return {**(checked or {}), "rows": uncovered.record}


def _load(plan: JobPlan, score: ShardScore) -> np.ndarray:
    codes = plan.cache.load(_key(score.fingerprint_of(plan.config.input.text_column)))
    if codes is None:
        raise OutputError(
            f"{plan.work_dir}: cached row languages of shard {score.shard.index} "
            f"({score.shard.path}) are missing or damaged; run again to recompute them"
        )
    return codes


def _key(fingerprint: str) -> str:
    return cache_key("row-languages", fingerprint, version("py3langid"), MIN_CHARS, MIN_PROBABILITY)
