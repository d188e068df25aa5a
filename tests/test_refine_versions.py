"""Refinement across an incremental job's versions: each version adds the earlier versions' label
prototype rows (prototypes.parquet) to its own (zslabel.refine.Prototypes,
zslabel.pipeline.prototypes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel.config import JobConfig, RefineSpec
from zslabel.errors import ConfigError
from zslabel.incremental import run_incremental
from zslabel.pipeline.prototypes import FILE
from zslabel.refine import Prototypes, fixed_point_sums, mix, refine_source
from zslabel.summary import format_run

from .conftest import LABELS, make_texts
from .test_refine import _Recording, unit_rows

NAMES = ["a", "b", "c"]


def around(center: np.ndarray, rows: int, seed: int, spread: float = 0.1) -> np.ndarray:
    """Unit rows scattered around ``center``."""
    noise = np.random.default_rng(seed).normal(scale=spread, size=(rows, len(center)))
    vectors = center + noise
    unit: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(6, 40), weight=st.floats(0.0, 1.0))
def test_nothing_carried_is_the_same_as_no_earlier_version(
    seed: int, rows: int, weight: float
) -> None:
    features = unit_rows(seed, rows, 8)
    spec = RefineSpec(weight=weight, min_rows=1)
    alone = refine_source(_Recording(unit_rows(seed + 1, 3, 8)), spec, lambda: [features], NAMES)
    empty = Prototypes(np.zeros((3, 8), np.int64), np.zeros(3, np.int64))
    carried = refine_source(
        _Recording(unit_rows(seed + 1, 3, 8)), spec, lambda: [features], NAMES, empty
    )
    if alone.references is None:
        assert carried.references is None
    else:
        assert carried.references is not None
        np.testing.assert_array_equal(carried.references, alone.references)
    assert alone.prototypes is not None
    assert carried.prototypes is not None
    np.testing.assert_array_equal(carried.prototypes.sums, alone.prototypes.sums)
    assert all(label["earlier_rows"] == 0 for label in carried.record["labels"].values())


def test_a_version_adds_the_earlier_rows_to_its_own() -> None:
    """The prototype is the mean of this version's and the earlier versions' rows: a week whose
    rows of label a are all about something else moves a's prototype much less than alone."""
    prompts = np.eye(3, 8, dtype=np.float32)
    week1 = np.concatenate([around(prompts[k], 30, seed=k) for k in range(3)])
    spec = RefineSpec(weight=0.75, top_fraction=0.5, min_rows=1, stray_mads=None)
    first = refine_source(_Recording(prompts), spec, lambda: [week1], NAMES)
    assert first.prototypes is not None
    np.testing.assert_array_equal(first.prototypes.rows, [15, 15, 15])

    # Week 2: label a's rows are a cluster off its prompt (nearer a than b or c).
    elsewhere = np.asarray([0.6, 0, 0, 0.8, 0, 0, 0, 0], dtype=np.float32)
    week2 = np.concatenate([around(elsewhere, 30, seed=7, spread=0.02), week1[30:]])
    alone = refine_source(_Recording(prompts), spec, lambda: [week2], NAMES)
    carried = refine_source(_Recording(prompts), spec, lambda: [week2], NAMES, first.prototypes)
    assert alone.references is not None
    assert carried.references is not None
    assert alone.prototypes is not None
    assert carried.prototypes is not None
    np.testing.assert_array_equal(carried.prototypes.rows, alone.prototypes.rows + 15)
    np.testing.assert_array_equal(
        carried.prototypes.sums, alone.prototypes.sums + first.prototypes.sums
    )
    expected = mix(prompts, np.arange(3), carried.prototypes.sums, 0.75)
    np.testing.assert_array_equal(carried.references, expected)
    # Alone, a's prototype goes most of the way to the cluster; with week 1's rows, it stays
    # nearer its own texts.
    assert alone.references[0] @ elsewhere > carried.references[0] @ elsewhere
    assert carried.references[0] @ week1[:30].mean(0) > alone.references[0] @ week1[:30].mean(0)
    assert carried.record["labels"]["a"] == {
        **carried.record["labels"]["a"],
        "rows": 15,
        "earlier_rows": 15,
    }


