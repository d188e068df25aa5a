"""Look before a long run: a job scored on a small, evenly spread sample of its input.

:func:`preview` builds the job as a run would (so a bad job fails the same way, before any row
is scored), scores ``sample`` rows spread evenly over the input with every source, and returns
what a run would find out too late: each source's label prompts, the labels whose prompts the
model places closest, labels no sampled row prefers, the predicted class distribution, and the
measured scoring speed turned into an estimate of the full run's time. It writes nothing: model
and prompt caches go to a temporary folder, and the job's work folder is only read (to count the
shards a run would reuse).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslabel import priors
from zslabel.cache import FeatureCache
from zslabel.config import JobConfig, RefineSpec
from zslabel.config.io import feature_cache_folder
from zslabel.labelnames import case_folded_label
from zslabel.passages import RepeatedPassages, describe, describe_copies, repeated_passages
from zslabel.pipeline import row_languages
from zslabel.pipeline.calibrate import fit_calibration
from zslabel.pipeline.combine import fit_combiner
from zslabel.pipeline.ids import check_ids
from zslabel.pipeline.language import listed_languages
from zslabel.pipeline.plan import JobPlan, plan_job
from zslabel.pipeline.predict import predictions_of
from zslabel.pipeline.refine import skip_reason
from zslabel.pipeline.score import feature_key, featurize, read_inputs
from zslabel.refine import prompt_stray_labels
from zslabel.sources import EmbeddingSource
from zslabel.sources.clip import ClipSource
from zslabel.sources.distinct import SIMILAR_PROMPT_COSINE, closest_label_pairs
from zslabel.sources.nli import shortlist_mask

DEFAULT_SAMPLE = 500
WARMUP_ROWS = 16  # scored once, untimed: a fresh process's first batches are slower
SHOWN_PAIRS = 5  # the closest label pairs listed per embedding source (all flagged ones too)


@dataclass(frozen=True)
class SourcePreview:
    name: str
    kind: str
    prompts: dict[str, list[str]]  # label -> its prompts (hypotheses for NLI); {} for rules
    # The closest label pairs, closest first: {"labels": [a, b], "cosine": c, "similar": bool};
    # embedding sources only.
    closest_pairs: list[dict[str, Any]]
    top_label_counts: dict[str, int]  # sampled rows whose top label this source makes each label
    unpreferred: list[str]  # labels that are the top label of no sampled row
    # Labels refinement would keep at their prompts (zslabel.refine.stray_labels, on the
    # sample); None for a source that is not refined.
    stray: list[str] | None
    rows_per_s: float  # measured on the sample, after a warm-up


@dataclass(frozen=True)
class Preview:
    input_rows: int
    shards: int
    sample_rows: int  # rows scored (at most the sample asked for)
    labels: list[str]
    sources: list[SourcePreview]
    distribution: dict[str, int]  # the combined top label's counts; plus "(not scored)"
    shares: dict[str, float]  # the same, as shares of sample_rows
    unpreferred: list[str]  # labels that are the combined top label of no sampled row
    # The class mix estimated from the combined probabilities by EM (zslabel.priors), by label,
    # before the student's shrinkage towards uniform; None for multi-label jobs.
    estimated_shares: dict[str, float] | None
    estimate_s: float  # the full run's scoring time, assuming no shard is cached
    cached_shards: int | None  # shards whose scores every source has cached; None: no cache yet
    cache_dir: str  # the job's feature cache
    # Sampled texts per language no model of the job covers, which `label` abstains
    # (zslabel.pipeline.row_languages); None when the job's rows are not checked.
    uncovered_languages: dict[str, int] | None = None
    # Sentences many sampled texts share (footers, disclaimers: zslabel.passages); None when
    # the job reads no text column.
    repeated_passages: RepeatedPassages | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NOT_SCORED = "(not scored)"
FLAG = "  <- nearly the same: merge them or describe them apart"


def sample_rows(num_rows: int, sample: int, seed: int = 0) -> np.ndarray:
    """``sample`` row indices spread evenly over ``num_rows`` rows (all of them if fewer): one
    row drawn (with a fixed seed) from each of ``sample`` equal strata of consecutive rows. A
    fixed stride would alias with periodic inputs (rows written round-robin by class)."""
    if sample >= num_rows:
        return np.arange(num_rows)
    bounds = np.linspace(0, num_rows, sample + 1).round().astype(np.int64)
    offsets = np.random.default_rng(seed).integers(0, np.diff(bounds))
    rows: np.ndarray = bounds[:-1] + offsets
    return rows


def top_labels(probs: np.ndarray) -> np.ndarray:
    """Each row's most probable label (ties: the first), -1 where the row has no score."""
    filled = np.where(np.isnan(probs), -np.inf, probs)
    top = filled.argmax(axis=1)
    return np.where(np.isfinite(filled).any(axis=1), top, -1)


