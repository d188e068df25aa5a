"""A student reads the languages its encoder reads: rows in others are abstained by ``zslabel
predict``, as a labeling run abstains them (uncovered_language)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tests.conftest import make_texts
from tests.test_row_languages import GERMAN
from zslabel.encoder import shared_encoder
from zslabel.models import resolve_model
from zslabel.student import LogisticHead, StudentModel, predict_file


def student(model: Path) -> StudentModel:
    encoder = shared_encoder(resolve_model(str(model)), None, 64, "mean", "cpu")
    texts = make_texts(20)
    head = LogisticHead(2).fit(encoder.encode(texts), np.arange(20) % 2)
    return StudentModel(head, encoder, labels=["a", "b"], kind="logistic",
                        model_request=str(model), text_column="text", training={})  # fmt: skip


def test_rows_in_a_language_the_encoder_does_not_read_are_abstained(
    write_parquet: Callable[..., Path],
    english_model: Path,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    """A trial's English-only student labeled every German row, 0.26 of them right, all
    accepted; the teacher had abstained them."""
    texts = make_texts(12) + GERMAN * 2
    source = write_parquet({"text": texts})
    predict_file(student(english_model), source, tmp_path / "en.parquet")
    status = pq.read_table(tmp_path / "en.parquet").column("zs_student_status").to_pylist()
    assert status == ["accepted"] * 12 + ["abstained"] * 6
    # A model whose languages are unknown may read any: every row is labeled, as before.
    predict_file(student(tiny_model), source, tmp_path / "any.parquet")
    status = pq.read_table(tmp_path / "any.parquet").column("zs_student_status").to_pylist()
    assert status == ["accepted"] * 18


def test_a_job_that_labeled_every_language_gets_a_student_that_does(
    write_parquet: Callable[..., Path], english_model: Path, tmp_path: Path
) -> None:
    """A reviewer's finding: predict abstained foreign rows although the job had labeled them
    (``selection.abstain_uncovered_languages: false``)."""
    model = student(english_model)
    model.training["abstain_uncovered_languages"] = False
    source = write_parquet({"text": make_texts(4) + GERMAN})
    predict_file(model, source, tmp_path / "all.parquet")
    status = pq.read_table(tmp_path / "all.parquet").column("zs_student_status").to_pylist()
    assert status == ["accepted"] * 7
