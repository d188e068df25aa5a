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

A job with a model whose languages are unknown (neither in ``language.KNOWN_MODELS`` nor in its
model card: it may cover any) or with a multilingual model detects nothing. Where most rows with a
detected language are in uncovered languages, the job as a whole is in the wrong model's hands:
the rows are labeled as before and the warning says to use a multilingual model (abstaining them
all would leave nothing to train on). The rows' warning, when there is one, replaces the sample's
(:func:`language_record`): every row was checked.
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
from zslabel.pipeline.language import (
    MINORITY,
    MULTILINGUAL_MODEL,
    NO_TEMPLATE,
    listed_languages,
    text_models,
)
from zslabel.pipeline.plan import JobPlan
from zslabel.sources.languages import CODE_ALIASES, DETECT_CHARS, confident_languages

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
    the manifest's ``language.rows`` (None when nothing was detected); ``checked``: whether
    every row's language was checked at all (:func:`covered_languages`); ``kept``: (n,) bool,
    rows in uncovered languages labeled all the same, because most rows are (None: none are).

    Kept rows are labeled, but neither rank for their class's top fraction nor move a
    refined prototype: in a trial's incremental week that was 70 % German, they took the
    class quotas, the cutoffs fell (delivery 0.99 to 0.545), and English rows earlier weeks
    abstained were accepted with wrong labels (accepted accuracy 1.000 to 0.905)."""

    mask: np.ndarray | None
    record: dict[str, Any] | None
    checked: bool = False
    kept: np.ndarray | None = None

    @property
    def excluded(self) -> np.ndarray | None:
        """(n,) bool, rows no refined prototype may take: the abstained or the kept ones."""
        return self.mask if self.mask is not None else self.kept


def covered_languages(plan: JobPlan) -> frozenset[str] | None:
    """The languages some text model of the job covers, or None when rows are not checked:
    ``selection.abstain_uncovered_languages`` is off, the job has no text model, one model's
    languages are unknown (it may cover any), or one is multilingual."""
    if not plan.config.selection.abstain_uncovered_languages:
        return None
    models = text_models(plan, unknown=True)
    if not models or any(
        not languages or "multilingual" in languages for languages in models.values()
    ):
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


def uncovered_languages(plan: JobPlan, texts: Sequence[str]) -> dict[str, int] | None:
    """How many of ``texts`` are in each language no model of the job covers, most first (a
    sample's, for ``zslabel check``); None when rows are not checked."""
    covered = covered_languages(plan)
    if covered is None:
        return None
    found = [code for code in confident_languages(texts, MIN_CHARS, MIN_PROBABILITY) if code]
    counts = Counter(code for code in found if code not in covered)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


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
        return UncoveredRows(None, None, checked=True)
    found, counts = np.unique(codes[mask], return_counts=True)
    ranked = sorted(zip(found, counts.tolist(), strict=True), key=lambda item: (-item[1], item[0]))
    languages = {code.decode(): n for code, n in ranked}
    share = rows / int(known.sum())
    majority = share > 0.5
    record: dict[str, Any] = {
        "uncovered": rows,
        "languages": dict(list(languages.items())[:5]),
        "abstained": not majority,
    }
    if majority:
        record["kept_because"] = "most rows with a detected language are in such languages"
    if majority or share > MINORITY:
        record["warning"] = _warning(rows, share, languages, list(text_models(plan)), majority)
    if majority:
        return UncoveredRows(None, record, checked=True, kept=mask)
    return UncoveredRows(mask, record, checked=True)


def language_record(
    checked: dict[str, Any] | None, uncovered: UncoveredRows
) -> dict[str, Any] | None:
    """The manifest's ``language``: the sample's check (:func:`zslabel.pipeline.language.
    check_language`, None when it had no warning) with ``rows``, the per-row record, added.

    Where every row was checked, the rows' warning (or none, for a few abstained rows, which
    the abstain reasons count) replaces the sample's about the models' languages (py3langid
    without a probability floor, on 500 rows); a warning about a language without a template
    of its own stays. None when nothing is left to say."""
    if not uncovered.checked:
        return checked
    rows = dict(uncovered.record or {})
    warnings = [rows.pop("warning")] if "warning" in rows else []
    record = dict(checked or {})
    sample = record.pop("warning", None)
    if sample and NO_TEMPLATE in sample:
        warnings.insert(0, sample)
    if rows:
        record["rows"] = rows
    if warnings:
        record["warning"] = "; ".join(warnings)
    return record if rows or warnings else None


def _warning(
    rows: int, share: float, languages: dict[str, int], models: list[str], kept: bool
) -> str:
    listed = listed_languages(languages)
    fate = (
        "most rows are, so they are labeled as before and their labels will be poor; use"
        if kept
        else "they are abstained (uncovered_language) and go to review; to label them, use"
    )
    return (
        f"{rows:,} rows ({share:.0%} of those with a detected language) are in languages that "
        f"{', '.join(models)} does not cover ({listed}): {fate} a multilingual model, "
        f"e.g. model: {MULTILINGUAL_MODEL}"
    )


def _load(plan: JobPlan, score: ShardScore) -> np.ndarray:
    codes = plan.cache.load(_key(score.fingerprint_of(plan.config.input.text_column)))
    if codes is None:
        raise OutputError(
            f"{plan.work_dir}: cached row languages of shard {score.shard.index} "
            f"({score.shard.path}) are missing or damaged; run again to recompute them"
        )
    return codes


def _key(fingerprint: str) -> str:
    # Everything a row's code depends on besides its text: a changed rule never reads old codes.
    rule = [version("py3langid"), MIN_CHARS, MIN_PROBABILITY, DETECT_CHARS, CODE_ALIASES]
    return cache_key("row-languages", fingerprint, *rule)