def label_counts(top: np.ndarray, label_names: Sequence[str]) -> dict[str, int]:
    return {name: int(np.sum(top == k)) for k, name in enumerate(label_names)}


def preview(config: JobConfig, sample: int = DEFAULT_SAMPLE) -> Preview:
    """Score ``sample`` rows of ``config``'s input with its sources; see the module docstring."""
    cache_dir = feature_cache_folder(config.output, config.runner)
    with tempfile.TemporaryDirectory(prefix="zslabel-check-") as scratch:
        # Nothing is written: what the sources cache (reference embeddings) goes to scratch.
        scratch_output = config.output.model_copy(
            update={"work_dir": scratch, "cache_dir": str(Path(scratch) / "cache")}
        )
        job = plan_job(config.model_copy(update={"output": scratch_output}))
        return _preview(job, sample, cache_dir)


def _preview(job: JobPlan, sample: int, cache_dir: Path) -> Preview:
    # What `label` would refuse, refused here too: the whole id column, not a sample.
    check_ids(job)
    names = job.label_names
    rows = sample_rows(job.dataset.num_rows, sample)
    values, valid = _sampled_inputs(job, rows)
    n = len(rows)
    per_source: list[np.ndarray] = []
    speeds: list[float] = []
    for i, source in enumerate(job.sources):
        column = job.columns[i]
        mine = valid[column]
        candidates = None
        if i in job.shortlists:
            earlier, k = job.shortlists[i]
            candidates = shortlist_mask(per_source[earlier][mine], k)
        texts = values[column]
        if texts:
            warm = slice(0, min(WARMUP_ROWS, len(texts)))
            featurize(job, i, texts[warm], None if candidates is None else candidates[warm])
        started = time.perf_counter()
        features = featurize(job, i, texts, candidates) if texts else None
        elapsed = time.perf_counter() - started
        speeds.append(len(texts) / max(elapsed, 1e-6))
        probs = np.full((n, len(names)), np.nan)
        if features is not None:
            probs[mine] = source.probabilities(features)
        per_source.append(probs)
    has_text = np.zeros(n, dtype=bool)
    for mask in valid.values():
        has_text |= mask
    stacked = np.stack(per_source, axis=1)
    combiner = fit_combiner(job, lambda: stacked, fit_calibration(job))
    combined_probs = combiner(per_source)
    combined = predictions_of(job, combined_probs, has_text).label
    estimated = None
    if not job.config.multi_label and len(names) > 1:
        shares = priors.estimate(combined_probs).em
        estimated = {name: round(float(v), 4) for name, v in zip(names, shares, strict=True)}
    distribution = {**label_counts(combined, names), NOT_SCORED: int(np.sum(combined < 0))}
    sources = [
        _source_preview(source, _refined(job, i), probs, names, speed)
        for i, (source, probs, speed) in enumerate(
            zip(job.sources, per_source, speeds, strict=True)
        )
    ]
    estimate = sum(job.dataset.num_rows / max(speed, 1e-6) for speed in speeds)
    return Preview(
        input_rows=job.dataset.num_rows,
        shards=len(job.dataset.shards),
        sample_rows=n,
        labels=list(names),
        sources=sources,
        distribution=distribution,
        shares={k: round(v / n, 4) if n else 0.0 for k, v in distribution.items()},
        unpreferred=[name for name in names if distribution[name] == 0],
        estimated_shares=estimated,
        estimate_s=round(estimate, 1),
        cached_shards=_cached_shards(job, cache_dir),
        cache_dir=str(cache_dir),
        uncovered_languages=(
            row_languages.uncovered_languages(job, values[text])
            if (text := job.config.input.text_column) in values
            else None
        ),
        repeated_passages=repeated_passages(values[text]) if text in values else None,
    )


