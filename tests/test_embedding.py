"""The embedding source on a tiny random model that the tests build (no hub needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from zslabel.cache import FeatureCache
from zslabel.config import EmbeddingSourceSpec, JobConfig, Label
from zslabel.encoder import TextEncoder
from zslabel.errors import ConfigError, ModelError
from zslabel.models import resolve_model
from zslabel.runner import run_job
from zslabel.sources import EmbeddingSource

from .conftest import LABELS, make_texts


def source(model: Path, tmp_path: Path, **spec: object) -> EmbeddingSource:
    labels = [Label(name=n, descriptions=(f"{n} news", n)) for n in LABELS]
    return EmbeddingSource(
        EmbeddingSourceSpec(name="emb", model=str(model), **spec),  # type: ignore[arg-type]
        labels,
        FeatureCache(tmp_path / "cache"),
    )


def test_probabilities_are_rows_that_sum_to_one(tiny_model: Path, tmp_path: Path) -> None:
    emb = source(tiny_model, tmp_path)
    features = emb.featurize(make_texts(10))
    assert features.shape == (10, 32)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    probs = emb.probabilities(features)
    assert probs.shape == (10, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    nan_rows = emb.probabilities(np.full((2, 32), np.nan, dtype=np.float32))
    assert np.isnan(nan_rows).all()


def test_batching_sorting_and_deduplication_do_not_change_embeddings(tiny_model: Path) -> None:
    model = resolve_model(str(tiny_model))
    texts = [*make_texts(9), make_texts(9)[2], "a much longer text " * 5]
    batched = TextEncoder(model, batch_size=4).encode(texts)
    one_by_one = np.vstack([TextEncoder(model, batch_size=1).encode([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_array_equal(batched[2], batched[9])


def test_temperature_sharpens_without_changing_the_ranking(
    tiny_model: Path, tmp_path: Path
) -> None:
    features = source(tiny_model, tmp_path).featurize(make_texts(12))
    soft = source(tiny_model, tmp_path, temperature=1.0).probabilities(features)
    sharp = source(tiny_model, tmp_path, temperature=0.01).probabilities(features)
    assert (soft.argmax(1) == sharp.argmax(1)).all()
    assert sharp.max(1).mean() > soft.max(1).mean()


def test_description_aggregation(tiny_model: Path, tmp_path: Path) -> None:
    features = source(tiny_model, tmp_path).featurize(make_texts(6))
    by_max = source(tiny_model, tmp_path, aggregate="max").similarities(features)
    by_mean = source(tiny_model, tmp_path, aggregate="mean").similarities(features)
    assert (by_max >= by_mean - 1e-6).all()


def test_model_identity_and_pooling_are_read_from_the_folder(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = resolve_model(str(tiny_model))
    assert model.origin == "local"
    assert len(model.weights_sha256) == 64
    assert TextEncoder(model).pooling == "mean"
    assert TextEncoder(model).max_length == 128  # its position embeddings, not 256
    provenance = source(tiny_model, tmp_path, template="{label}: {description}").provenance()
    assert provenance["prompts"]["sports"] == ["sports: sports news", "sports: sports"]


def test_missing_paths_and_unreachable_hub_ids_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model("./models/minilm")
    with pytest.raises(ModelError, match="could not be fetched from the Hugging Face Hub"):
        resolve_model("someone/some-model-that-is-not-cached")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"))


def test_a_cached_run_does_not_load_the_model(
    tiny_model: Path,
    write_parquet: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_parquet({"text": make_texts(30)})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": LABELS,
            "sources": [{"kind": "embedding", "model": str(tiny_model)}],
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    first = run_job(job)

    def no_model(self: TextEncoder) -> None:
        raise AssertionError("the model was loaded although every score was cached")

    monkeypatch.setattr(TextEncoder, "_load", no_model)
    again = run_job(
        job.model_copy(update={"selection": job.selection.model_copy(update={"min_margin": 0.01})})
    )
    assert again.run_info["shards"]["reused"] == 1
    assert again.counts["rows"] == first.counts["rows"] == 30


def test_examples_add_a_prototype_per_label(tiny_model: Path, tmp_path: Path) -> None:
    labels = [
        Label(name="sports", descriptions=("sports",), examples=("goal match", "team league")),
        Label(name="weather", descriptions=("weather",)),
        Label(name="finance", descriptions=("finance",)),
    ]
    spec = EmbeddingSourceSpec(name="emb", model=str(tiny_model), template="{description}")
    emb = EmbeddingSource(spec, labels, FeatureCache(tmp_path / "cache"))
    references = emb.reference_embeddings()
    assert references.shape == (4, 32)  # three prompts, one prototype
    np.testing.assert_allclose(np.linalg.norm(references[3]), 1.0, rtol=1e-5)
    features = emb.featurize(["goal match"])
    # The text is one of the examples: the prototype pulls it towards sports.
    assert emb.similarities(features)[0, 0] >= float(features[0] @ references[0])
    assert emb.provenance()["examples_per_label"] == {"sports": 2}


def test_labels_with_examples_in_the_job_file() -> None:
    job = JobConfig.from_dict(
        {
            "input": {"path": "x"},
            "labels": {
                "billing": {"descriptions": ["a refund"], "examples": ["I was charged twice"]},
                "shipping": "a parcel",
            },
            "output": {"dir": "o"},
        }
    )
    assert job.labels[0].examples == ("I was charged twice",)
    assert job.labels[1].examples == ()
    assert JobConfig.model_validate_json(job.model_dump_json()) == job


def test_long_texts_are_scored_in_overlapping_windows(tiny_model: Path, tmp_path: Path) -> None:
    chunked = source(tiny_model, tmp_path, long_texts="chunk", max_length=16, chunk_overlap=4)
    truncated = source(tiny_model, tmp_path, max_length=16)
    long_text = " ".join(["match goal team"] * 12 + ["rain storm forecast"])  # ~39 tokens
    short = "sports today"
    features = chunked.featurize([long_text, short])
    assert features.shape == (2, 8, 32)
    windows = (~np.isnan(features[:, :, 0])).sum(axis=1)
    assert windows.tolist() == [4, 1]  # 14 tokens a window, 10 new per step
    # A text that fits one window scores exactly as when truncating.
    np.testing.assert_allclose(
        chunked.similarities(features[1:]), truncated.similarities(truncated.featurize([short])),
        atol=1e-5,
    )  # fmt: skip
    probs = chunked.probabilities(features)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert chunked.cache_identity() != truncated.cache_identity()


def test_the_window_that_decided_is_known(tiny_model: Path, tmp_path: Path) -> None:
    emb = source(tiny_model, tmp_path, long_texts="chunk", template="{description}")
    references = emb.reference_embeddings()  # two per label: "<label> news", "<label>"
    features = np.full((2, 8, 32), np.nan, dtype=np.float32)
    features[0, 0] = references[0] * 0.2 + references[4] * 0.1  # weak
    features[0, 2] = references[3]  # exactly a weather reference: decides
    assert emb.similarities(features)[0].argmax() == 1
    assert emb.deciding_window(features).tolist() == [2, -1]
    assert np.isnan(emb.probabilities(features)[1]).all()  # no window at all: unscored


def test_a_job_with_chunked_long_texts(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = [" ".join(make_texts(12, seed=i)) for i in range(6)] + [None]
    path = write_parquet({"text": texts})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": LABELS,
            "sources": [{"kind": "embedding", "model": str(tiny_model), "max_length": 32,
                         "long_texts": "chunk", "max_chunks": 4, "chunk_overlap": 8}],
            "selection": {"per_class_top_fraction": 1.0, "min_above_chance": None},
            "output": {"dir": str(tmp_path / "out")},
        }
    )  # fmt: skip
    result = run_job(job)
    assert result.counts["status"] == {"accepted": 6, "abstained": 0, "invalid": 1}
    assert result.manifest["sources"][0]["long_texts"] == "chunk"
    windows = pq.read_table(result.output_dir / "labeled.parquet").column(
        "zs_source_embedding_window"
    )
    assert windows.to_pylist()[-1] is None  # the null text has no window
    assert all(0 <= w < 4 for w in windows.to_pylist()[:-1])


def test_an_overlap_wider_than_a_window_is_a_config_error(tiny_model: Path, tmp_path: Path) -> None:
    chunked = source(tiny_model, tmp_path, long_texts="chunk", max_length=16, chunk_overlap=14)
    with pytest.raises(ConfigError, match=r"chunk_overlap \(14\) must be smaller than the 14"):
        chunked.featurize(["some text"])


def test_texts_past_max_length_or_past_the_last_window_are_counted_as_cut(
    tiny_model: Path,
) -> None:
    encoder = TextEncoder(resolve_model(str(tiny_model)), max_length=16)  # 14 text tokens
    fits, cut = "rain " * 14, "rain " * 15
    assert encoder.count_truncated([fits, cut, cut, "sunny"]) == 2  # duplicates count as rows
    # Two windows of 14 tokens overlapping by 4 read 14 + 10 = 24 tokens.
    windows = {"overlap": 4, "max_chunks": 2}
    assert encoder.count_truncated(["rain " * 24], **windows) == 0
    assert encoder.count_truncated(["rain " * 25], **windows) == 1
    assert encoder.count_truncated([]) == 0


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_the_int8_paths_numpy_pooling_equals_torch_pooling(pooling: str) -> None:
    import torch

    from zslabel.encoder import _normalized, _pool, _pool_numpy

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    expected = torch.nn.functional.normalize(
        _pool(torch.from_numpy(hidden), torch.from_numpy(mask), pooling), dim=-1
    ).numpy()
    np.testing.assert_allclose(
        _normalized(_pool_numpy(hidden, mask, pooling)), expected, rtol=1e-5, atol=1e-6
    )


def test_a_model_loads_with_transformers_progress_bar_off_and_the_setting_restored(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers 5 draws a "Loading weights" bar on stderr for each load: in a notebook,
    one per cell that labels. The switch is transformers' own, so the user's setting is put
    back after the load (the suite itself turns bars off, so the switch is simulated here)."""
    import transformers
    from transformers.utils import logging as hf_logging

    bar = {"on": True}
    monkeypatch.setattr(hf_logging, "is_progress_bar_enabled", lambda: bar["on"])
    monkeypatch.setattr(hf_logging, "disable_progress_bar", lambda: bar.update(on=False))
    monkeypatch.setattr(hf_logging, "enable_progress_bar", lambda: bar.update(on=True))
    seen: list[bool] = []
    load = transformers.AutoModel.from_pretrained

    def spying(*args: object, **kwargs: object) -> object:
        seen.append(bar["on"])
        return load(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", spying)
    TextEncoder(resolve_model(str(tiny_model))).encode(["a text"])
    assert seen == [False]
    assert bar["on"]  # the user's own loads still show it
