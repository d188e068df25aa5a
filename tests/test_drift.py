"""Drift between versions: three scheduled-like versions of one incremental job, the third with
injected shifts (a new topic, a class-mix change, an empty-text upstream fault)."""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel import cli
from zslabel.cli import diff
from zslabel.config import DriftSpec, JobConfig
from zslabel.drift import (
    FIRST_VERSION,
    baseline,
    centroids_from_cache,
    class_centroids,
    compare,
    read_profile,
    write_drift,
)
from zslabel.errors import ConfigError, InputError
from zslabel.incremental import run_incremental

from .conftest import make_texts

# A topic no label fits, in Spanish with accents: the fake source scores it as noise, so most
# of its rows fall below min_confidence and are abstained.
NEW_TOPIC = ["clínica", "vacunación", "pacientes", "enfermería", "hospital", "médicos"]
SELECTION = {"per_class_top_fraction": 1.0, "min_confidence": 0.6}


def new_topic(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"aviso {i}: {' '.join(rng.sample(NEW_TOPIC, 3))}" for i in range(n)]


def finance_heavy(n: int, seed: int) -> list[str]:
    """Topic texts where four in five are finance (a third each in make_texts)."""
    texts = make_texts(n * 3, seed=seed)
    finance = [t for t in texts if ": finance " in t]
    others = [t for t in texts if ": finance " not in t]
    return finance[: n * 4 // 5] + others[: n - n * 4 // 5]


def add_batch(data: Path, name: str, texts: list[str]) -> None:
    data.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), data / name)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """v0001 and v0002 of like batches, v0003 with the three injected shifts."""
    root = tmp_path_factory.mktemp("drift")
    data = root / "data"
    job = JobConfig.from_dict(
        {
            "input": {"path": str(data), "text_column": "text", "shard_rows": 100},
            "labels": ["sports", "weather", "finance"],
            "sources": [{"kind": "fake"}],
            "selection": SELECTION,
            "output": {"dir": str(root / "out")},
            "incremental": True,
        }
    )
    folders = []
    batches = [
        make_texts(300, seed=1),
        make_texts(300, seed=2),
        finance_heavy(150, seed=3) + new_topic(90, seed=3) + [""] * 60,
    ]
    for i, texts in enumerate(batches, start=1):
        add_batch(data, f"batch{i}.parquet", texts)
        outcome = run_incremental(job)
        assert outcome is not None
        folders.append(outcome[1].output_dir)
    return folders


def crossed(report_dict: dict[str, object]) -> dict[str, str]:
    entries = report_dict["crossed"]
    assert isinstance(entries, list)
    return {entry["metric"]: entry["reason"] for entry in entries}


def test_like_versions_cross_nothing(versions: list[Path]) -> None:
    report = compare(versions[0], versions[1])
    assert not report.drifted
    assert report.crossed == []
    statuses = {m.name: m.status for m in report.metrics}
    assert statuses["psi"] == "ok"
    assert statuses["chi2_p_value"] == "off"  # reported, not thresholded, by default
    assert statuses["centroid_distance"] == "not available"  # the fake source has no embeddings


def test_injected_shifts_cross_with_their_reasons(versions: list[Path]) -> None:
    report = compare(versions[1], versions[2]).to_dict()
    reasons = crossed(report)
    assert {"psi", "abstain_rate", "invalid_rate"} <= set(reasons)
    assert reasons["psi"].startswith("class mix changed: finance")
    assert "empty_text: 0 -> 60 rows" in reasons["invalid_rate"]
    assert "0.0% -> 20.0%" in reasons["invalid_rate"]
    # Blank texts are invalid rows, not duplicates of each other.
    assert "duplicate_rate" not in reasons
    metrics = {m["metric"]: m for m in report["metrics"]}
    assert metrics["invalid_rate"]["current"] == pytest.approx(0.2)
    assert metrics["psi"]["value"] > 0.2
    terms = [t["term"] for t in report["new_terms"]]
    # Words of the new topic lead the list, accents kept; the numbers are not terms.
    assert set(terms[:7]) == {"aviso", *NEW_TOPIC}
    assert not any(t.isdigit() for t in terms)


