"""precision: int8 (ONNX Runtime, int8 weights) on tiny random models the tests build."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cache import FeatureCache
from zslabel.config import EmbeddingSourceSpec, JobConfig, Label, NliSourceSpec
from zslabel.runner import LABELED, run_job
from zslabel.sources.embedding import EmbeddingSource
from zslabel.sources.nli import NliSource

from .conftest import LABELS, make_texts, save_tiny_bert

pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported models go to a folder of this test session, not the user's cache."""
    monkeypatch.setenv("ZSLABEL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "zslabel-cache"))


def labels() -> list[Label]:
    return [Label(name=n, descriptions=(n,)) for n in LABELS]


def embedding(model: Path, tmp_path: Path, precision: str) -> EmbeddingSource:
    spec = EmbeddingSourceSpec(name="e", model=str(model), device="cpu", precision=precision)  # type: ignore[arg-type]
    return EmbeddingSource(spec, labels(), FeatureCache(tmp_path / "cache"))


def test_int8_embeddings_are_close_to_fp32(tiny_model: Path, tmp_path: Path) -> None:
    texts = make_texts(40)
    fp32 = embedding(tiny_model, tmp_path, "fp32").featurize(texts)
    int8 = embedding(tiny_model, tmp_path, "int8").featurize(texts)
    assert int8.shape == fp32.shape
    assert int8.dtype == np.float32
    cosine = (fp32 * int8).sum(axis=1)  # both unit vectors
    assert cosine.min() > 0.98
    assert not np.array_equal(fp32, int8)  # really another runtime, not fp32 again


def test_int8_is_part_of_the_cache_key(tiny_model: Path, tmp_path: Path) -> None:
    fp32 = embedding(tiny_model, tmp_path, "fp32").cache_identity()
    int8 = embedding(tiny_model, tmp_path, "int8").cache_identity()
    assert fp32 != int8
    assert "int8" not in fp32  # fp32 keys are what they were before the option existed
    assert int8["int8"]["recipe"].startswith("onnx-dynamic-qint8")


def test_a_job_never_reuses_fp32_features_for_int8(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": make_texts(30)}), data)

    def job(precision: str) -> JobConfig:
        return JobConfig.from_dict(
            {
                "input": {"path": str(data)},
                "labels": LABELS,
                "sources": [
                    {"kind": "embedding", "model": str(tiny_model), "precision": precision}
                ],
                "output": {"dir": str(tmp_path / "out")},
            }
        )

    first = run_job(job("fp32"))
    second = run_job(job("int8"))
    assert second.run_info["shards"]["reused"] == 0  # scored again, not read from the cache
    assert first.manifest["sources"][0].get("precision") is None
    assert second.manifest["sources"][0]["precision"] == "int8"
    assert (tmp_path / "out" / LABELED).is_file()


def test_int8_nli_logits_are_close_to_fp32(tmp_path_factory: pytest.TempPathFactory) -> None:
    model = save_tiny_bert(
        tmp_path_factory.mktemp("nli"), {0: "contradiction", 1: "neutral", 2: "entailment"}
    )
    texts = make_texts(12)
    features = {}
    for precision in ("fp32", "int8"):
        spec = NliSourceSpec(name="n", model=str(model), device="cpu", precision=precision)  # type: ignore[arg-type]
        source = NliSource(spec, labels(), FeatureCache(tmp_path_factory.mktemp(precision)))
        features[precision] = source.featurize(texts)
    assert features["int8"].shape == features["fp32"].shape
    assert np.abs(features["int8"] - features["fp32"]).max() < 0.1
    assert not np.array_equal(features["int8"], features["fp32"])


def test_int8_with_cuda_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="int8 runs on the CPU"):
        EmbeddingSourceSpec(device="cuda", precision="int8")
    with pytest.raises(ValueError, match="int8 runs on the CPU"):
        NliSourceSpec(model="m", device="cuda", precision="int8")


def test_a_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from zslabel.onnx import require_onnxruntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"zslabel\[onnx\]"):
        require_onnxruntime()


def test_an_int8_source_without_onnxruntime_fails_when_built(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'zslabel\[onnx\]'"):
        embedding(tiny_model, tmp_path, "int8")
