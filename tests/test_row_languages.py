"""Rows in languages no model covers: abstained (uncovered_language), kept out of refinement
and of the class quotas, so that the other rows are labeled as if they were not there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.conftest import make_texts
from tests.test_language import SPANISH
from zslabel.config import JobConfig, SelectionSpec
from zslabel.pipeline.language import MULTILINGUAL_MODEL
from zslabel.preview import format_preview, preview
from zslabel.runner import run_job
from zslabel.selection import UNCOVERED_LANGUAGE, Predictions, select
from zslabel.sources.languages import confident_languages
from zslabel.student.data import read_pool
from zslabel.summary import format_run

GERMAN = [
    "Mein Paket ist seit zwei Wochen unterwegs und die Sendungsverfolgung zeigt nichts an.",
    "Ich wurde für dieselbe Bestellung zweimal belastet und möchte mein Geld zurück.",
    "Das Passwort für mein Kundenkonto wird nicht akzeptiert, obwohl es richtig ist.",
]
FOREIGN = SPANISH + GERMAN
REFINE = {"passes": 2, "weight": 0.5, "top_fraction": 0.3}


def _job(
    fake_job: Callable[..., JobConfig], path: Path, model: Path, out: str, **selection: Any
) -> JobConfig:
    return fake_job(
        path,
        # fp32: a bf16 CPU's scores follow the encoder's batches in their last bits, and the
        # tests compare rows scored beside foreign rows with the same rows scored alone.
        sources=[{"kind": "embedding", "model": str(model), "refine": REFINE, "precision": "fp32"}],
        selection=selection,
        output={"dir": str(path.parent / out)},
    )


def mixed_texts(english: list[str], every: int) -> tuple[list[str], list[bool]]:
    """``english`` with a foreign text after every ``every``-th row, and which rows are foreign."""
    texts, foreign = [], []
    for i, text in enumerate(english):
        texts.append(text)
        foreign.append(False)
        if i % every == every - 1:
            texts.append(FOREIGN[(i // every) % len(FOREIGN)])
            foreign.append(True)
    return texts, foreign


def test_foreign_rows_are_abstained_and_leave_the_others_as_they_were(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    english = make_texts(120)
    texts, foreign = mixed_texts(english, 10)
    mixed = run_job(
        _job(fake_job, write_parquet({"text": texts}, "mixed.parquet"), english_model, "m")
    )
    alone = run_job(
        _job(fake_job, write_parquet({"text": english}, "en.parquet"), english_model, "e")
    )

    labeled = pd.read_parquet(mixed.output_dir / "labeled.parquet")
    is_foreign = np.asarray(foreign)
    assert (labeled["zs_status"][is_foreign] == "abstained").all()
    assert (labeled["zs_reason"][is_foreign] == UNCOVERED_LANGUAGE).all()
    assert not (labeled["zs_reason"][~is_foreign] == UNCOVERED_LANGUAGE).any()
    # Refinement, the class quotas and the splits' rows are those of the English rows alone.
    only = pd.read_parquet(alone.output_dir / "labeled.parquet")
    columns = ["zs_status", "zs_reason", "zs_label", "zs_confidence"]
    pd.testing.assert_frame_equal(
        labeled.loc[~is_foreign, columns].reset_index(drop=True), only[columns]
    )
    assert mixed.manifest["refinement"] == alone.manifest["refinement"]

    rows = mixed.manifest["language"]["rows"]
    assert rows == {"uncovered": 12, "languages": {"es": 9, "de": 3}, "abstained": True}
    assert mixed.manifest["counts"]["abstain_reasons"][UNCOVERED_LANGUAGE] == 12
    summary = format_run(mixed)
    assert "uncovered_language 12" in summary
    # Every row was checked: the rows' warning replaces the sample's.
    warning = mixed.manifest["language"]["warning"]
    assert warning.startswith("12 rows (9% of those with a detected language) are in languages")
    assert "(Spanish 9, German 3): they are abstained (uncovered_language)" in warning
    assert summary.count(f"  warning: {warning}") == 1
    review = pd.read_parquet(mixed.output_dir / "abstained.parquet")
    assert set(FOREIGN) <= set(review["text"])
    # Nor does the student's self-training take them back: they are not in its pool.
    pool = read_pool(mixed.output_dir)
    assert not set(FOREIGN) & set(pool.texts)
    assert len(pool.texts) == len(english)


def test_the_key_off_labels_them_and_says_they_land_in_one_class(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    texts, _ = mixed_texts(make_texts(60), 5)
    path = write_parquet({"text": texts})
    result = run_job(_job(fake_job, path, english_model, "out", abstain_uncovered_languages=False))
    labeled = pd.read_parquet(result.output_dir / "labeled.parquet")
    assert not (labeled["zs_reason"] == UNCOVERED_LANGUAGE).any()
    assert "rows" not in result.manifest["language"]
    assert "tend to land in one class" in result.manifest["language"]["warning"]
    on = run_job(_job(fake_job, path, english_model, "on"))
    assert (
        "are abstained (uncovered_language) and go to review" in on.manifest["language"]["warning"]
    )


def test_a_foreign_majority_is_labeled_and_said_to_need_another_model(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    texts = [SPANISH[i % len(SPANISH)] for i in range(40)] + make_texts(10)
    result = run_job(_job(fake_job, write_parquet({"text": texts}), english_model, "out"))
    rows = result.manifest["language"]["rows"]
    assert rows["uncovered"] == 40
    assert rows["abstained"] is False
    assert rows["kept_because"] == "most rows with a detected language are in such languages"
    assert UNCOVERED_LANGUAGE not in result.manifest["counts"]["abstain_reasons"]
    warning = result.manifest["language"]["warning"]
    assert warning.startswith("40 rows (80% of those with a detected language) are in languages")
    assert "(Spanish 40): most rows are, so they are labeled as before" in warning
    assert MULTILINGUAL_MODEL in warning


def test_a_model_of_unknown_languages_checks_no_row(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    tiny_model: Path,
) -> None:
    texts, _ = mixed_texts(make_texts(60), 5)
    result = run_job(_job(fake_job, write_parquet({"text": texts}), tiny_model, "out"))
    assert "language" not in result.manifest
    assert UNCOVERED_LANGUAGE not in result.manifest["counts"]["abstain_reasons"]


def test_a_job_with_a_model_of_unknown_languages_checks_no_row(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
    tiny_model: Path,
) -> None:
    """An uncarded model may cover any language: beside an English one, it checks nothing."""
    texts, _ = mixed_texts(make_texts(60), 5)
    sources = [
        {"kind": "embedding", "model": str(english_model), "name": "english"},
        {"kind": "embedding", "model": str(tiny_model), "name": "unknown"},
    ]
    result = run_job(fake_job(write_parquet({"text": texts}), sources=sources))
    assert "rows" not in result.manifest.get("language", {})
    assert UNCOVERED_LANGUAGE not in result.manifest["counts"]["abstain_reasons"]


def test_short_unclear_or_wordless_texts_have_no_language() -> None:
    wordless = ["a1b2c3d4e5f6 9f8e7d6c5b4a 00ff00ff00ff", "asdfghjkl qwertyuiop zxcvbnm"]
    found = confident_languages(
        ["ok", "danke schön", GERMAN[0], "The parcel never arrived and nobody answers.", *wordless],
        20,
        0.5,
    )
    assert found == ["", "", "de", "en", "", ""]


def test_uncovered_rows_leave_the_class_quotas() -> None:
    """Class 0 has four rows; its two most confident are foreign. The top half of its rows in
    covered languages is the best of the other two, not nothing."""
    probs = np.array([[0.99, 0.01], [0.98, 0.02], [0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]])
    uncovered = np.array([True, True, False, False, False, False])
    spec = SelectionSpec(per_class_top_fraction=0.5, min_above_chance=None)
    chosen = select(Predictions.from_probabilities(probs), spec, ["a", "b"], uncovered)
    assert list(chosen.reason[:2]) == [UNCOVERED_LANGUAGE] * 2
    assert chosen.status.tolist() == [1, 1, 0, 1, 0, 1]


def test_a_kept_foreign_majority_is_held_to_the_cutoff_the_other_rows_set() -> None:
    """A trial's incremental week, 70 % German: labeled as before, the German rows took the
    class quotas and the cutoffs fell (delivery 0.99 to 0.545), so English rows earlier weeks
    abstained were accepted with wrong labels. Class a: 2 covered rows, 4 kept foreign ones."""
    probs = np.array([[0.95, 0.05], [0.7, 0.3], [0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    kept = np.array([False, False, True, True, True, True])
    spec = SelectionSpec(per_class_top_fraction=0.5, min_above_chance=None)
    predictions = Predictions.from_probabilities(probs)
    before = select(predictions, spec, ["a", "b"])
    assert before.status.tolist() == [0, 1, 0, 0, 1, 1]  # the cut ranked among all 6: 0.8
    chosen = select(predictions, spec, ["a", "b"], unranked=kept)
    # The cut is the best covered row's (0.95): the 0.7 row, and every foreign one, abstain.
    assert chosen.status.tolist() == [0, 1, 1, 1, 1, 1]
    # A class of kept rows alone is ranked among them, as before.
    alone = select(predictions, spec, ["a", "b"], unranked=np.ones(6, dtype=bool))
    assert alone.status.tolist() == before.status.tolist()


def test_a_kept_foreign_majority_moves_no_prototype(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    texts = [SPANISH[i % len(SPANISH)] for i in range(40)] + make_texts(10)
    path = write_parquet({"text": texts})
    result = run_job(_job(fake_job, path, english_model, "out"))
    refined = result.manifest["refinement"]["embedding"]
    prototype_rows = sum(label["rows"] for label in refined["labels"].values())
    assert 0 < prototype_rows <= 10  # the English rows' only


def test_check_counts_the_sample_rows_label_would_abstain(
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    english_model: Path,
) -> None:
    """A trial: `check` said nothing of the 7 % of its sample that the model does not read."""
    texts, _ = mixed_texts(make_texts(60), 5)
    path = write_parquet({"text": texts})
    config = _job(fake_job, path, english_model, "out")
    looked = preview(config, sample=72)
    assert looked.uncovered_languages == {"es": 9, "de": 3}
    assert (
        "In languages no model of the job covers: 12 of 72 sampled rows (Spanish 9, German 3); "
        "label abstains them (uncovered_language) for review"
    ) in format_preview(looked)
    off = _job(fake_job, path, english_model, "off", abstain_uncovered_languages=False)
    assert preview(off, sample=72).uncovered_languages is None
