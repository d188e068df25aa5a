"""The NLI source on tiny random sequence-classification models that the tests build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zslabel.cache import FeatureCache
from zslabel.config import JobConfig, Label, NliSourceSpec
from zslabel.errors import ModelError
from zslabel.runner import run_job
from zslabel.sources.base import softmax
from zslabel.sources.nli import NliSource

from .conftest import LABELS, make_texts, save_tiny_bert

NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


def save_classifier(folder: Path, id2label: dict[int, str], *, head: bool = True) -> Path:
    """A randomly initialised BERT classifier (or, without ``head``, a bare encoder)."""
    return save_tiny_bert(folder, id2label, head=head)


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_classifier(tmp_path_factory.mktemp("tiny-nli"), NLI_LABELS)


@pytest.fixture(scope="session")
def tiny_binary_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    labels = {0: "entailment", 1: "not_entailment"}
    return save_classifier(tmp_path_factory.mktemp("tiny-nli-binary"), labels)


def labels(descriptions: int = 1) -> list[Label]:
    extra = ("news about {}", "{} today")[: descriptions - 1]
    return [Label(name=n, descriptions=(n, *(d.format(n) for d in extra))) for n in LABELS]


def source(
    model: Path, tmp_path: Path, label_list: list[Label] | None = None, **spec: object
) -> NliSource:
    return NliSource(
        NliSourceSpec(name="nli", model=str(model), **spec),  # type: ignore[arg-type]
        labels() if label_list is None else label_list,
        FeatureCache(tmp_path / "cache"),
    )


def test_probabilities_are_rows_that_sum_to_one(tiny_nli: Path, tmp_path: Path) -> None:
    nli = source(tiny_nli, tmp_path, label_list=labels(2))
    features = nli.featurize(make_texts(10))
    assert features.shape == (10, 6, 2)  # entailment and contradiction per hypothesis
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    probs = nli.probabilities(features)
    assert probs.shape == (10, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert nli.featurize([]).shape == (0, 6, 2)


def test_nan_feature_rows_give_nan_probability_rows(tiny_nli: Path, tmp_path: Path) -> None:
    for aggregate in ("max", "mean"):
        nli = source(tiny_nli, tmp_path, label_list=labels(2), aggregate=aggregate)
        features = nli.featurize(make_texts(3))
        features = np.vstack([features[:1], np.full((2, 6, 2), np.nan, np.float32), features[1:]])
        probs = nli.probabilities(features)
        assert np.isnan(probs[1:3]).all()
        assert np.isfinite(probs[[0, 3, 4]]).all()


def test_batching_sorting_and_deduplication_match_pairs_scored_one_by_one(
    tiny_nli: Path, tmp_path: Path
) -> None:
    texts = [*make_texts(9), make_texts(9)[2], "stocks " * 200, "rain"]
    batched = source(tiny_nli, tmp_path, label_list=labels(2), batch_size=5).featurize(texts)
    single = source(tiny_nli, tmp_path, label_list=labels(2), batch_size=1)
    one_by_one = np.vstack([single.featurize([text]) for text in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    np.testing.assert_array_equal(batched[2], batched[9])


def test_each_column_holds_the_entailment_and_contradiction_logits_of_its_hypothesis(
    tiny_nli: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    nli = source(tiny_nli, tmp_path, label_list=labels(3), hypothesis="{label}: {description}.")
    assert nli.hypotheses[:3] == [
        "sports: sports.",
        "sports: news about sports.",
        "sports: sports today.",
    ]
    text = make_texts(1)[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_nli)
    network = AutoModelForSequenceClassification.from_pretrained(tiny_nli).eval()
    with torch.inference_mode():
        batch = tokenizer([text] * 9, nli.hypotheses, return_tensors="pt", padding=True)
        logits = network(**batch).logits.numpy()
    expected = logits[:, [2, 0]]  # entailment, contradiction
    np.testing.assert_allclose(nli.featurize([text])[0], expected, atol=1e-4)


def test_descriptions_are_aggregated_per_label_in_label_order(
    tiny_nli: Path, tmp_path: Path
) -> None:
    uneven = [
        Label(name="a", descriptions=("a1", "a2")),
        Label(name="b", descriptions=("b1",)),
        Label(name="c", descriptions=("c1", "c2", "c3")),
    ]
    by_max = source(tiny_nli, tmp_path, label_list=uneven, aggregate="max")
    by_mean = source(tiny_nli, tmp_path, label_list=uneven, aggregate="mean")
    descriptions = ("a1", "a2", "b1", "c1", "c2", "c3")
    assert by_max.hypotheses == [f"This example is about {d}." for d in descriptions]
    assert by_max.provenance()["hypotheses"]["c"] == [
        "This example is about c1.",
        "This example is about c2.",
        "This example is about c3.",
    ]
    entailment = [1.0, 5.0, 2.0, 0.0, 3.0, 9.0]
    features = np.stack([entailment, [0.0] * 6], axis=1)[None].astype(np.float32)
    np.testing.assert_allclose(by_max.scores(features), [[5.0, 2.0, 9.0]])
    np.testing.assert_allclose(by_mean.scores(features), [[3.0, 2.0, 4.0]])
    np.testing.assert_allclose(by_mean.probabilities(features), softmax(np.array([[3.0, 2, 4]])))


def test_single_label_softmaxes_entailment_and_multi_label_weighs_it_against_contradiction(
    tiny_nli: Path, tmp_path: Path
) -> None:
    # One text, three labels: (entailment, contradiction) logits per hypothesis.
    features = np.array([[[2.0, 0.0], [1.0, -3.0], [0.0, 0.0]]], dtype=np.float32)
    single = source(tiny_nli, tmp_path)
    # As the transformers pipeline with one label per text: contradiction plays no part.
    np.testing.assert_allclose(single.probabilities(features), softmax(np.array([[2.0, 1, 0]])))
    multi = NliSource(
        NliSourceSpec(name="nli", model=str(tiny_nli)),
        labels(),
        FeatureCache(tmp_path / "cache"),
        multi_label=True,
    )
    expected = 1 / (1 + np.exp(-np.array([[2.0, 4.0, 0.0]])))
    np.testing.assert_allclose(multi.probabilities(features), expected)
    assert multi.provenance()["mode"] == "multi_label"
    # An unscored hypothesis (a shortlisted-out label) is an abstain on that label only.
    features[0, 2] = np.nan
    probs = multi.probabilities(features)
    assert np.isnan(probs[0, 2])
    assert np.isfinite(probs[0, :2]).all()


def test_progress_adds_up_to_the_texts(tiny_nli: Path, tmp_path: Path) -> None:
    texts = [*make_texts(13), *make_texts(4)]  # duplicates count as the rows they are
    done: list[int] = []
    source(tiny_nli, tmp_path, label_list=labels(3), batch_size=4).featurize(texts, done.append)
    assert sum(done) == len(texts)
    assert len(done) > 1
    assert all(step > 0 for step in done)


def test_a_model_without_an_entailment_label_fails_at_construction(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    folder = save_classifier(tmp_path_factory.mktemp("sentiment"), {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ModelError, match=r"no entailment label \(labels: LABEL_0, LABEL_1\)"):
        source(folder, tmp_path)


def test_a_checkpoint_without_a_classification_head_is_refused(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    folder = save_classifier(tmp_path_factory.mktemp("encoder-only"), NLI_LABELS, head=False)
    nli = source(folder, tmp_path)  # config.json names the labels; the weights lack the head
    with pytest.raises(ModelError, match="no trained classification head"):
        nli.featurize(make_texts(2))


def test_a_two_label_entailment_model_works(tiny_binary_nli: Path, tmp_path: Path) -> None:
    nli = source(tiny_binary_nli, tmp_path)
    assert (nli.entailment_index, nli.contradiction_index) == (0, 1)
    probs = nli.probabilities(nli.featurize(make_texts(5)))
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_cache_identity_follows_the_hypotheses(tiny_nli: Path, tmp_path: Path) -> None:
    plain = source(tiny_nli, tmp_path).cache_identity()
    assert plain["kind"] == "nli"
    assert len(plain["weights_sha256"]) == 64
    assert plain["max_length"] == 128  # the tokenizer sets no limit: the position embeddings do
    assert plain == source(tiny_nli, tmp_path, temperature=3.0, aggregate="mean").cache_identity()
    assert plain != source(tiny_nli, tmp_path, hypothesis="About {label}.").cache_identity()
    assert plain != source(tiny_nli, tmp_path, label_list=labels(2)).cache_identity()
    assert source(tiny_nli, tmp_path, max_length=64).cache_identity()["max_length"] == 64


def test_temperature_sharpens_without_changing_the_ranking(tiny_nli: Path, tmp_path: Path) -> None:
    features = source(tiny_nli, tmp_path).featurize(make_texts(12))
    soft = source(tiny_nli, tmp_path, temperature=1.0).probabilities(features)
    sharp = source(tiny_nli, tmp_path, temperature=0.01).probabilities(features)
    assert (soft.argmax(1) == sharp.argmax(1)).all()
    assert sharp.max(1).mean() > soft.max(1).mean()


def test_run_job_with_an_nli_source(
    tiny_nli: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    # Fails with "TypeError: no source for spec NliSourceSpec" until the integrator registers
    # NliSource in zslabel.sources.build_source.
    texts: list[str | None] = list(make_texts(30))
    texts[4] = None
    path = write_parquet({"text": texts})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": LABELS,
            "sources": [{"kind": "nli", "model": str(tiny_nli)}],
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    result = run_job(job)
    counts = result.counts
    assert counts["rows"] == 30
    assert counts["status"]["invalid"] == 1
    (provenance,) = result.manifest["sources"]
    assert provenance["kind"] == "nli"
    assert provenance["hypotheses"]["sports"] == ["This example is about sports."]
    assert run_job(job).run_info["shards"]["reused"] == 1


def test_texts_that_do_not_fit_beside_the_longest_hypothesis_are_counted(
    tiny_nli: Path, tmp_path: Path
) -> None:
    nli = source(tiny_nli, tmp_path, label_list=labels(2), max_length=32)
    hypothesis = max(len(h.split()) + 1 for h in nli.hypotheses)  # words and the full stop
    room = 32 - 3 - hypothesis  # [CLS] text [SEP] hypothesis [SEP]
    assert nli.count_truncated(["rain " * room, "rain " * (room + 1)]) == 1