def _sampled_inputs(job: JobPlan, rows: np.ndarray) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Per input column the sources read: the sampled rows' usable values (in row order) and
    which sampled rows have one (a mask over ``rows``)."""
    values: dict[str, list[Any]] = {column: [] for column in dict.fromkeys(job.columns)}
    valid = {column: np.zeros(len(rows), dtype=bool) for column in values}
    for shard in job.dataset.shards:
        start, stop = shard.start_row, shard.start_row + shard.num_rows
        inside = np.flatnonzero((rows >= start) & (rows < stop))
        if not len(inside):
            continue
        for column, read in read_inputs(job, shard).items():
            position = {row: j for j, row in enumerate(read.valid_rows)}
            for at in inside:
                j = position.get(int(rows[at]) - start)
                if j is not None:
                    values[column].append(read.values[j])
                    valid[column][at] = True
    return values, valid


def _refined(job: JobPlan, index: int) -> RefineSpec | None:
    """Source ``index``'s refinement settings, None where the run would not refine it."""
    source, spec = job.sources[index], job.config.sources[index]
    refine = getattr(spec, "refine", None)
    if refine is None or not isinstance(source, EmbeddingSource | ClipSource):
        return None
    return refine if skip_reason(job, source) is None else None


def _source_preview(
    source: Any, refine: RefineSpec | None, probs: np.ndarray, names: Sequence[str], speed: float
) -> SourcePreview:
    provenance = source.provenance()
    prompts = provenance.get("prompts") or provenance.get("hypotheses") or {}
    pairs: list[dict[str, Any]] = []
    if isinstance(source, EmbeddingSource):
        ranked = closest_label_pairs(source.label_cosines(), names)
        pairs = [
            {**pair, "similar": pair["cosine"] >= SIMILAR_PROMPT_COSINE}
            for i, pair in enumerate(ranked)
            if i < SHOWN_PAIRS or pair["cosine"] >= SIMILAR_PROMPT_COSINE
        ]
    counts = label_counts(top_labels(probs), names)
    stray = None
    if refine is not None:
        marked = prompt_stray_labels(probs, refine)
        stray = [name for name, is_stray in zip(names, marked, strict=True) if is_stray]
    return SourcePreview(
        name=source.name,
        kind=str(provenance.get("kind", "")),
        prompts={k: list(v) for k, v in prompts.items()} if isinstance(prompts, dict) else {},
        closest_pairs=pairs,
        top_label_counts=counts,
        unpreferred=[name for name, count in counts.items() if count == 0],
        stray=stray,
        rows_per_s=round(speed, 1),
    )


def _cached_shards(job: JobPlan, folder: Path) -> int | None:
    """Shards whose features every source has in the feature cache ``folder`` (read only);
    None without one."""
    if not folder.is_dir():
        return None
    cache = FeatureCache(folder)
    cached = 0
    for shard in job.dataset.shards:
        inputs = read_inputs(job, shard)
        cached += all(
            cache._path(feature_key(source, inputs[job.columns[i]].fingerprint)).is_file()
            for i, source in enumerate(job.sources)
        )
    return cached


def case_only_pairs(labels: Sequence[str]) -> list[list[str]]:
    """Groups of ``labels`` equal letter case aside (:func:`case_folded_label`), in order."""
    groups: dict[str, list[str]] = {}
    for name in labels:
        groups.setdefault(case_folded_label(name), []).append(name)
    return [group for group in groups.values() if len(group) > 1]


