"""Refinement: transductive label prototypes from the job's own rows, mixed with the prompts.

A stage between scoring and combining, for embedding and CLIP sources. For each label, the rows a
source predicts as that label are ranked by the source's confidence; the mean embedding of the
most confident ``top_fraction`` of them (per label) is mixed into each of the label's reference
embeddings (prompts and example prototypes):

    new = normalise((1 - weight) * prompt + weight * unit(mean of the top rows))

and the rows are scored again from the cached features (no model run), at the source's
temperature times ``temperature_scale``: a refined reference is nearer its rows than a prompt, so
the scores against it spread wider, and at the prompts' temperature they were overconfident
(docs/label-quality.md, "Calibration after refinement"). With ``passes`` > 1 the ranking is
redone with the previous pass's references, and mixed with the prompts again.

Per-language templates (zslabel.sources.languages.TemplateLanguages) are refined on the mixed
references: each label gets one mean of its most confident rows of every language, mixed into
each language's prompts. A multilingual model places a topic's texts together whatever their
language, so pooling gives each label more rows than any one language has, and a language with a
handful of rows is not refined on those alone; each language's prompts still keep
``1 - weight`` of their own direction. Feature rows carry a language slot after the embedding;
only the first ``dim`` values (the references' width) are summed and hashed.

An incremental job's versions each label only their new files. Refined on those rows alone, a
week dominated by one topic moves a label's prototype to it (a new user's trial: 69 GDPR requests
in one week became ``login``, accepted at 0.9999; 0.41 and abstained when the weeks were labeled
together). So a version adds its prototype rows to those of the versions before it
(:class:`Prototypes`, carried in each version's ``prototypes.parquet``): each label's prototype
is the mean of its most confident rows of each version so far (each version's rows ranked, and
its stray labels judged, among its own), close to one run over all of them
(docs/label-quality.md, "Incremental jobs").

It is deterministic and independent of shard boundaries and of row order: rows are ranked by
confidence with ties broken by a hash of the row's features (rows that tie on both are the same
embedding, so which of them is taken does not matter), and the embeddings are summed in fixed
point (int64), which is exact in any order. Memory: a label, a confidence and a key per row; the
features are read shard by shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from zslabel.config import RefineSpec

# Fixed point of the embedding sums: 2^-32 is finer than a float32 unit-vector component's
# precision, and 2^31 summed unit vectors still fit in an int64.
_FIXED = 2.0**32
# The least spread of the labels' row confidences stray_labels() measures against, 7.5 points:
# at 4 MADs a stray label is 0.3 below the median. 0.05 (0.2) marked a real label (a new user's
# mixed-language feedback: "praise", 0.23 below); the labels no text was about sat 0.39 and
# 0.44 below; no label of the public sets is marked at either.
MIN_SPREAD = 0.075
_KEY_WEIGHTS = np.random.default_rng(20260).integers(1, 2**63, size=4096, dtype=np.uint64) | 1


class Refinable(Protocol):
    """A source whose probabilities come from similarity to reference embeddings."""

    name: str

    def label_references(self) -> tuple[np.ndarray, np.ndarray]:
        """(references (r, dim), owner (r,)): the reference embeddings and each one's label."""
        ...

    def probabilities(
        self,
        features: np.ndarray,
        references: np.ndarray | None = None,
        *,
        temperature_scale: float = 1.0,
    ) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Prototypes:
    """The rows a source's label prototypes are the mean of: per label, the fixed-point sum of
    their features (``sums``, (k, dim) int64, as :func:`fixed_point_sums`) and their count
    (``rows``, (k,) int64), over one run or, carried from version to version, every version of
    an incremental job so far. ``fingerprint`` names what they are comparable under (the
    source's settings, labels and model: :func:`zslabel.pipeline.prototypes.fingerprint`)."""

    sums: np.ndarray
    rows: np.ndarray
    fingerprint: str = ""


@dataclass(frozen=True, eq=False)
class Refinement:
    """Per source (in job order), its refined references, or None where it is not refined;
    ``record``: what the manifest says, by source name (sources with a refine key only);
    ``sources``: what the stage adds to a source's own manifest entry, by source name (the
    ``template_rows`` of sources with per-language templates); ``prototypes``: by source name,
    the prototype rows to carry to an incremental job's next version."""

    references: tuple[np.ndarray | None, ...]
    record: dict[str, Any]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    prototypes: dict[str, Prototypes] = field(default_factory=dict)

    def of(self, index: int) -> np.ndarray | None:
        return self.references[index] if index < len(self.references) else None


