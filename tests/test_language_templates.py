"""Per-language templates: each row is scored against the prompts of its language's template."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import LABELS, make_texts
from zslabel.cache import FeatureCache
from zslabel.config import EmbeddingSourceSpec, JobConfig, Label
from zslabel.errors import ConfigError, InputError
from zslabel.runner import run_job
from zslabel.sources import EmbeddingSource

SPANISH = [
    "No puedo pagar la factura de este mes, el cargo aparece dos veces en mi tarjeta.",
    "La aplicación se cierra cada vez que intento abrir la configuración de la cuenta.",
    "Quiero cambiar la dirección de envío de mi pedido antes de que salga del almacén.",
    "El técnico no vino a la cita y nadie me ha llamado para explicar el motivo.",
]
FRENCH = "Le colis est arrivé cassé et personne ne répond au téléphone depuis une semaine."
# Two templates the tiny model's vocabulary spells differently, so their prompts differ.
EN = "This text is about {description}."
ES = "news {description} today"
BARE = "{description}"


def _source(model: Path, tmp_path: Path, template: Any, **spec: Any) -> EmbeddingSource:
    labels = [Label(name=n, descriptions=(f"{n} news", n)) for n in LABELS]
    return EmbeddingSource(
        EmbeddingSourceSpec(name="emb", model=str(model), template=template, **spec),
        labels,
        FeatureCache(tmp_path / "cache"),
    )


def _job(path: Path, out: Path, source: dict[str, Any], **input_: Any) -> JobConfig:
    return JobConfig.from_dict(
        {
            "input": {"path": str(path), "id_column": "doc_id", **input_},
            "labels": LABELS,
            "sources": [{"kind": "embedding", **source}],
            "selection": {"per_class_top_fraction": 0.5},
            "output": {"dir": str(out)},
        }
    )


def _by_id(out: Path, column: str) -> dict[str, Any]:
    table = pq.read_table(out / "labeled.parquet")
    return dict(
        zip(table.column("doc_id").to_pylist(), table.column(column).to_pylist(), strict=True)
    )


@pytest.mark.parametrize(
    ("template", "extra", "message"),
    [
        ({"Spanish": ES}, {}, "template key 'Spanish' is not a language code"),
        ({"es": ES, "EN": EN}, {}, "template key 'EN' is not a language code"),
        ({"es": "Este texto trata de algo."}, {}, "template 'es': the template must contain"),
        ({"es": ES, "en": "about {topic}"}, {}, "template 'en': unknown placeholder"),
        ({}, {}, "give a template, or at least one language code"),
        (EN, {"language_column": "lang"}, "language_column 'lang' picks a template per row"),
    ],
)
def test_template_mappings_are_validated(
    template: Any, extra: dict[str, Any], message: str, tmp_path: Path
) -> None:
    source = {"kind": "embedding", "template": template, **extra}
    with pytest.raises(ConfigError, match=message):
        _job(tmp_path / "in.parquet", tmp_path / "out", source)


def test_the_string_form_and_mappings_with_a_default_are_accepted(tmp_path: Path) -> None:
    for template in (EN, {"es": ES, "en": EN, "default": BARE}, {"pt": BARE, "fil": BARE}):
        job = _job(tmp_path / "in.parquet", tmp_path / "out", {"template": template})
        assert job.sources[0].template == template  # type: ignore[union-attr]


def test_each_row_is_scored_with_its_languages_template(tiny_model: Path, tmp_path: Path) -> None:
    mixed = _source(tiny_model, tmp_path, {"en": EN, "es": ES, "default": BARE})
    assert mixed.languages is not None
    assert mixed.languages.fallback == "default"
    texts = [*SPANISH[:2], *make_texts(3), FRENCH]
    alone = {t: _source(tiny_model, tmp_path / t[:2], t) for t in (EN, ES, BARE)}
    # Detected: Spanish, Spanish, English x3, French (no template: the default one).
    detected = mixed.featurize(texts)
    assert detected.shape == (6, 33)
    assert detected[:, -1].tolist() == [1, 1, 0, 0, 0, 3]
    expected = [ES, ES, EN, EN, EN, BARE]
    embeddings = detected[:, :-1]
    for row, template in enumerate(expected):
        want = alone[template].similarities(embeddings[row : row + 1])
        np.testing.assert_allclose(mixed.similarities(detected[row : row + 1]), want, atol=1e-6)
    # The two templates give different references, so the language changes the scores.
    assert not np.allclose(
        alone[EN].similarities(embeddings), alone[ES].similarities(embeddings), atol=1e-4
    )
    # A language column decides over detection (here it calls an English text Spanish), with
    # locale tags and case folded, and a missing value falls back.
    by_column = _source(
        tiny_model, tmp_path, {"en": EN, "es": ES, "default": BARE}, language_column="lang"
    )
    given = by_column.featurize(texts, languages=["ES", "es-MX", "es", "en_GB", None, "fr"])
    assert given[:, -1].tolist() == [1, 1, 1, 0, 3, 3]
    np.testing.assert_allclose(
        by_column.similarities(given)[2], alone[ES].similarities(embeddings)[2], atol=1e-6
    )
    np.testing.assert_allclose(
        by_column.similarities(given)[4], alone[BARE].similarities(embeddings)[4], atol=1e-6
    )
    with pytest.raises(ValueError, match="need the 'lang' values"):
        by_column.featurize(texts)
    # Without a default key the first template is the fallback.
    first = _source(tiny_model, tmp_path, {"es": ES, "en": EN})
    np.testing.assert_allclose(
        first.similarities(first.featurize([FRENCH])),
        alone[ES].similarities(embeddings[5:]),
        atol=1e-6,
    )


def test_cache_identity_and_provenance(tiny_model: Path, tmp_path: Path) -> None:
    plain = _source(tiny_model, tmp_path, EN)
    assert "languages" not in plain.cache_identity()
    assert "languages" not in plain.provenance()
    mixed = _source(tiny_model, tmp_path, {"es": ES, "en": EN}, language_column="lang")
    assert mixed.cache_identity()["languages"] == {"keys": ["es", "en"], "by": "column lang"}
    detected = _source(tiny_model, tmp_path, {"en": EN, "es": ES})
    assert detected.cache_identity()["languages"]["by"].startswith("py3langid ")
    assert detected.cache_identity() != mixed.cache_identity()
    described = mixed.provenance()
    assert described["template"] == {"es": ES, "en": EN}
    assert described["languages"] == {"by": "column lang", "fallback": "es"}
    assert described["prompts"]["sports"] == [
        "news sports news today", "news sports today", "This text is about sports news.",
        "This text is about sports.",
    ]  # fmt: skip
    # Label cosines: per template (a label's prompts in two templates are no pair of labels).
    cosines = mixed.label_cosines()
    assert cosines.shape == (3, 3)
    assert (np.diag(cosines) == 1.0).all()


def test_a_single_key_mapping_labels_exactly_like_its_string(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(30)
    path = write_parquet({"text": texts, "doc_id": [f"d{i}" for i in range(30)]})
    model = str(tiny_model)
    string = run_job(_job(path, tmp_path / "a", {"model": model, "template": EN}))
    mapping = run_job(_job(path, tmp_path / "b", {"model": model, "template": {"en": EN}}))
    for column in ("zs_label", "zs_status"):
        assert _by_id(string.output_dir, column) == _by_id(mapping.output_dir, column)
    # Equal up to float32 rounding: the same sums, through another memory layout.
    for column in ("zs_confidence", "zs_margin"):
        want, got = _by_id(string.output_dir, column), _by_id(mapping.output_dir, column)
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), atol=1e-6)
    assert mapping.manifest["sources"][0]["template_rows"] == {"en": 30, "other": 0}
    assert "template_rows" not in json.dumps(string.manifest)


def test_results_do_not_depend_on_shard_size_or_row_order(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts: list[str | None] = [*SPANISH, *make_texts(14), FRENCH, None]
    ids = [f"d{i}" for i in range(len(texts))]
    # fp32: bf16 scores follow the encoder's batches, and so the shard size, in their last bits.
    source = {
        "model": str(tiny_model),
        "template": {"en": EN, "es": ES, "default": BARE},
        "precision": "fp32",
    }
    forward = write_parquet({"text": texts, "doc_id": ids})
    backward = write_parquet({"text": texts[::-1], "doc_id": ids[::-1]}, name="back.parquet")
    runs = [
        run_job(_job(forward, tmp_path / "big", source, shard_rows=100)),
        run_job(_job(forward, tmp_path / "small", source, shard_rows=3)),
        run_job(_job(backward, tmp_path / "back", source, shard_rows=7)),
    ]
    first = runs[0]
    assert first.manifest["sources"][0]["template_rows"] == {
        "en": 14, "es": 4, "default": 0, "other": 1,
    }  # fmt: skip
    assert first.manifest["sources"][0]["languages"]["fallback"] == "default"
    for column in ("zs_label", "zs_status"):
        want = _by_id(first.output_dir, column)
        for run in runs[1:]:
            assert _by_id(run.output_dir, column) == want
    # Embeddings differ in their last bits with the padding of the batches a shard makes (as
    # with one template), so confidences agree to float32 rounding.
    want = _by_id(first.output_dir, "zs_confidence")
    for run in runs[1:]:
        got = _by_id(run.output_dir, "zs_confidence")
        assert [got[k] is None for k in want] == [v is None for v in want.values()]
        np.testing.assert_allclose(
            [got[k] for k in want if want[k] is not None],
            [v for v in want.values() if v is not None],
            atol=1e-6,
        )
    for run in runs[1:]:
        assert run.manifest["refinement"] == first.manifest["refinement"]


def test_a_language_column_chooses_the_template(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(12)
    ids = [f"d{i}" for i in range(12)]
    # Every text is English; the column calls the first half Spanish.
    langs = ["es"] * 6 + ["en"] * 6
    path = write_parquet({"text": texts, "doc_id": ids, "lang": langs})
    model = str(tiny_model)
    templates = {"en": EN, "es": ES}
    spec = {"model": model, "template": templates, "language_column": "lang", "refine": False}
    result = run_job(_job(path, tmp_path / "col", spec, shard_rows=5))
    assert result.manifest["sources"][0]["template_rows"] == {
        "en": 6, "es": 6, "other": 0,
    }  # fmt: skip
    assert result.manifest["sources"][0]["languages"] == {"by": "column lang", "fallback": "en"}
    labels = _by_id(result.output_dir, "zs_label")
    es_only = run_job(
        _job(path, tmp_path / "es", {"model": model, "template": ES, "refine": False})
    )
    en_only = run_job(
        _job(path, tmp_path / "en", {"model": model, "template": EN, "refine": False})
    )
    es_labels, en_labels = (
        _by_id(es_only.output_dir, "zs_label"),
        _by_id(en_only.output_dir, "zs_label"),
    )
    assert [labels[i] for i in ids[:6]] == [es_labels[i] for i in ids[:6]]
    assert [labels[i] for i in ids[6:]] == [en_labels[i] for i in ids[6:]]
    # A changed language column is a changed input: the rows are scored again.
    path = write_parquet({"text": texts, "doc_id": ids, "lang": ["en"] * 12})
    again = run_job(_job(path, tmp_path / "col", spec, shard_rows=5))
    assert again.manifest["sources"][0]["template_rows"]["en"] == 12
    assert _by_id(again.output_dir, "zs_label") == en_labels


def test_a_missing_language_column_names_the_column_and_the_file(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_parquet({"text": make_texts(4), "doc_id": ["a", "b", "c", "d"]})
    spec = {"model": str(tiny_model), "template": {"en": EN}, "language_column": "lang"}
    with pytest.raises(
        InputError, match=r"input\.parquet: source 'embedding': language_column 'lang'"
    ):
        run_job(_job(path, tmp_path / "out", spec))
    assert not (tmp_path / "out" / "labeled.parquet").exists()


def test_a_majority_language_without_a_template_is_warned_about(
    tiny_model: Path, write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    multilingual = shutil.copytree(tiny_model, tmp_path / "tiny-multi")
    (multilingual / "README.md").write_text("---\nlanguage: multilingual\n---\n# tiny\n")
    texts = SPANISH * 6 + make_texts(6)
    path = write_parquet({"text": texts, "doc_id": [f"d{i}" for i in range(len(texts))]})
    source = {"model": str(multilingual), "template": {"en": EN, "pt": BARE}}
    warned = run_job(_job(path, tmp_path / "a", source)).manifest["language"]
    assert warned["warning"] == (
        "80% of sampled texts are in Spanish (es), which has no template of its own: they are "
        "scored with the fallback template ('en' of source 'embedding'); add a template for 'es'"
    )
    # With a Spanish template, or a model that covers Spanish and one template, no warning.
    source["template"] = {"en": EN, "es": ES}
    assert "language" not in run_job(_job(path, tmp_path / "b", source)).manifest
    source["template"] = ES
    assert "language" not in run_job(_job(path, tmp_path / "c", source)).manifest
