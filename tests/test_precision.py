"""precision: what ``auto`` resolves to, bf16 in torch, and how precision keys caches."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel import precision as precision_module
from zslabel.cache import FeatureCache
from zslabel.config import ClipSourceSpec, EmbeddingSourceSpec, JobConfig, Label, NliSourceSpec
from zslabel.precision import precision_identity, resolve_precision, torch_dtype
from zslabel.runner import run_job
from zslabel.sources.clip import ClipSource
from zslabel.sources.embedding import EmbeddingSource
from zslabel.sources.nli import NliSource

from .conftest import LABELS, make_texts, save_tiny_bert
from .test_clip import png, save_tiny_clip


def labels() -> list[Label]:
    return [Label(name=n, descriptions=(n,)) for n in LABELS]


@pytest.fixture
def bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_bf16_units", lambda torch: True)


@pytest.fixture
def no_bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_bf16_units", lambda torch: False)


@pytest.mark.parametrize("asked", ["fp32", "bf16", "int8"])
def test_an_explicit_precision_is_kept(asked: str, bf16_units: None) -> None:
    assert resolve_precision(asked, "cpu", bf16_when_auto=False) == asked


def test_auto_is_bf16_on_a_cpu_with_bf16_units(bf16_units: None) -> None:
    assert resolve_precision("auto", "cpu", bf16_when_auto=True) == "bf16"
    assert resolve_precision("auto", "cpu", bf16_when_auto=False) == "fp32"


def test_auto_is_fp32_on_a_cpu_without_them(no_bf16_units: None) -> None:
    assert resolve_precision("auto", "cpu", bf16_when_auto=True) == "fp32"


def test_auto_is_fp32_with_cuda_which_runs_it_in_fp16(bf16_units: None) -> None:
    import torch

    assert resolve_precision("auto", "cuda", bf16_when_auto=True) == "fp32"
    assert torch_dtype("fp32", "cuda", torch) == torch.float16
    assert torch_dtype("fp32", "cpu", torch) == torch.float32


def test_bf16_without_units_warns_that_it_is_slow(
    no_bf16_units: None, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    with caplog.at_level(logging.WARNING, logger="zslabel.precision"):
        assert torch_dtype("bf16", "cpu", torch) == torch.bfloat16
    assert "slower than fp32" in caplog.text


def test_the_unit_check_answers_on_this_torch() -> None:
    import torch

    assert isinstance(precision_module.cpu_has_bf16_units(torch), bool)


def test_only_non_default_precisions_change_cache_keys() -> None:
    assert precision_identity("fp32") == {}  # fp32 keys are what they were before the option
    assert precision_identity("bf16") == {"precision": "bf16"}


def packaged(tmp_path: Path, precision: str) -> EmbeddingSource:
    """An embedding source on the packaged all-MiniLM-L6-v2."""
    spec = EmbeddingSourceSpec(name="e", device="cpu", precision=precision)  # type: ignore[arg-type]
    return EmbeddingSource(spec, labels(), FeatureCache(tmp_path / precision))


def test_bf16_embeddings_of_the_packaged_model_are_close_to_fp32(tmp_path: Path) -> None:
    texts = [*make_texts(40), "a longer text " * 30, "short"]
    fp32 = packaged(tmp_path, "fp32").featurize(texts)
    bf16 = packaged(tmp_path, "bf16").featurize(texts)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    cosine = (fp32 * bf16).sum(axis=1)
    assert cosine.min() > 0.999  # measured 0.99985 on 2,000 mixed texts
    assert not np.array_equal(fp32, bf16)  # really computed in bfloat16


def test_auto_resolves_per_source_and_is_recorded(
    tiny_model: Path, tmp_path: Path, bf16_units: None
) -> None:
    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": make_texts(30)}), data)

    def job(precision: str | None) -> JobConfig:
        source = {"kind": "embedding", "model": str(tiny_model), "device": "cpu"}
        return JobConfig.from_dict(
            {
                "input": {"path": str(data)},
                "labels": LABELS,
                "sources": [source | ({"precision": precision} if precision else {})],
                "output": {"dir": str(tmp_path / "out")},
            }
        )

    auto = run_job(job(None))
    assert auto.manifest["sources"][0]["precision"] == "bf16"
    pinned = run_job(job("fp32"))
    assert pinned.run_info["shards"]["reused"] == 0  # bf16 features are not fp32 features
    assert "precision" not in pinned.manifest["sources"][0]
    again = run_job(job("bf16"))
    assert again.run_info["shards"]["reused"] == again.run_info["shards"]["total"]


def test_auto_is_bf16_only_for_embedding_sources(
    tiny_model: Path, tmp_path: Path, bf16_units: None
) -> None:
    nli_model = save_tiny_bert(tmp_path / "nli", {0: "entailment", 1: "neutral", 2: "contra"})
    cache = FeatureCache(tmp_path / "cache")
    embedding = EmbeddingSource(
        EmbeddingSourceSpec(name="e", model=str(tiny_model)), labels(), cache
    )
    nli = NliSource(NliSourceSpec(name="n", model=str(nli_model)), labels(), cache)
    clip = ClipSource(
        ClipSourceSpec(name="c", model=str(save_tiny_clip(tmp_path / "clip"))), labels(), cache
    )
    assert (embedding.precision, nli.precision, clip.precision) == ("bf16", "fp32", "fp32")


def test_bf16_nli_logits_are_close_to_fp32(tmp_path_factory: pytest.TempPathFactory) -> None:
    model = save_tiny_bert(
        tmp_path_factory.mktemp("nli"), {0: "contradiction", 1: "neutral", 2: "entailment"}
    )
    features = {}
    for precision in ("fp32", "bf16"):
        spec = NliSourceSpec(name="n", model=str(model), device="cpu", precision=precision)  # type: ignore[arg-type]
        source = NliSource(spec, labels(), FeatureCache(tmp_path_factory.mktemp(precision)))
        features[precision] = source.featurize(make_texts(12))
        assert source.provenance().get("precision") == (None if precision == "fp32" else "bf16")
    import torch

    _, _, network = source._network.load()  # the bf16 one
    assert network.bert.encoder.layer[0].output.dense.weight.dtype == torch.bfloat16
    # The layers after the encoder stay fp32: a bf16 logit keeps 8 significant bits.
    assert network.bert.pooler.dense.weight.dtype == torch.float32
    assert network.classifier.weight.dtype == torch.float32
    assert features["bf16"].dtype == np.float32
    assert np.abs(features["bf16"] - features["fp32"]).max() < 0.1
    assert not np.array_equal(features["bf16"], features["fp32"])


def test_bf16_clip_is_close_to_fp32(tmp_path_factory: pytest.TempPathFactory) -> None:
    model = save_tiny_clip(tmp_path_factory.mktemp("clip"))
    images = [png((240, 20, 20)), png((20, 20, 240), size=(64, 64))]
    probs = {}
    for precision in ("fp32", "bf16"):
        spec = ClipSourceSpec(name="c", model=str(model), device="cpu", precision=precision)
        source = ClipSource(spec, labels(), FeatureCache(tmp_path_factory.mktemp(precision)))
        probs[precision] = source.probabilities(source.featurize(images))
    assert probs["bf16"].shape == probs["fp32"].shape
    np.testing.assert_allclose(probs["bf16"], probs["fp32"], atol=0.05)