# -- the math: arrays in, arrays out ------------------------------------------------------------


def row_keys(features: np.ndarray) -> np.ndarray:
    """A uint64 hash of each (n, dim) float32 feature row: the deterministic tie-breaker."""
    bits = np.ascontiguousarray(features, dtype=np.float32).view(np.uint32).astype(np.uint64)
    weights = np.resize(_KEY_WEIGHTS, bits.shape[1])
    keys: np.ndarray = (bits * weights).sum(axis=1, dtype=np.uint64)  # wraps: a hash
    keys ^= keys >> np.uint64(29)
    return keys


def top_rows(
    label: np.ndarray, confidence: np.ndarray, keys: np.ndarray, n_labels: int, fraction: float
) -> np.ndarray:
    """Mask of each label's ``ceil(fraction * rows predicted as it)`` most confident rows
    (``label`` -1: not scored); ties in confidence broken by ``keys``, highest first."""
    chosen = np.zeros(len(label), dtype=bool)
    for k in range(n_labels):
        mine = np.flatnonzero(label == k)
        if not len(mine):
            continue
        take = int(np.ceil(fraction * len(mine)))
        # lexsort sorts by the last key first, ascending: reversed, the best rows come first.
        order = np.lexsort((keys[mine], confidence[mine]))[::-1]
        chosen[mine[order[:take]]] = True
    return chosen


def fixed_point_sums(features: np.ndarray, label: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels, dim) int64 sums of the rows' features per label (``label`` -1: left out),
    exact, so that their order and grouping never change a bit."""
    sums = np.zeros((n_labels, features.shape[1]), dtype=np.int64)
    for k in range(n_labels):
        mine = label == k
        if mine.any():  # converted label by label: only the rows taken, a copy each
            sums[k] = np.rint(features[mine].astype(np.float64) * _FIXED).astype(np.int64).sum(0)
    return sums


def mix(references: np.ndarray, owner: np.ndarray, sums: np.ndarray, weight: float) -> np.ndarray:
    """Each reference moved ``weight`` of the way toward its label's mean direction (``sums``,
    as :func:`fixed_point_sums`), keeping its norm; a label without rows keeps its references.
    ``weight`` 0 returns ``references`` bit for bit."""
    directions = sums.astype(np.float64) / _FIXED
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    has_rows = norms[:, 0] > 0
    unit = np.divide(directions, norms, out=np.zeros_like(directions), where=norms > 0)
    old = references.astype(np.float64)
    mixed = (1.0 - weight) * old + weight * unit[owner]
    scale = np.linalg.norm(old, axis=1, keepdims=True) / np.linalg.norm(
        mixed, axis=1, keepdims=True
    )
    moved = (mixed * scale).astype(references.dtype)
    result: np.ndarray = np.where(has_rows[owner][:, None], moved, references)
    return result


def too_few_rows(scored: int, n_labels: int) -> str:
    """Why a source with fewer scored rows than twice its labels is not refined: most labels'
    prototypes would be a single row, which then scores itself as certain (a new user's trial:
    one text, two labels, accepted at 1.0; 0.588 and abstained unrefined). Not a measured
    default: the smallest bench part, 209 rows for 77 labels, is above it."""
    return f"{scored} scored row(s), fewer than twice the {n_labels} labels"


def label_evidence(taken: np.ndarray, confidence: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels,) per label, the mean confidence of the rows taken for its prototype (``taken``:
    each row's label, -1 for rows not taken); NaN for a label without rows. Summed in sorted
    order, so that the row order never changes a bit."""
    evidence = np.full(n_labels, np.nan)
    for k in np.unique(taken[taken >= 0]):
        values = np.sort(confidence[taken == k].astype(np.float64))
        evidence[k] = values.sum() / len(values)
    return evidence