def test_terms_are_counted_on_an_even_sample_of_many_abstained_rows(
    versions: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    full = read_profile(versions[2])
    abstained = full.status["abstained"]
    assert full.abstained_texts == abstained > 60
    monkeypatch.setattr("zslabel.drift.profile.TERM_ROWS", 20)
    sampled = read_profile(versions[2])
    stride = math.ceil(abstained / 20)
    assert sampled.abstained_texts == len(range(0, abstained, stride)) <= 20
    assert sampled.terms is not None
    assert 0 < sampled.terms["aviso"] <= sampled.abstained_texts
    assert sampled.status == full.status  # only the terms are sampled


def test_drift_json_is_written_atomically_and_deterministically(versions: list[Path]) -> None:
    report = compare(versions[1], versions[2])
    path = write_drift(versions[2], report)
    first = path.read_bytes()
    assert json.loads(first)["crossed"] == report.crossed
    assert not list(versions[2].glob(".drift.json.*"))  # no temporary file left behind
    write_drift(versions[2], compare(versions[1], versions[2]))
    assert path.read_bytes() == first


def test_the_first_version_gets_a_baseline(versions: list[Path]) -> None:
    payload = json.loads(write_drift(versions[0], baseline(versions[0])).read_text())
    assert payload["first_version"] is True
    assert payload["message"] == FIRST_VERSION
    assert payload["metrics"] == payload["crossed"] == []
    profile = payload["profile"]
    assert profile["rows"] == 300
    assert sum(profile["status"].values()) == 300
    assert sum(profile["class_shares"].values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(profile["classes"].values()) == 300
    assert profile["invalid_rate"] == 0.0


def test_thresholds_come_from_the_spec(versions: list[Path]) -> None:
    # With every check off nothing crosses, whatever moved.
    off = DriftSpec(**dict.fromkeys(set(diff.THRESHOLDS) - {"ks_p_value", "centroid_min_rows"}))
    assert not compare(versions[1], versions[2], off).drifted
    strict = DriftSpec(chi2_p_value=0.001)
    assert "chi2_p_value" in crossed(compare(versions[1], versions[2], strict).to_dict())


def test_centroid_shift_when_both_versions_recorded_centroids(versions: list[Path]) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(6, 4))
    labels = np.array([0, 0, 1, 1, 2, -1])
    centroids = class_centroids(
        [(features[:3], labels[:3]), (features[3:], labels[3:])], ["sports", "weather", "finance"]
    )
    assert set(centroids) == {"sports", "weather", "finance"}
    write_drift(versions[0], baseline(versions[0], centroids=centroids))
    assert read_profile(versions[0]).centroids is not None
    moved = {**centroids, "weather": -centroids["weather"]}  # weather points the other way now
    by_default = compare(versions[0], versions[1], centroids=moved).metrics[-1]
    assert (by_default.status, by_default.reason) == (
        "not available",
        "no class with 500 rows and comparable centroids in both versions",
    )  # centroids of 100 rows move by chance
    few = DriftSpec(centroid_min_rows=50)  # each class has about 100 rows here
    report = compare(versions[0], versions[1], few, centroids=moved)
    metric = next(m for m in report.metrics if m.name == "centroid_distance")
    assert metric.crossed
    assert metric.value == pytest.approx(2.0)
    assert metric.reason.startswith("class weather centroid moved")
    steady = compare(versions[0], versions[1], few, centroids=centroids)
    assert next(m for m in steady.metrics if m.name == "centroid_distance").value == pytest.approx(
        0.0
    )


def diff_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zslabel")
    diff.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_diff_exit_codes_and_screen(
    versions: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = diff_parser()
    args = parser.parse_args(["diff", str(versions[0]), str(versions[1])])
    assert args.handler(args) == 0
    screen = capsys.readouterr().out
    assert "no drift" in screen
    assert len(screen.splitlines()) <= 24  # one screen
    args = parser.parse_args(["diff", str(versions[1]), str(versions[2])])
    assert args.handler(args) == 1
    screen = capsys.readouterr().out
    assert "crossed" in screen
    assert "vacunación" in screen
    # A flag raises a threshold: the class-mix check alone no longer crosses.
    args = parser.parse_args(["diff", str(versions[1]), str(versions[2]), "--psi", "50", "--json"])
    assert args.handler(args) == 1
    payload = json.loads(capsys.readouterr().out)
    assert "psi" not in crossed(payload)
    assert payload["thresholds"]["psi"] == 50


def test_diff_refuses_what_is_not_an_output_folder(
    versions: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = diff_parser()
    args = parser.parse_args(["diff", str(tmp_path), str(versions[1])])
    with pytest.raises(InputError, match=r"manifest\.json and labeled\.parquet missing"):
        args.handler(args)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match=r": labeled\.parquet missing"):
        args.handler(args)
    args = parser.parse_args(["diff", str(versions[0]), str(versions[1]), "--psi", "-1"])
    with pytest.raises(ConfigError, match="--psi"):
        args.handler(args)
    # Through the command layer: bad input is exit 2, with the path named on stderr.
    assert cli.main(["diff", str(tmp_path / "nowhere"), str(versions[1])]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert cli.main(["diff", str(versions[1]), str(versions[2])]) == 1


def test_centroids_of_a_run_come_from_its_feature_cache(
    texts_file: Path, fake_job: Callable[..., JobConfig], tiny_model: Path
) -> None:
    from zslabel.runner import LabelingJob, run_job

    config = fake_job(texts_file, sources=[{"kind": "embedding", "model": str(tiny_model)}])
    folder = run_job(config).output_dir
    # The run recorded them in its drift.json, from the same cache.
    recorded = read_profile(folder).centroids
    assert recorded is not None
    job = LabelingJob(config)
    scores = [job.score_shard(shard) for shard in job.dataset.shards]
    assert all(score.reused for score in scores)  # read back, nothing scored again
    names = pq.read_table(folder / "labeled.parquet", columns=["zs_label"]).column(0)
    codes = np.asarray([-1 if n is None else job.label_names.index(n) for n in names.to_pylist()])
    centroids = centroids_from_cache(job.plan, scores, codes)
    assert centroids is not None
    assert set(centroids) == {n for n in names.to_pylist() if n is not None}
    assert {vector.shape for vector in centroids.values()} == {(32,)}  # the tiny model's width
    assert set(recorded) == set(centroids)
    for name, vector in centroids.items():
        np.testing.assert_allclose(recorded[name], vector, atol=1e-6)
    write_drift(folder, baseline(folder, centroids=centroids))
    same = compare(folder, folder, DriftSpec(centroid_min_rows=1), centroids=centroids)
    metric = next(m for m in same.metrics if m.name == "centroid_distance")
    assert metric.value == pytest.approx(0.0, abs=1e-6)
    # A job without an embedding source has no centroids to record.
    fake = LabelingJob(fake_job(texts_file))
    assert centroids_from_cache(fake.plan, [], codes) is None


def test_diff_takes_the_thresholds_of_the_later_versions_job(
    versions: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    current = tmp_path / "v0003"
    shutil.copytree(versions[2], current)
    manifest = json.loads((current / "manifest.json").read_text())
    manifest["config"]["drift"] = {"psi": 5.0, "on_drift": "fail"}
    (current / "manifest.json").write_text(json.dumps(manifest))
    args = diff_parser().parse_args(["diff", str(versions[1]), str(current), "--json"])
    assert args.handler(args) == 1
    payload = json.loads(capsys.readouterr().out)
    assert (payload["thresholds"]["psi"], payload["on_drift"]) == (5.0, "fail")
    assert "psi" not in crossed(payload)
    assert "invalid_rate" in crossed(payload)


def test_a_rate_crosses_either_way_and_says_so() -> None:
    from zslabel.drift.report import crossing

    # A fall of the abstained share is a change too: not "-0.26 > 0.1".
    assert crossing("abstain_rate", -0.2625, 0.1) == "abstain_rate -0.2625 beyond ±0.1"
    assert crossing("psi", 0.43051, 0.2) == "psi 0.4305 > 0.2"
    assert crossing("chi2_p_value", 0.001, 0.01) == "chi2_p_value 0.001 < 0.01"


def test_a_ks_statistic_over_its_threshold_that_chance_explains_says_why_it_is_ok() -> None:
    """A new user's trial: confidence_ks 0.1126 against 0.1 read "ok", with no word of the
    p-value that decided."""
    from zslabel.drift.compare import _ks

    spec = DriftSpec()
    rng = np.random.default_rng(0)
    before, after = rng.uniform(0.5, 1.0, 40), rng.uniform(0.55, 1.0, 40)
    metric = _ks("confidence_ks", "confidence", before, after, spec, "")
    assert metric.value is not None
    assert metric.value > spec.confidence_ks
    assert not metric.crossed
    assert f"but p {metric.detail['p_value']:.2g} >= {spec.ks_p_value:g}: too few rows" in (
        metric.reason
    )
    crossed = _ks("confidence_ks", "confidence", before, after - 0.3, spec, "")
    assert crossed.crossed
    assert "too few rows" not in crossed.reason
