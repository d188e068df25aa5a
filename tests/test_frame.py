"""zslabel.label_frame: a DataFrame or a list of texts through the same pipeline, in memory."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import zslabel
from zslabel.config import JobConfig
from zslabel.errors import ConfigError, InputError

from .conftest import LABELS, make_texts

ADDED = ["zs_label", "zs_confidence", "zs_margin", "zs_status", "zs_reason"]
FAKE = [{"kind": "fake"}]


@pytest.fixture
def frame() -> pd.DataFrame:
    texts: list[str | None] = list(make_texts(40))
    texts[5] = None
    texts[17] = "   "
    return pd.DataFrame(
        {"text": texts, "doc_id": [f"d{i}" for i in range(40)], "n": range(40)},
        index=[f"row{i}" for i in range(40)],
    )


@pytest.fixture
def no_temp_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders go under one folder, which a test can check is empty afterwards."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_label_frame_is_the_job_pipeline(
    frame: pd.DataFrame, tmp_path: Path, no_temp_left: Path
) -> None:
    labeled = zslabel.label_frame(frame, LABELS, sources=FAKE, selection={"min_margin": 0.1})

    assert list(labeled.columns) == ["text", "doc_id", "n", *ADDED]
    assert labeled.index.equals(frame.index)
    pd.testing.assert_frame_equal(labeled[frame.columns], frame)
    assert not any(no_temp_left.iterdir()), "label_frame left files behind"

    # The same rows as a job file over the same data: the same labels, confidences, statuses.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet")
    job = JobConfig.from_dict(
        {
            "input": {"path": str(tmp_path / "in.parquet")},
            "labels": LABELS,
            "sources": FAKE,
            "selection": {"min_margin": 0.1},
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    expected = pd.read_parquet(zslabel.run_job(job).output_dir / "labeled.parquet")
    for column in ADDED:
        assert labeled[column].tolist() == pytest.approx(expected[column].tolist(), nan_ok=True)
    assert set(labeled["zs_status"]) == {"accepted", "abstained", "invalid"}


def test_null_and_blank_texts_come_back_invalid(frame: pd.DataFrame) -> None:
    labeled = zslabel.label_frame(frame, LABELS, sources=FAKE)

    assert len(labeled) == len(frame)
    assert labeled.loc["row5", "zs_status"] == "invalid"
    assert labeled.loc["row5", "zs_reason"] == "null_text"
    assert labeled.loc["row17", "zs_reason"] == "empty_text"
    assert pd.isna(labeled.loc["row5", "zs_label"])
    assert np.isnan(labeled.loc["row17", "zs_confidence"])
    valid = labeled.drop(index=["row5", "row17"])
    assert valid["zs_label"].isin(LABELS).all()
    assert valid["zs_confidence"].between(0, 1).all()


def test_a_list_of_texts_and_a_series(tiny_model: Path) -> None:
    texts = ["a goal in the match", None, "rain and storm", float("nan"), "bank stocks"]
    labeled = zslabel.label_frame(texts, LABELS, model=str(tiny_model), scores=True)

    assert list(labeled.columns) == ["text", *ADDED, *(f"zs_score_{n}" for n in LABELS)]
    assert labeled["zs_status"].tolist()[1::2] == ["invalid", "invalid"]
    scores = labeled[[f"zs_score_{n}" for n in LABELS]].to_numpy()
    scored = labeled["zs_status"] != "invalid"
    np.testing.assert_allclose(scores[scored].sum(axis=1), 1.0, rtol=1e-5)
    top = np.asarray(LABELS, dtype=object)[scores[scored].argmax(axis=1)]
    assert labeled.loc[scored, "zs_label"].tolist() == top.tolist()

    series = pd.Series(["a goal", "rain"], index=[10, 20], name="body")
    from_series = zslabel.label_frame(series, LABELS, model=str(tiny_model))
    assert from_series.index.tolist() == [10, 20]
    assert list(from_series.columns[:1]) == ["body"]  # a notebook's df["body"] keeps its name
    assert from_series["body"].tolist() == ["a goal", "rain"]
    renamed = zslabel.label_frame(series, LABELS, model=str(tiny_model), text_column="message")
    assert renamed["message"].tolist() == ["a goal", "rain"]


def test_options_are_job_file_keys(frame: pd.DataFrame) -> None:
    everything = zslabel.label_frame(
        frame,
        LABELS,
        sources=FAKE,
        selection={"per_class_top_fraction": 1.0, "min_above_chance": None},
    )
    assert (everything["zs_status"] != "abstained").all()
    strict = zslabel.label_frame(frame, LABELS, sources=FAKE, selection={"min_confidence": 1.0})
    assert (strict["zs_status"] != "accepted").all()

    described = zslabel.label_frame(
        frame, {"sports": "a match", "weather": ["rain", "a storm"], "finance": "money"},
        sources=FAKE, input={"id_column": "doc_id"},
    )  # fmt: skip
    assert described["zs_label"].dropna().isin(LABELS).all()

    multi = zslabel.label_frame(frame, LABELS, sources=FAKE, multi_label=True)
    assert list(multi.columns)[-6:] == ["zs_label", "zs_labels", *ADDED[1:]]
    assert all(set(v) <= set(LABELS) for v in multi["zs_labels"].dropna())


def test_other_columns_come_back_as_they_went_in(tiny_model: Path) -> None:
    frame = pd.DataFrame(
        {"text": ["a goal", "rain"], "meta": [{"a": 1}, [1, "x"]], "when": pd.to_datetime([1, 2])}
    )
    labeled = zslabel.label_frame(frame, LABELS, sources=FAKE)
    assert labeled["meta"].tolist() == [{"a": 1}, [1, "x"]]
    assert labeled["when"].equals(frame["when"])

    texts = ["a goal", None, "rain", "a goal"]
    for column in (pd.Categorical(texts), pd.array(texts, dtype="string[pyarrow]")):
        typed = zslabel.label_frame(pd.DataFrame({"text": column}), LABELS, sources=FAKE)
        assert typed["zs_status"].tolist()[1] == "invalid"
        assert typed["zs_label"].tolist()[0] == typed["zs_label"].tolist()[3]


def test_out_keeps_the_output_folder(frame: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "kept"
    labeled = zslabel.label_frame(frame, LABELS, sources=FAKE, out=out)

    assert {"labeled.parquet", "train.parquet", "manifest.json", "report.html"} <= {
        p.name for p in out.iterdir()
    }
    kept = pd.read_parquet(out / "labeled.parquet")
    assert kept["doc_id"].tolist() == frame["doc_id"].tolist()  # every column, in input order
    assert kept["zs_label"].tolist() == labeled["zs_label"].tolist()


def test_a_relative_out_is_recorded_absolute(
    frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As job files' paths: the manifest must not depend on the folder a notebook runs in.
    monkeypatch.chdir(tmp_path)
    zslabel.label_frame(frame, LABELS, sources=FAKE, out="kept")
    manifest = json.loads((tmp_path / "kept" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["output"]["dir"] == str((tmp_path / "kept").resolve())


def test_cache_dir_keeps_features_between_calls(
    frame: pd.DataFrame, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zslabel.pipeline import score

    calls: list[int] = []
    featurize = score.featurize

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return featurize(*args, **kwargs)

    monkeypatch.setattr(score, "featurize", counted)
    cache = tmp_path / "cache"
    first = zslabel.label_frame(frame, LABELS, model=str(tiny_model), cache_dir=cache)
    assert calls
    calls.clear()
    shuffled = frame.sample(frac=1.0, random_state=0)  # other order, other index: same texts
    again = zslabel.label_frame(shuffled, LABELS, model=str(tiny_model), cache_dir=cache)
    assert again.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(again.loc[first.index], first)
    # Features are cached by shard content: the same frame again encodes nothing.
    calls.clear()
    zslabel.label_frame(frame, LABELS, model=str(tiny_model), cache_dir=cache)
    assert not calls


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: zslabel.label_frame("one text", LABELS), TypeError, "single string"),
        (lambda f: zslabel.label_frame(42, LABELS), TypeError, "got int"),
        (
            lambda f: zslabel.label_frame(f, LABELS, text_column="body"),
            InputError,
            r"text column 'body' is not in the frame; its columns are \['text', 'doc_id', 'n'\]",
        ),
        (
            lambda f: zslabel.label_frame(["ok", 3], LABELS, sources=FAKE),
            InputError,
            r"column 'text', row 1 \(counting from 0\): expected a text",
        ),
        (
            lambda f: zslabel.label_frame(f.rename(columns={"n": "zs_label"}), LABELS),
            InputError,
            r"already has column\(s\) \['zs_label'\]",
        ),
        (lambda f: zslabel.label_frame(f.iloc[:0], LABELS, sources=FAKE), InputError, "no rows"),
        (lambda f: zslabel.label_frame(f, ["only"]), ConfigError, "at least 2 labels"),
        (
            lambda f: zslabel.label_frame(f, LABELS, selection={"min_confidance": 0.5}),
            ConfigError,
            "min_confidance",
        ),
        (
            lambda f: zslabel.label_frame(f, LABELS, output={"dir": "x"}),
            ConfigError,
            "output.dir is set by label_frame; use out=",
        ),
        (
            lambda f: zslabel.label_frame(f, LABELS, output={"work_dir": "x"}),
            ConfigError,
            "use cache_dir=",
        ),
        (
            lambda f: zslabel.label_frame(f, LABELS, sources=FAKE, model="x"),
            ConfigError,
            r"\['model'\] configure the default embedding source",
        ),
        (
            lambda f: zslabel.label_frame(f, LABELS, input={"id_column": "nope"}, sources=FAKE),
            InputError,
            r"\['nope'\] named by the options are not in the frame",
        ),
        (
            lambda f: zslabel.label_frame(f, LABELS, sources=[{"kind": "embedding", "model": 3}]),
            ConfigError,
            r"sources\[0\]\.model",
        ),
    ],
)
def test_bad_input_is_named(
    frame: pd.DataFrame, call: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(frame)


def test_pipeline_errors_name_the_frame_not_a_temporary_file(frame: pd.DataFrame) -> None:
    ids = frame.assign(doc_id="same")
    with pytest.raises(InputError, match=r"^the frame: id column 'doc_id' has duplicate value"):
        zslabel.label_frame(ids, LABELS, sources=FAKE, input={"id_column": "doc_id"})


def test_a_duplicated_index_is_kept() -> None:
    frame = pd.DataFrame({"text": ["a goal", "rain", "bank"]}, index=[7, 7, 3])
    labeled = zslabel.label_frame(frame, LABELS, sources=FAKE)
    assert labeled.index.tolist() == [7, 7, 3]
    assert labeled["text"].tolist() == frame["text"].tolist()


def test_the_summarys_warnings_reach_a_notebook_as_python_warnings() -> None:
    """A notebook prints no summary: a class with three accepted rows passed unseen (a new
    user's trial). Each summary warning is now a ZslabelWarning at the caller's line."""
    texts = list(make_texts(12))
    with pytest.warns(
        zslabel.ZslabelWarning, match=r"^class \w+: only \d accepted row\(s\)"
    ) as seen:
        zslabel.label_frame(texts, LABELS, sources=FAKE)
    assert {Path(w.filename).name for w in seen} == {Path(__file__).name}
    assert len(seen) == len(LABELS)  # every class has fewer than 10 accepted rows here