def stray_labels(evidence: np.ndarray, candidates: np.ndarray, mads: float | None) -> np.ndarray:
    """(n_labels,) bool: the ``candidates`` whose ``evidence`` (:func:`label_evidence`: how
    confidently the prompts gave a label the rows its prototype would be made of) is below the
    candidates' median by more than ``mads`` scaled median absolute deviations (Hampel's rule).

    A label that no text fits still gets rows: those whose best label it happens to be, by a
    small margin. Moved toward them, it becomes a confident prototype of texts it does not
    describe (a new user's trial: Spanish tickets all "gardening" at 0.996-1.000;
    examples/tickets.parquet with the Spanish tickets and a "gardening" label: 7 gardening rows
    accepted at a mean confidence of 0.78 with refinement, 1 at 0.46 without). The prompts gave
    gardening its rows at 0.58, the five fitting labels theirs at 0.94-1.00. A label whose
    prompts are merely far from its texts in absolute terms (BANKING77's card_delivery_estimate:
    cosine 0.41 between prompt and rows) still wins its rows clearly, and is refined. Needs
    three candidates; the spread is at least :data:`MIN_SPREAD`, so a stray label is at least
    ``mads`` x 0.075 below the median (0.3 at the default 4): a real label whose texts are
    vaguer than the others' ("praise" at 0.77 among labels at 0.98-1.00) is not stray. Judged on
    the first pass (the
    prompts' confidences) and kept for every further pass."""
    stray = np.zeros(len(evidence), dtype=bool)
    known = candidates & np.isfinite(evidence)
    values = evidence[known]
    if mads is None or len(values) < 3:
        return stray
    median = float(np.median(values))
    # 1.4826: the MAD of a normal sample times this estimates its standard deviation. Floored:
    # a few labels all near 0.95 have a MAD of thousandths, and a fitting one at 0.90 would
    # stand out by many of them; confidences that close say nothing.
    spread = max(1.4826 * float(np.median(np.abs(values - median))), MIN_SPREAD)
    result: np.ndarray = known & (evidence < median - mads * spread)
    return result


def prompt_stray_labels(probs: np.ndarray, spec: RefineSpec) -> np.ndarray:
    """(k,) bool: :func:`stray_labels` on (n, k) probabilities from the prompts alone (a
    sample's, as ``zslabel check`` scores it; NaN rows: not scored), taking each label's
    ``spec.top_fraction`` most confident rows as refinement's first pass does. Ties in
    confidence are broken by row order here, not by the features' hash: the rows a tie
    chooses between have the same confidence, so the mean is the same."""
    label, confidence = top_label(probs)
    order = np.arange(len(label), dtype=np.uint64)
    taken = np.where(
        top_rows(label, confidence, order, probs.shape[1], spec.top_fraction), label, -1
    )
    return judge_stray(taken, confidence, probs.shape[1], spec)[1]


