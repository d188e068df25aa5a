"""The NLI cascade: an nli source scores each text only against a cheaper source's top-k labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from zslabel.cache import FeatureCache
from zslabel.config import JobConfig, Label, NliSourceSpec
from zslabel.errors import ConfigError
from zslabel.runner import LabelingJob, run_job
from zslabel.sources import NliSource
from zslabel.sources.nli import shortlist_mask

from .conftest import LABELS, make_texts
from .test_nli import NLI_LABELS, save_classifier

# Five labels of two descriptions each: a hypothesis per (label, description), ten in all.
FIVE = {name: [name, f"news about {name}"] for name in [*LABELS, "politics", "science"]}
NAMES = list(FIVE)


@pytest.fixture(scope="session")
def cascade_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_classifier(tmp_path_factory.mktemp("cascade-nli"), NLI_LABELS)


def cascade_job(
    model: Path,
    path: Path,
    work: Path,
    cheap: dict[str, Any] | None = None,
    nli: dict[str, Any] | None = None,
    **extra: Any,
) -> JobConfig:
    """[cheap source, nli source shortlisting its top 2] over ``path``."""
    return JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": FIVE,
            "sources": [
                cheap or {"kind": "fake", "name": "cheap"},
                {
                    "kind": "nli",
                    "model": str(model),
                    "shortlist": {"source": "cheap", "k": 2},
                    **(nli or {}),
                },
            ],
            "selection": {"per_class_top_fraction": 1.0},
            "output": {"dir": str(work / "out")},
            **extra,
        }
    )


def nli_features(job: LabelingJob, fingerprint: str) -> np.ndarray:
    features = job.cache.load(job._feature_key(job.sources[1], fingerprint))
    assert features is not None
    return features


def test_only_the_shortlisted_labels_are_scored(
    cascade_nli: Path,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = LabelingJob(cascade_job(cascade_nli, write_parquet({"text": make_texts(20)}), tmp_path))
    nli = job.sources[1]
    assert isinstance(nli, NliSource)
    # Pairs run through the model, counted where their logits become scores.
    pairs: list[int] = []
    score_logits = nli._pair_logits

    def counting(torch: Any, logits: Any) -> Any:
        pairs.append(int(logits.shape[0]))
        return score_logits(torch, logits)

    monkeypatch.setattr(nli, "_pair_logits", counting)
    score = job.score_shard(job.dataset.shards[0])
    assert sum(pairs) == 20 * 2 * 2  # texts x k x descriptions per label
    features = nli_features(job, score.fingerprint)
    assert features.shape == (20, 10, 2)
    assert np.isfinite(features[..., 0]).sum() == 20 * 2 * 2
    cheap, probs = job.source_probabilities(score)
    shortlisted = shortlist_mask(cheap, 2)
    assert shortlisted.sum(axis=1).tolist() == [2] * 20
    np.testing.assert_array_equal(probs > 0, shortlisted)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert nli.provenance()["shortlist"] == {"source": "cheap", "k": 2}


def test_rows_the_shortlist_source_abstains_on_get_every_label(
    cascade_nli: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(12)
    rules = {"kind": "rules", "name": "cheap", "rules": {"weather": {"keywords": ["rain"]}}}
    path = write_parquet({"text": texts})
    job = LabelingJob(cascade_job(cascade_nli, path, tmp_path, cheap=rules))
    score = job.score_shard(job.dataset.shards[0])
    fired = np.array(["rain" in text for text in texts])
    assert fired.any()
    assert not fired.all()
    # Fired: weather and, first by label order of the zeros, sports (2 labels x 2 descriptions);
    # abstained: all 5 labels.
    scored = np.isfinite(nli_features(job, score.fingerprint)[..., 0]).sum(axis=1)
    assert scored.tolist() == [4 if f else 10 for f in fired]
    _, probs = job.source_probabilities(score)
    assert (probs[fired][:, :2] > 0).all()
    assert (probs[fired][:, 2:] == 0).all()
    assert (probs[~fired] > 0).all()


def test_shortlist_mask_breaks_ties_by_label_order_and_keeps_abstained_rows_whole() -> None:
    probs = np.array([[0.1, 0.4, 0.1, 0.4], [0.25] * 4, [np.nan] * 4, [0.7, 0.1, 0.1, 0.1]])
    np.testing.assert_array_equal(
        shortlist_mask(probs, 2),
        [[0, 1, 0, 1], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]],
    )
    assert shortlist_mask(np.zeros((0, 4)), 2).shape == (0, 4)


def three_label_source(model: Path, tmp_path: Path, **spec: Any) -> NliSource:
    return NliSource(
        NliSourceSpec(name="nli", model=str(model), **spec),
        [
            Label(name="a", descriptions=("a1", "a2")),
            Label(name="b", descriptions=("b1",)),
            Label(name="c", descriptions=("c1", "c2")),
        ],
        FeatureCache(tmp_path / "cache"),
    )


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_unscored_hypotheses_are_left_out_of_the_aggregate(
    cascade_nli: Path, tmp_path: Path, aggregate: str
) -> None:
    nli = three_label_source(cascade_nli, tmp_path, aggregate=aggregate)
    nan = np.nan
    entailment = np.array(
        [
            [1.0, nan, 2.0, nan, nan],  # a from a1 only, b, no c
            [nan, nan, nan, 3.0, 5.0],  # only c
            [nan] * 5,  # an invalid text
        ]
    )
    # Single-label scores read the entailment logit; contradiction is NaN where it is.
    features = np.stack([entailment, entailment * 0], axis=2).astype(np.float32)
    c = 5.0 if aggregate == "max" else 4.0
    np.testing.assert_allclose(
        nli.scores(features), [[1.0, 2.0, nan], [nan, nan, c], [nan, nan, nan]]
    )
    probs = nli.probabilities(features)  # pytest makes any RuntimeWarning an error
    np.testing.assert_allclose(probs[:2].sum(axis=1), 1.0)
    assert probs[0, 2] == 0
    assert probs[1].tolist() == [0.0, 0.0, 1.0]
    assert np.isnan(probs[2]).all()


def test_featurize_candidates_scores_the_mask_and_reports_every_row(
    cascade_nli: Path, tmp_path: Path
) -> None:
    nli = three_label_source(cascade_nli, tmp_path, batch_size=4)
    texts = [*make_texts(13), *make_texts(4)]  # duplicates count as the rows they are
    candidates = np.zeros((len(texts), 3), dtype=bool)
    candidates[:, 0] = True
    candidates[::3, 2] = True
    candidates[13, 1] = True  # a duplicate of text 0 asking for another label
    done: list[int] = []
    features = nli.featurize_candidates(texts, candidates, done.append)
    assert sum(done) == len(texts)
    assert len(done) > 1
    assert all(step > 0 for step in done)
    wanted = candidates[:, [0, 0, 1, 2, 2]]
    np.testing.assert_array_equal(np.isfinite(features).all(axis=2), wanted)
    # A shortlisted pair scores what it scores without a shortlist.
    full = nli.featurize(texts)
    np.testing.assert_allclose(features[wanted], full[wanted], atol=1e-4)
    with pytest.raises(ValueError, match=r"\(17, 3\) mask"):
        nli.featurize_candidates(texts, candidates[:, :2])


def test_an_unlinked_shortlist_has_no_cache_identity(cascade_nli: Path, tmp_path: Path) -> None:
    nli = three_label_source(cascade_nli, tmp_path, shortlist={"source": "cheap", "k": 1})
    with pytest.raises(ConfigError, match="not linked"):
        nli.cache_identity()


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (
            [{"kind": "fake"}, {"kind": "nli", "model": "m", "shortlist": {"source": "nope"}}],
            r"sources\[1\]\.shortlist\.source names unknown source 'nope'",
        ),
        (
            [{"kind": "nli", "model": "m", "shortlist": {"source": "fake"}}, {"kind": "fake"}],
            r"sources\[0\]\.shortlist\.source: 'fake' comes after 'nli'",
        ),
        (
            [{"kind": "nli", "model": "m", "shortlist": {"source": "nli"}}],
            r"sources\[0\]\.shortlist\.source: source 'nli' cannot shortlist itself",
        ),
        (
            [{"kind": "fake"}, {"kind": "nli", "model": "m", "shortlist": {"source": "fake"}}],
            r"sources\[1\]\.shortlist\.k: 5 is not fewer than the 5 labels",
        ),
        (
            [
                {"kind": "fake"},
                {"kind": "nli", "model": "m", "shortlist": {"source": "fake", "k": 0}},
            ],
            r"sources\[1\]\.shortlist\.k: Input should be greater than 0",
        ),
        (
            [{"kind": "fake"}, {"kind": "nli", "model": "m", "shortlist": {"sorce": "fake"}}],
            r"sources\[1\]\.shortlist\.sorce: unknown key",
        ),
    ],
)
def test_bad_shortlists_name_the_key(sources: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        JobConfig.from_dict(
            {"input": {"path": "x"}, "labels": FIVE, "sources": sources, "output": {"dir": "o"}}
        )


def test_a_changed_shortlist_source_rescores_the_nli_source(
    cascade_nli: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_parquet({"text": make_texts(10)})

    def scored(seed: int, weight: float = 1.0, **nli: Any) -> tuple[LabelingJob, bool, str]:
        cheap = {"kind": "fake", "name": "cheap", "seed": seed, "weight": weight}
        job = LabelingJob(cascade_job(cascade_nli, path, tmp_path, cheap=cheap, nli=nli))
        score = job.score_shard(job.dataset.shards[0])
        return job, score.reused, job._feature_key(job.sources[1], score.fingerprint)

    _, reused, key = scored(seed=1)
    assert not reused
    # Neither the shortlist source's weight nor this source's temperature changes the scores.
    assert scored(seed=1, weight=2.0)[1:] == (True, key)
    assert scored(seed=1, temperature=2.0)[1:] == (True, key)
    job, reused, other = scored(seed=2)
    assert not reused
    assert other != key
    assert job.cache.has(key)
    assert job.cache.has(other)
    assert scored(seed=1, shortlist=None)[2] not in (key, other)


def test_run_job_labels_every_row_within_its_shortlist(
    cascade_nli: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts: list[str | None] = list(make_texts(40))
    texts[7] = None
    path = write_parquet({"text": texts})
    gold_texts = make_texts(15, seed=3)
    gold = write_parquet(
        {"text": gold_texts, "label": [t.split(": ")[1].split(" ")[0] for t in gold_texts]},
        name="gold.parquet",
    )
    config = cascade_job(cascade_nli, path, tmp_path, calibration={"gold": str(gold)})
    result = run_job(config)
    assert result.counts["status"]["invalid"] == 1
    assert result.counts["status"]["accepted"] == 39
    assert result.manifest["sources"][1]["shortlist"] == {"source": "cheap", "k": 2}
    assert {"cheap", "nli"} <= set(result.manifest["combine"]["calibration"])
    rows = pq.read_table(result.output_dir / "labeled.parquet").to_pylist()
    valid = [row for row in rows if row["zs_status"] != "invalid"]
    assert all(row["zs_label"] in NAMES for row in valid)

    job = LabelingJob(config)
    score = job.score_shard(job.dataset.shards[0])
    assert score.reused
    cheap, nli = job.source_probabilities(score)
    is_valid = np.array([text is not None for text in texts])
    shortlisted = shortlist_mask(cheap[is_valid], 2)
    np.testing.assert_array_equal(nli[is_valid] > 0, shortlisted)
    for row, allowed in zip(valid, shortlisted, strict=True):
        assert allowed[NAMES.index(row["zs_label"])]
        assert allowed[NAMES.index(row["zs_source_nli_label"])]
    assert run_job(config).run_info["shards"]["reused"] == 1