def test_a_stray_label_is_refined_from_earlier_rows_alone() -> None:
    """This version's rows of a label the prompts gave it with little confidence are left out;
    with earlier rows, the label is refined from those rather than kept at its prompts."""
    prompts = np.eye(4, 8, dtype=np.float32)
    spec = RefineSpec(weight=0.75, top_fraction=0.5, min_rows=1)
    sure = np.concatenate([around(prompts[k], 20, seed=k, spread=0.02) for k in range(3)])
    # Rows between every prompt: label d's by a hair (the prompts give them little confidence).
    vague = around(np.asarray([0.5, 0.5, 0.5, 0.52, 0, 0, 0, 0], np.float32), 20, 9, 0.001)
    names = [*NAMES, "d"]
    earlier = Prototypes(
        fixed_point_sums(around(prompts[3], 4, seed=5), np.full(4, 3), 4),
        np.asarray([0, 0, 0, 4]),
    )
    alone = refine_source(_Recording(prompts), spec, lambda: [np.concatenate([sure, vague])], names)
    assert alone.record["labels"]["d"]["kept_prompts"] == "stray"
    carried = refine_source(
        _Recording(prompts), spec, lambda: [np.concatenate([sure, vague])], names, earlier
    )
    figures = carried.record["labels"]["d"]
    assert figures["left_out"] == "stray"
    assert "kept_prompts" not in figures
    assert carried.prototypes is not None
    np.testing.assert_array_equal(carried.prototypes.sums[3], earlier.sums[3])
    assert carried.prototypes.rows[3] == 4


def test_a_version_too_small_to_refine_passes_the_earlier_rows_on() -> None:
    earlier = Prototypes(np.ones((3, 8), np.int64), np.asarray([2, 3, 4]), "mark")
    refined = refine_source(
        _Recording(np.eye(3, 8, dtype=np.float32)),
        RefineSpec(),
        lambda: [unit_rows(0, 4, 8)],
        NAMES,
        earlier,
    )
    assert refined.references is None
    assert refined.record == {"skipped": "4 scored row(s), fewer than twice the 3 labels"}
    assert refined.prototypes is earlier


# -- through incremental runs --------------------------------------------------------------------


def weekly(tiny: Path, data: Path, out: Path, labels: Any = None) -> JobConfig:
    return JobConfig.from_dict(weekly_settings(tiny, data, out, labels))


def weekly_settings(tiny: Path, data: Path, out: Path, labels: Any = None) -> dict[str, Any]:
    """An incremental job over the folder ``data``: one embedding source, refined."""
    return {
        "input": {"path": str(data), "text_column": "text"},
        "labels": labels or LABELS,
        "sources": [
            {
                "kind": "embedding",
                "name": "emb",
                "model": str(tiny),
                "refine": {"top_fraction": 0.5, "min_rows": 1},
            }
        ],
        "output": {"dir": str(out)},
        "incremental": True,
    }


def week(folder: Path, name: str, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), folder / name)


def prototype_rows(folder: Path) -> dict[str, int]:
    table = pq.read_table(folder / FILE).to_pydict()
    return dict(zip(table["label"], table["rows"], strict=True))


def check_carried(run: Callable[[], dict[str, Any]], data: Path, out: Path) -> None:
    """Two versions through ``run`` (returns the version's manifest): the second adds the
    first's prototype rows to its own, says so, and writes the sum."""
    week(data, "w1.parquet", make_texts(30))
    first = run()
    assert FILE in first["files"]
    assert "earlier_versions" not in first["refinement"]["emb"]  # nothing before it
    rows1 = prototype_rows(out / "v0001")
    assert sum(rows1.values()) > 0

    week(data, "w2.parquet", make_texts(24, seed=3))
    second = run()
    record = second["refinement"]["emb"]
    assert record["earlier_versions"] == {"rows": sum(rows1.values())}
    own = {label: figures["rows"] for label, figures in record["labels"].items()}
    assert {label: f["earlier_rows"] for label, f in record["labels"].items()} == rows1
    assert prototype_rows(out / "v0002") == {k: own[k] + rows1[k] for k in LABELS}


def test_each_version_carries_the_prototype_rows_of_the_ones_before(
    tiny_model: Path, tmp_path: Path
) -> None:
    data, out = tmp_path / "in", tmp_path / "out"
    job = weekly(tiny_model, data, out)

    def run() -> dict[str, Any]:
        done = run_incremental(job)
        assert done is not None
        return done[1].manifest

    check_carried(run, data, out)