def format_preview(preview: Preview) -> str:
    """The report ``zslabel check`` prints."""
    p = preview
    lines = [
        f"Checked {p.sample_rows:,} of {p.input_rows:,} input rows (spread evenly over the "
        f"input; {p.shards:,} shard(s)), {len(p.labels)} labels; nothing was written.",
    ]
    if pairs := case_only_pairs(p.labels):
        # A YAML slip (a trial's `Refund: money back` beside `refund: a refund for a return`)
        # passes every other check when the prompts differ.
        shown = ", ".join(" / ".join(repr(name) for name in group) for group in pairs)
        lines.append(
            f"Labels that differ only in letter case: {shown}; merge them unless they are "
            "meant as different classes"
        )
    for source in p.sources:
        lines += ["", f"Source {source.name!r} ({source.kind})"]
        if source.prompts:
            lines.append("  prompts:")
            lines += [f"    {label}: {' | '.join(ps)}" for label, ps in source.prompts.items()]
        if source.closest_pairs:
            lines.append(
                f"  most similar labels (prompt cosine; flagged at >= {SIMILAR_PROMPT_COSINE}):"
            )
            lines += [
                f"    {pair['labels'][0]} ~ {pair['labels'][1]}: {pair['cosine']:.3f}"
                + (FLAG if pair["similar"] else "")
                for pair in source.closest_pairs
            ]
        lines.append(
            "  labels no sampled row prefers: " + (", ".join(source.unpreferred) or "none")
        )
        if source.stray is not None:
            # Refinement's stray test on the sample: rows the prompts fit far worse than other
            # labels' rows fit theirs (zslabel.refine.stray_labels).
            stray = ", ".join(source.stray) or "none"
            kept = "  labels refinement would keep at their prompts (is any text about them?)"
            lines.append(f"{kept}: {stray}")
        lines.append(f"  speed: {source.rows_per_s:,.1f} rows/s")
    width = max(len(name) for name in p.distribution)
    estimated = p.estimated_shares or {}
    # The sample is scored with the prompts alone: refinement needs the whole input's rows, so a
    # refined run's classes can differ (a new-user trial: 76/73 here, 60/91 after the run).
    lines += ["", "Predicted classes on the sample (combined; prompts only, before refinement):"]
    if estimated:
        # EM corrects the prior-free teacher's pull towards equal classes (priors.py).
        lines.append(f"  {'':<{width}}  {'rows':>6}  {'share':>7}  {'EM estimate':>11}")
    lines += [
        f"  {name:<{width}}  {count:>6,}  {100 * p.shares[name]:5.1f} %"
        + (f"  {100 * estimated[name]:9.1f} %" if name in estimated else "")
        for name, count in p.distribution.items()
        if name != NOT_SCORED or count
    ]
    lines.append(
        "Labels no sampled row prefers (combined): " + (", ".join(p.unpreferred) or "none")
    )
    if p.uncovered_languages:
        lines.append(_uncovered_line(p.uncovered_languages, p.sample_rows))
    if p.repeated_passages is not None:
        found = p.repeated_passages
        lines += [line for line in (describe(found), describe_copies(found)) if line]
    cached = (
        f"{p.cached_shards:,} of {p.shards:,} shard(s) already cached in {p.cache_dir}"
        if p.cached_shards is not None
        else f"no feature cache yet in {p.cache_dir}"
    )
    lines += [
        "",
        f"Estimated scoring time of the full run: {_duration(p.estimate_s)} "
        f"({p.input_rows:,} rows x {len(p.sources)} source(s) at the measured speed; assumes "
        f"no cached shards; {cached}).",
    ]
    return "\n".join(lines)


def _uncovered_line(counts: dict[str, int], sample_rows: int) -> str:
    """The sample's rows in languages no model covers, and what ``label`` does with them."""
    total = sum(counts.values())
    listed = listed_languages(counts)
    fate = (
        "label keeps them if most rows are (use a multilingual model)"
        if total > sample_rows / 2
        else "label abstains them (uncovered_language) for review"
    )
    return (
        f"In languages no model of the job covers: {total:,} of {sample_rows:,} sampled rows "
        f"({listed}); {fate}"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
