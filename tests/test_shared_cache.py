"""The feature cache is the user's, shared by every output and job: a new --out encodes nothing."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from zslabel.cli import main
from zslabel.config import JobConfig
from zslabel.config.io import OutputSpec, feature_cache_folder, user_cache_root
from zslabel.config.runner import RunnerSpec
from zslabel.lock import STALE_PARTIAL_S, remove_debris
from zslabel.runner import run_job

from .conftest import make_texts

JOB = """\
input: {{path: {input}, text_column: text, shard_rows: 20}}
labels: [sports, weather, finance]
sources: [{{kind: fake}}]
output: {{dir: ../out/tickets{extra}}}
"""


@pytest.fixture
def job_file(tmp_path: Path, write_parquet: Callable[..., Path]) -> Path:
    """jobs/tickets.yaml over 60 texts in 3 shards, output out/tickets beside jobs/."""
    data = write_parquet({"text": make_texts(60)}, name="data/tickets.parquet")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    job = jobs / "tickets.yaml"
    job.write_text(JOB.format(input=f"../data/{data.name}", extra=""), encoding="utf-8")
    return job


def label(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["label", *argv, "--no-progress"]) == 0
    return capsys.readouterr().out


def entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.npy"))


def test_a_second_out_reuses_every_shard(
    job_file: Path, capsys: pytest.CaptureFixture[str], zslabel_cache: Path, tmp_path: Path
) -> None:
    strict = tmp_path / "out" / "strict"
    loose = tmp_path / "out" / "loose"
    first = label([str(job_file), "--out", str(strict)], capsys)
    assert "(3 shard(s) scored, 0 reused from cache)" in first
    cached = entries(zslabel_cache / "features")
    assert cached  # in the user's cache ($ZSLABEL_CACHE_DIR) ...
    assert entries(strict) == []  # ... not in the output folder

    second = label([str(job_file), "--out", str(loose), "--per-class-top-fraction", "0.9"], capsys)
    assert "(0 shard(s) scored, 3 reused from cache)" in second
    assert entries(zslabel_cache / "features") == cached
    run = json.loads((loose / "run.json").read_text(encoding="utf-8"))
    assert (run["shards"]["scored"], run["shards"]["reused"]) == (0, 3)


def test_check_counts_the_shared_cache_for_a_new_out(
    job_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    label([str(job_file)], capsys)
    assert main(["check", str(job_file), "--out", str(tmp_path / "new"), "--sample", "10"]) == 0
    assert "3 of 3 shard(s) already cached in" in capsys.readouterr().out


def test_output_cache_dir_overrides_the_user_cache_relative_to_the_job_file(
    job_file: Path, capsys: pytest.CaptureFixture[str], zslabel_cache: Path, tmp_path: Path
) -> None:
    data = "../data/tickets.parquet"
    job_file.write_text(
        JOB.format(input=data, extra=", cache_dir: ../team-cache"), encoding="utf-8"
    )
    out = label([str(job_file)], capsys)
    assert "(3 shard(s) scored, 0 reused from cache)" in out
    assert entries(tmp_path / "team-cache" / "features")
    assert not (zslabel_cache / "features").exists()
    manifest = json.loads((tmp_path / "out" / "tickets" / "manifest.json").read_text())
    recorded = Path(manifest["config"]["output"]["cache_dir"])
    assert recorded.is_absolute()
    assert recorded.resolve() == (tmp_path / "team-cache").resolve()


def test_the_user_cache_follows_zslabel_cache_dir_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZSLABEL_CACHE_DIR", str(tmp_path / "mine"))
    assert user_cache_root() == tmp_path / "mine"
    monkeypatch.delenv("ZSLABEL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_root() == tmp_path / "xdg" / "zslabel"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_root() == tmp_path / "home" / ".cache" / "zslabel"


def test_a_job_on_an_existing_cluster_keeps_its_cache_on_the_output_storage(
    zslabel_cache: Path,
) -> None:
    output = OutputSpec(dir="/data/out")
    # The workers of a remote cluster would each resolve their own user's cache.
    remote = RunnerSpec(kind="dask", address="tcp://scheduler:8786")
    assert feature_cache_folder(output, remote) == Path("/data/out/.zslabel/features")
    assert feature_cache_folder(output, RunnerSpec(kind="dask")) == zslabel_cache / "features"
    assert feature_cache_folder(output) == zslabel_cache / "features"
    shared = OutputSpec(dir="/data/out", cache_dir="/shared/zs")
    assert feature_cache_folder(shared, remote) == Path("/shared/zs/features")


def test_two_outputs_scoring_the_same_shards_at_once_both_finish_alike(
    texts_file: Path, fake_job: Callable[..., JobConfig], tmp_path: Path
) -> None:
    # Two runs (other outputs, so other locks) write the same cache entries at the same time:
    # each entry is written to a unique temporary name and renamed over, so both succeed.
    jobs = [fake_job(texts_file, output={"dir": str(tmp_path / name)}) for name in "ab"]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run_job, jobs))
    first, second = (r.output_dir / "labeled.parquet" for r in results)
    assert first.read_bytes() == second.read_bytes()
    assert run_job(jobs[0]).run_info["shards"]["scored"] == 0


def test_debris_sweep_spares_young_partial_cache_entries_of_other_runs(tmp_path: Path) -> None:
    out, work, cache = tmp_path / "out", tmp_path / "out" / ".zslabel", tmp_path / "cache"
    (cache / "ab").mkdir(parents=True)
    (work / "x").mkdir(parents=True)
    young = cache / "ab" / "young.tmp"
    old = cache / "ab" / "old.tmp"
    mine = work / "x" / "killed.tmp"
    for path in (young, old, mine):
        path.write_bytes(b"partial")
    stale = time.time() - STALE_PARTIAL_S - 60
    os.utime(old, (stale, stale))
    remove_debris(out, work, cache)
    assert young.exists()  # perhaps another output's run writing it now
    assert not old.exists()  # a day old: a run that died
    assert not mine.exists()  # the work folder is this output's alone


def test_label_frame_and_the_estimator_leave_nothing_in_the_user_cache(
    zslabel_cache: Path,
) -> None:
    import zslabel
    from zslabel.sklearn import ZeroShotClassifier

    texts = make_texts(12)
    fake = [{"kind": "fake"}]
    ZeroShotClassifier(["sports", "weather", "finance"], sources=fake).fit(texts).predict(texts)
    zslabel.label_frame(
        make_texts(12), ["sports", "weather", "finance"], sources=[{"kind": "fake"}]
    )
    assert not (zslabel_cache / "features").exists()