def test_other_model_weights_start_the_prototypes_again_and_say_why(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The same job over a model folder whose weights changed (an upgrade of the packaged
    model, say): prototype rows of other embeddings are not added."""
    import shutil

    from safetensors.numpy import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    data, out = tmp_path / "in", tmp_path / "out"
    week(data, "w1.parquet", make_texts(30))
    assert run_incremental(weekly(model, data, out)) is not None
    weights = load_file(model / "model.safetensors")
    save_file(
        {k: v * 1.01 if v.dtype.kind == "f" else v for k, v in weights.items()},
        model / "model.safetensors",
    )
    week(data, "w2.parquet", make_texts(24, seed=3))
    done = run_incremental(weekly(model, data, out))
    assert done is not None
    record = done[1].manifest["refinement"]["emb"]
    reason = "the source's settings, the labels or the model changed since ../v0001"
    assert record["earlier_versions"] == {"not_carried": reason}
    assert all("earlier_rows" not in f for f in record["labels"].values())
    assert f"earlier versions' rows not added: {reason}" in format_run(done[1])


def test_the_summary_counts_the_earlier_rows(tiny_model: Path, tmp_path: Path) -> None:
    data, out = tmp_path / "in", tmp_path / "out"
    week(data, "w1.parquet", make_texts(30))
    assert run_incremental(weekly(tiny_model, data, out)) is not None
    week(data, "w2.parquet", make_texts(24, seed=3))
    done = run_incremental(weekly(tiny_model, data, out))
    assert done is not None
    earlier = json.loads((out / "v0002" / "manifest.json").read_text())["refinement"]["emb"][
        "earlier_versions"
    ]["rows"]
    assert f"({earlier:,} of earlier versions)" in format_run(done[1])


def test_a_version_under_other_settings_carries_nothing_it_would_count_twice(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Another threshold is another job: its first version labels every file again, so adding
    the earlier version's rows (the same files' rows) would count them twice."""
    data, out = tmp_path / "in", tmp_path / "out"
    week(data, "w1.parquet", make_texts(30))
    assert run_incremental(weekly(tiny_model, data, out)) is not None
    stricter = weekly_settings(tiny_model, data, out)
    stricter["selection"] = {"min_margin": 0.05}
    week(data, "w2.parquet", make_texts(24, seed=3))
    done = run_incremental(JobConfig.from_dict(stricter))
    assert done is not None
    assert done[0].relabeled == (str(data / "w1.parquet"),)
    record = done[1].manifest["refinement"]["emb"]
    assert "earlier_versions" not in record
    own = {label: figures["rows"] for label, figures in record["labels"].items()}
    assert prototype_rows(out / "v0002") == own
    # The next version of these settings adds v0002's rows, not v0001's.
    week(data, "w3.parquet", make_texts(15, seed=4))
    third = run_incremental(JobConfig.from_dict(stricter))
    assert third is not None
    earlier = third[1].manifest["refinement"]["emb"]["earlier_versions"]
    assert earlier == {"rows": sum(own.values())}


def test_a_damaged_prototypes_file_is_said_and_the_version_refined_on_its_own(
    tiny_model: Path, tmp_path: Path
) -> None:
    data, out = tmp_path / "in", tmp_path / "out"
    week(data, "w1.parquet", make_texts(30))
    assert run_incremental(weekly(tiny_model, data, out)) is not None
    table = pq.read_table(out / "v0001" / FILE)
    pq.write_table(table.drop_columns(["sums"]), out / "v0001" / FILE)
    week(data, "w2.parquet", make_texts(24, seed=3))
    done = run_incremental(weekly(tiny_model, data, out))
    assert done is not None
    reason = done[1].manifest["refinement"]["emb"]["earlier_versions"]["not_carried"]
    assert reason.startswith(f"../v0001/{FILE} cannot be read (")
    assert f"earlier versions' rows not added: ../v0001/{FILE} cannot be read" in format_run(
        done[1]
    )


def test_prototypes_is_not_a_split_name(tiny_model: Path, tmp_path: Path) -> None:
    settings = weekly_settings(tiny_model, tmp_path, tmp_path / "out")
    settings["output"]["splits"] = {"train": 0.8, "prototypes": 0.2}
    with pytest.raises(ConfigError, match=r"split names \['prototypes'\] are reserved"):
        JobConfig.from_dict(settings)
