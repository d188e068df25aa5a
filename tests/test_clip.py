"""The clip source on a tiny random CLIP the tests build: image columns of bytes, paths or
structs, unreadable images as invalid rows, and the same probabilities as transformers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cache import FeatureCache
from zslabel.config import ClipSourceSpec, JobConfig, Label
from zslabel.errors import InputError, ModelError
from zslabel.images import NULL_IMAGE, UNREADABLE_IMAGE
from zslabel.runner import run_job
from zslabel.sources.base import softmax
from zslabel.sources.clip import ClipSource

from .conftest import word_pieces

pytest.importorskip("PIL")

LABELS = ["red", "blue"]


def save_tiny_clip(folder: Path) -> Path:
    """A randomly initialised CLIP (2-layer towers, 32x32 images) saved like a hub checkpoint."""
    import torch
    from transformers import BertTokenizerFast, CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    words = ["photo", "of", "red", "blue", "."]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *word_pieces()]
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(folder)
    CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "bos_token_id": 2,
            "eos_token_id": 3,  # [SEP]: where the text tower pools
            "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(sum(color))
    pixels = np.clip(np.asarray(color) + rng.integers(-20, 20, (*size[::-1], 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


def image_job(path: Path, model: Path, out: Path, **spec: object) -> JobConfig:
    return JobConfig.from_dict(
        {
            "input": {"path": str(path), "shard_rows": 4},
            "labels": LABELS,
            "sources": [{"kind": "clip", "model": str(model), **spec}],
            "selection": {"per_class_top_fraction": 1.0, "min_above_chance": None},
            "output": {"dir": str(out), "splits": {"train": 1.0}},
        }
    )


def test_an_image_column_of_bytes_is_labeled_and_bad_images_are_invalid(
    tiny_clip: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    images = [png((250, 10, 10)), png((10, 10, 250)), b"not an image", None, png((200, 30, 30))]
    truncated = png((10, 10, 200))[:60]
    # A caption column no source reads, with a credit line on every row: nothing to warn of.
    credit = ["Photo: staff photographer, all rights reserved by the agency."] * 6
    columns = {"image": [*images, truncated], "n": list(range(6)), "text": credit}
    path = write_parquet(columns, row_group_size=2)
    result = run_job(image_job(path, tiny_clip, tmp_path / "out"))
    assert "repeated_passages" not in result.manifest["input"]
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    assert [row["n"] for row in rows] == list(range(6))  # no text column needed, no row lost
    reasons = [row["zs_reason"] for row in rows]
    assert reasons[2] == UNREADABLE_IMAGE
    assert reasons[3] == NULL_IMAGE
    assert reasons[5] == UNREADABLE_IMAGE
    assert [row["zs_status"] for row in rows] == ["accepted"] * 2 + ["invalid"] * 2 + [
        "accepted",
        "invalid",
    ]
    for row in (rows[0], rows[1], rows[4]):
        assert row["zs_score_red"] + row["zs_score_blue"] == pytest.approx(1.0, abs=1e-5)
    assert result.counts["invalid_reasons"] == {NULL_IMAGE: 1, UNREADABLE_IMAGE: 2}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (source,) = manifest["sources"]
    assert source["kind"] == "clip"
    assert source["prompts"] == {"red": ["a photo of a red."], "blue": ["a photo of a blue."]}
    assert len(source["model"]["weights_sha256"]) == 64
    # A rerun reads every shard's image embeddings from the cache.
    again = run_job(image_job(path, tiny_clip, tmp_path / "out"))
    assert again.run_info["shards"]["reused"] == again.run_info["shards"]["total"]


def test_probabilities_are_clip_logits_per_image_softmaxed(tiny_clip: Path, tmp_path: Path) -> None:
    import torch
    from PIL import Image
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    labels = [Label(name=n, descriptions=(n,)) for n in LABELS]
    # fp32 against the model's own fp32 logits (auto may pick bf16 on this machine).
    spec = ClipSourceSpec(name="clip", model=str(tiny_clip), precision="fp32")
    source = ClipSource(spec, labels, FeatureCache(tmp_path / "c"))
    raw = [png((240, 20, 20)), png((20, 20, 240), size=(64, 64))]
    probs = source.probabilities(source.featurize(raw))
    model = CLIPModel.from_pretrained(tiny_clip).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(tiny_clip)(
        images=[Image.open(io.BytesIO(b)).convert("RGB") for b in raw], return_tensors="pt"
    )
    text = AutoTokenizer.from_pretrained(tiny_clip)(
        source.prompts, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        logits = model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=pixels["pixel_values"],
        ).logits_per_image.numpy()
    np.testing.assert_allclose(probs, softmax(logits.astype(np.float64)), atol=1e-4)


def test_paths_are_relative_to_the_parquet_file_and_structs_are_read(
    tiny_clip: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "data" / "pictures"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png((250, 0, 0)))
    (folder / "b.png").write_bytes(png((0, 0, 250)))
    paths = ["pictures/a.png", str(folder / "b.png"), "pictures/missing.png"]
    by_path = write_parquet({"image": paths}, name="data/paths.parquet")
    run_job(image_job(by_path, tiny_clip, tmp_path / "out-paths"))
    from_paths = pq.read_table(tmp_path / "out-paths" / "labeled.parquet").to_pylist()
    assert [r["zs_reason"] for r in from_paths] == [None, None, UNREADABLE_IMAGE]

    # Hugging Face datasets' Image feature: {bytes, path}; bytes win when both are present.
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    values = [
        {"bytes": (folder / "a.png").read_bytes(), "path": None},
        {"bytes": None, "path": "pictures/b.png"},
    ]
    by_struct = tmp_path / "data" / "structs.parquet"
    pq.write_table(pa.table({"image": pa.array(values, struct)}), by_struct)
    run_job(image_job(by_struct, tiny_clip, tmp_path / "out-structs"))
    from_structs = pq.read_table(tmp_path / "out-structs" / "labeled.parquet").to_pylist()
    # The same images score the same, however they were stored.
    for mine, theirs in zip(from_structs, from_paths[:2], strict=True):
        assert mine["zs_score_red"] == pytest.approx(theirs["zs_score_red"], abs=1e-6)


def test_a_wrong_image_column_or_model_is_refused_before_scoring(
    tiny_clip: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    numbers = write_parquet({"image": [1, 2]}, name="numbers.parquet")
    with pytest.raises(InputError, match=r"image column 'image' has type int64"):
        run_job(image_job(numbers, tiny_clip, tmp_path / "out"))
    with pytest.raises(InputError, match=r"image column 'picture' not found"):
        run_job(image_job(numbers, tiny_clip, tmp_path / "out", column="picture"))
    not_clip = tmp_path / "bert"
    from tests.conftest import save_tiny_bert

    save_tiny_bert(not_clip)
    images = write_parquet({"image": [png((1, 2, 3))]}, name="one.parquet")
    with pytest.raises(ModelError, match=r"not a CLIP-style image-text model"):
        run_job(image_job(images, not_clip, tmp_path / "out"))


def test_text_and_image_sources_combine_on_one_row(
    tiny_clip: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_parquet(
        {"text": ["a red thing", None, "blue"], "image": [png((250, 0, 0)), png((0, 0, 250)), None]}
    )
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": LABELS,
            "sources": [{"kind": "clip", "model": str(tiny_clip)}, {"kind": "fake"}],
            "output": {"dir": str(tmp_path / "out"), "splits": {"train": 1.0}},
        }
    )
    result = run_job(job)
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    # Each row is scored by whichever sources could read it; none is invalid.
    assert result.counts["status"]["invalid"] == 0
    assert rows[1]["zs_source_fake_label"] is None
    assert rows[1]["zs_source_clip_label"] is not None
    assert rows[2]["zs_source_clip_label"] is None
    assert rows[2]["zs_source_fake_label"] is not None


def test_without_pillow_the_error_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from zslabel.images import require_pillow

    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ImportError, match=r"pip install 'zslabel\[clip\]'"):
        require_pillow()
