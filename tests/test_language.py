"""Language check: a warning when most texts are in a language the model does not cover."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import make_texts
from zslabel.config import JobConfig
from zslabel.models import resolve_model
from zslabel.pipeline.language import (
    MULTILINGUAL_MODEL,
    detect_shares,
    minority_warning,
    model_languages,
)
from zslabel.runner import run_job
from zslabel.summary import format_run

SPANISH = [
    "No puedo pagar la factura de este mes, el cargo aparece dos veces en mi tarjeta.",
    "La aplicación se cierra cada vez que intento abrir la configuración de la cuenta.",
    "Quiero cambiar la dirección de envío de mi pedido antes de que salga del almacén.",
    "El técnico no vino a la cita y nadie me ha llamado para explicar el motivo.",
    "Me han cobrado una comisión que no aparece en el contrato que firmé el año pasado.",
]


def _job(fake_job: Callable[..., JobConfig], path: Path, model: Path, **extra: Any) -> JobConfig:
    return fake_job(path, sources=[{"kind": "embedding", "model": str(model)}], **extra)


def test_spanish_majority_warns_once_everywhere(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
    tmp_path: Path,
) -> None:
    texts = [SPANISH[i % len(SPANISH)] for i in range(40)] + make_texts(10)
    # The sample's warning; with rows checked one by one, theirs replaces it (test_row_languages).
    unchecked = {"selection": {"abstain_uncovered_languages": False}}
    result = run_job(_job(fake_job, write_parquet({"text": texts}), english_model, **unchecked))
    record = result.manifest["language"]
    assert record["sample_rows"] == 50
    assert record["detected"]["es"] == 0.8
    assert list(record["models"].values()) == [["en"]]
    assert record["warning"].startswith("80% of sampled texts are in Spanish (es)")
    assert MULTILINGUAL_MODEL in record["warning"]
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["language"] == record
    summary = format_run(result)
    assert summary.count(f"  warning: {record['warning']}") == 1
    report = (tmp_path / "out" / "report.html").read_text()
    assert MULTILINGUAL_MODEL in report


def test_english_input_and_unknown_models_do_not_warn(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
    tiny_model: Path,
) -> None:
    english = write_parquet({"text": make_texts(40)})
    result = run_job(_job(fake_job, english, english_model))
    assert "language" not in result.manifest
    assert "Spanish" not in format_run(result)
    # A model whose languages are unknown (no card, not in the table) is never warned about.
    spanish = write_parquet({"text": SPANISH * 8}, name="es.parquet")
    out = {"dir": str(english.parent / "out-unknown")}
    assert "language" not in run_job(_job(fake_job, spanish, tiny_model, output=out)).manifest
    # Nor is a model-free source.
    assert "language" not in run_job(fake_job(spanish, output={"dir": out["dir"] + "2"})).manifest


def test_model_languages_from_table_and_card(english_model: Path, tiny_model: Path) -> None:
    assert model_languages(resolve_model("default")) == ("en",)
    assert model_languages(resolve_model(str(english_model))) == ("en",)
    assert model_languages(resolve_model(str(tiny_model))) is None


def test_detection_is_offline_and_deterministic() -> None:
    shares = detect_shares([*SPANISH, "The invoice was charged twice this month."])
    assert shares == {"es": 0.833, "en": 0.167}
    assert detect_shares([]) == {}


def test_a_sizeable_minority_in_another_language_warns(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
    tmp_path: Path,
) -> None:
    # 4 Spanish texts in 50 (8 %): an English model would put them in one class, confidently.
    texts = make_texts(46) + SPANISH[:4]
    unchecked = {"selection": {"abstain_uncovered_languages": False}}
    result = run_job(_job(fake_job, write_parquet({"text": texts}), english_model, **unchecked))
    record = result.manifest["language"]
    assert record["detected"]["es"] == 0.08
    assert record["warning"].startswith(
        "4 of 50 sampled texts (8%) are in languages that embedding ("
    )
    assert "(Spanish 4)" in record["warning"]
    assert MULTILINGUAL_MODEL in record["warning"]
    assert format_run(result).count(f"  warning: {record['warning']}") == 1


def test_a_stray_row_in_another_language_does_not_warn(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    # 2 % is the level of py3langid's misreadings of short English texts (SST-2: 0.8 %).
    texts = make_texts(49) + SPANISH[:1]
    result = run_job(_job(fake_job, write_parquet({"text": texts}), english_model))
    # No warning; the row itself is abstained (tests/test_row_languages.py).
    assert result.manifest["language"] == {
        "rows": {"uncovered": 1, "languages": {"es": 1}, "abstained": True}
    }


def test_short_texts_do_not_count_as_another_language(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    # py3langid reads a word or two as anything ('ok': Afrikaans); ticket replies are like that.
    short = ["ok", "thanks", "cancel", "help", "yes please", "no", "refund?", "hi"]
    texts = make_texts(40) + short
    result = run_job(_job(fake_job, write_parquet({"text": texts}), english_model))
    assert "language" not in result.manifest


def test_models_missing_other_languages_are_not_merged() -> None:
    counts = Counter({"en": 88, "de": 6, "fr": 6})
    warning = minority_warning(counts, 100, {"A": ("en", "de"), "B": ("en", "fr")})
    assert warning is not None
    assert warning.startswith("6 of 100 sampled texts (6%) are in languages that A does not")
    assert "(French 6)" in warning
    same = minority_warning(counts, 100, {"A": ("en",), "B": ("en",)})
    assert same is not None
    assert "that A, B does not cover (German 6, French 6)" in same
    assert minority_warning(Counter({"en": 18, "de": 2}), 20, {"A": ("en",)}) is None  # 2 rows


def test_a_language_partition_sorted_last_is_in_the_sample(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
    tmp_path: Path,
) -> None:
    """Hive partitions read in path order: ``lang=en`` holds the first 1,000 rows, more than
    the sample, and ``lang=es`` comes after. A sample of the first shards saw no Spanish."""
    write_parquet({"text": make_texts(1000)}, name="data/lang=en/part-0.parquet")
    write_parquet({"text": SPANISH * 40}, name="data/lang=es/part-0.parquet")
    unchecked = {"selection": {"abstain_uncovered_languages": False}}
    result = run_job(_job(fake_job, tmp_path / "data", english_model, **unchecked))
    record = result.manifest["language"]
    assert record["detected"]["es"] >= 0.05  # 200 of 1,200 rows; the first 500 are English
    assert "(Spanish " in record["warning"]