def top_label(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) int32 each row's most probable label of (n, k) ``probs`` and (n,) its probability;
    -1 and -inf for a row that was not scored (NaN)."""
    scored = ~np.isnan(probs).any(axis=1)
    filled = np.where(scored[:, None], probs, -np.inf)
    label = np.where(scored, filled.argmax(axis=1), -1).astype(np.int32)
    confidence: np.ndarray = np.where(scored, filled.max(axis=1), -np.inf)
    return label, confidence


def judge_stray(
    taken: np.ndarray, confidence: np.ndarray, n_labels: int, spec: RefineSpec
) -> tuple[np.ndarray, np.ndarray]:
    """(n_labels,) :func:`label_evidence` and (n_labels,) :func:`stray_labels` among the labels
    with at least ``spec.min_rows`` rows, from ``taken`` (each row's label, -1: not taken)."""
    rows = np.bincount(taken[taken >= 0], minlength=n_labels)
    evidence = label_evidence(taken, confidence, n_labels)
    return evidence, stray_labels(evidence, rows >= spec.min_rows, spec.stray_mads)


def label_cosines(old: np.ndarray, new: np.ndarray, owner: np.ndarray, n_labels: int) -> np.ndarray:
    """Per label, the smallest cosine between one of its references before and after."""
    a, b = old.astype(np.float64), new.astype(np.float64)
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.asarray([cosine[owner == k].min() for k in range(n_labels)])


# -- streaming over a job's shards --------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Refined:
    """What :func:`refine_source` returns: the refined (r, dim) references (None: score the
    source unrefined), the manifest record, and the prototype rows so far (this run's plus the
    carried ones; only the carried ones, or None, when too few rows skipped refinement)."""

    references: np.ndarray | None
    record: dict[str, Any]
    prototypes: Prototypes | None = None


def refine_source(
    source: Refinable,
    spec: RefineSpec,
    shards: Callable[[], Iterable[np.ndarray]],
    label_names: list[str],
    carried: Prototypes | None = None,
) -> Refined:
    """A source's refined references and its manifest record; ``shards`` yields each shard's
    (rows, dim) cached features, NaN rows for rows without any, in the same order each time.
    ``carried``: the prototype rows of an incremental job's earlier versions, added to this
    run's before each label's mean is taken (rows are still ranked, and stray labels judged, on
    this run's rows alone).

    None references and a record that says why: too few scored rows to refine on
    (:func:`too_few_rows`; ``carried`` is returned as the prototype rows). None references with
    the whole record when no reference moved (``weight`` 0, or every label kept its prompts):
    the source is scored as unrefined, at its own temperature, not ``temperature_scale`` times
    it."""
    n_labels = len(label_names)
    prompts, owner = source.label_references()
    dim = prompts.shape[1]  # features may end with more than the embedding (a language slot)
    references = prompts
    keys = None
    rows = np.zeros(n_labels, dtype=np.int64)
    evidence = stray = None
    for index in range(spec.passes):
        # Later passes rank rows by their refined scores, at the refined scores' temperature.
        scale = 1.0 if index == 0 else spec.temperature_scale
        label, confidence, found = _top_labels(
            source, references, shards(), keys is None, dim, scale
        )
        if keys is None:
            scored = int(np.count_nonzero(label >= 0))
            if scored < 2 * n_labels:
                # Not refined; the earlier versions' rows pass on to the next version as they are.
                return Refined(None, {"skipped": too_few_rows(scored, n_labels)}, carried)
        keys = found if keys is None else keys
        assert keys is not None
        chosen = top_rows(label, confidence, keys, n_labels, spec.top_fraction)
        taken = np.where(chosen, label, -1)
        sums = np.zeros((n_labels, prompts.shape[1]), dtype=np.int64)
        for features, part in _with_parts(shards(), taken):
            sums += fixed_point_sums(features[:, :dim], part, n_labels)
        rows = np.bincount(taken[taken >= 0], minlength=n_labels)
        if stray is None:  # judged once, on the prompts' own confidences
            evidence, stray = judge_stray(taken, confidence, n_labels, spec)
        # Rows no description fits are not kept, nor carried to a later version.
        sums[stray] = 0
        so_far = Prototypes(sums, np.where(stray, 0, rows))
        if carried is not None:
            so_far = Prototypes(so_far.sums + carried.sums, so_far.rows + carried.rows)
        # Too few rows: the label's sums are dropped, so mix() leaves its prompts as they are.
        used = np.where((so_far.rows < spec.min_rows)[:, None], 0, so_far.sums)
        references = mix(prompts, owner, used, spec.weight)
    moved = spec.weight > 0 and bool(used.any())
    cosines = label_cosines(prompts, references, owner, n_labels)
    labels: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(label_names):
        labels[name] = {"rows": int(rows[k]), "cosine": round(float(cosines[k]), 4)}
        if carried is not None:
            labels[name]["earlier_rows"] = int(carried.rows[k])
        if evidence is not None and np.isfinite(evidence[k]):
            labels[name]["row_confidence"] = round(float(evidence[k]), 4)
        if stray is not None and stray[k]:
            # With earlier versions' rows the label is refined from those alone.
            key = "left_out" if so_far.rows[k] >= spec.min_rows else "kept_prompts"
            labels[name][key] = "stray"
    record = {**spec.model_dump(mode="json"), "labels": labels}
    return Refined(references if moved else None, record, so_far)


def _top_labels(
    source: Refinable,
    references: np.ndarray,
    shards: Iterable[np.ndarray],
    with_keys: bool,
    dim: int,
    temperature_scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Every row's top label (-1: not scored), its probability and (``with_keys``) the
    :func:`row_keys` of its first ``dim`` features, shard by shard."""
    labels, confidences, keys = [np.empty(0, np.int32)], [np.empty(0)], [np.empty(0, np.uint64)]
    for features in shards:
        label, confidence = top_label(
            source.probabilities(features, references, temperature_scale=temperature_scale)
        )
        labels.append(label)
        confidences.append(confidence)
        if with_keys:
            keys.append(row_keys(np.nan_to_num(features[:, :dim])))
    found = np.concatenate(keys) if with_keys else None
    return np.concatenate(labels), np.concatenate(confidences), found


def _with_parts(
    shards: Iterable[np.ndarray], per_row: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    start = 0
    for features in shards:
        yield features, per_row[start : start + len(features)]
        start += len(features)
