from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.errors import ConfigError, OutputError
from zslabel.incremental import run_incremental
from zslabel.runner import run_job

from .conftest import make_texts


def write(folder: Path, name: str, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), folder / name)


def test_each_run_labels_only_new_or_changed_files_into_a_new_version(
    tmp_path: Path, fake_job: Callable[..., JobConfig], zslabel_cache: Path
) -> None:
    data = tmp_path / "data"
    write(data, "a.parquet", make_texts(20))
    job = fake_job(data, incremental=True)
    outcome = run_incremental(job)
    assert outcome is not None
    first, result = outcome
    assert (first.version, result.counts["rows"]) == ("v0001", 20)

    assert run_incremental(job) is None  # nothing new

    write(data, "b.parquet", make_texts(7, seed=1))
    write(data, "a.parquet", make_texts(21))  # rewritten in place: labeled again
    outcome = run_incremental(job)
    assert outcome is not None
    second, result = outcome
    assert second.version == "v0002"
    assert sorted(Path(f).name for f in second.files) == ["a.parquet", "b.parquet"]
    assert second.relabeled == ()  # a rewritten file is a new file, not a relabeled one
    assert second.describe() == (
        "Version v0002: 2 new file(s) (1 changed since an earlier version labeled them, "
        "labeled again as a whole)"
    )
    assert result.counts["rows"] == 28

    root = Path(job.output.dir)
    index = json.loads((root / "versions.json").read_text())
    assert index["latest"] == "v0002"
    assert [v["rows"] for v in index["versions"]] == [20, 28]
    assert (root / "v0001" / "labeled.parquet").is_file()
    # Every version scores into the user's cache, shared by every output: none of its own.
    assert not (root / ".zslabel" / "features").exists()
    assert (zslabel_cache / "features").is_dir()


def test_a_changed_job_labels_everything_again(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    write(data, "a.parquet", make_texts(10))
    assert run_incremental(fake_job(data, incremental=True)) is not None
    changed = fake_job(data, incremental=True, selection={"min_margin": 0.2})
    outcome = run_incremental(changed)
    assert outcome is not None
    assert outcome[0].version == "v0002"
    # Said as such: a new user read "1 new file(s)" for a file labeled the week before.
    assert outcome[0].relabeled == outcome[0].files
    assert outcome[0].describe() == (
        "Version v0002: 1 new file(s) (1 of them labeled by an earlier version under other "
        "settings, labeled again under these)"
    )


def test_run_job_refuses_an_incremental_job(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    write(tmp_path / "data", "a.parquet", make_texts(5))
    with pytest.raises(ConfigError, match="incremental"):
        run_job(fake_job(tmp_path / "data", incremental=True))


def test_the_job_key_ignores_student_settings_and_spelled_out_defaults(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    from zslabel.incremental import job_key

    base = fake_job(texts_file)
    assert job_key(fake_job(texts_file, student={"rounds": 1})) == job_key(base)
    assert job_key(fake_job(texts_file, combine={"prior_accuracy": 0.7})) == job_key(base)
    assert job_key(fake_job(texts_file, combine={"prior_accuracy": 0.6})) != job_key(base)


def test_label_json_keeps_stdout_for_the_json_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripts pipe ``zslabel label --json`` into jq: version and no-new-files lines go to
    stderr."""
    import yaml

    from zslabel.cli import main

    write(tmp_path / "in", "a.parquet", make_texts(30))
    job = tmp_path / "job.yaml"
    job.write_text(
        yaml.safe_dump(
            {
                "input": {"path": str(tmp_path / "in"), "text_column": "text"},
                "labels": ["sports", "weather", "finance"],
                "sources": [{"kind": "fake"}],
                "incremental": True,
                "output": {"dir": str(tmp_path / "out")},
            }
        )
    )
    assert main(["label", str(job), "--json", "--no-progress"]) == 0
    first = capsys.readouterr()
    assert json.loads(first.out)["rows"] == 30
    assert "Version v0001" in first.err
    assert main(["label", str(job), "--json", "--no-progress"]) == 0
    again = capsys.readouterr()
    assert again.out == ""
    assert "No new input files" in again.err


def test_a_rewritten_file_is_said_to_be_one(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A trial rewrote two files and read "1 of them labeled by an earlier version under other
    settings" for three files that had all been labeled before."""
    data = tmp_path / "data"
    write(data, "a.parquet", make_texts(10))
    write(data, "b.parquet", make_texts(10, seed=1))
    assert run_incremental(fake_job(data, incremental=True)) is not None
    write(data, "b.parquet", make_texts(8, seed=1))  # rewritten in place: rows removed
    outcome = run_incremental(fake_job(data, incremental=True, selection={"min_margin": 0.2}))
    assert outcome is not None
    assert outcome[0].describe() == (
        "Version v0002: 2 new file(s) (1 of them labeled by an earlier version under other "
        "settings, labeled again under these; 1 changed since an earlier version labeled them, "
        "labeled again as a whole)"
    )


def test_files_gone_from_the_input_are_said_to_be(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A trial's Spark partition overwrite wrote a partition's rows again under new file
    names: the next version labeled them as new files while the first still held them, and
    nothing said that the first version's files had left the input."""
    data = tmp_path / "data"
    write(data / "dt=1", "part-0000-aaaa.parquet", make_texts(10))
    job = fake_job(data, incremental=True)
    assert run_incremental(job) is not None
    (data / "dt=1" / "part-0000-aaaa.parquet").rename(data / "dt=1" / "part-0000-bbbb.parquet")
    outcome = run_incremental(job)
    assert outcome is not None
    assert [Path(path).name for path in outcome[0].vanished] == ["part-0000-aaaa.parquet"]
    line = outcome[0].describe()
    assert line.startswith(
        "Version v0002: 1 new file(s). 1 file(s) earlier versions labeled are no longer in the "
        "input (e.g. "
    )
    assert "Spark's partition overwrite" in line
    # Said once: the next version does not report it again.
    write(data / "dt=2", "part-0000-cccc.parquet", make_texts(5, seed=3))
    outcome = run_incremental(job)
    assert outcome is not None
    assert outcome[0].vanished == ()
    assert outcome[0].describe() == "Version v0003: 1 new file(s)"


def test_incremental_and_plain_runs_never_share_an_output_folder(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    """A new user's trial turned incremental on for a folder a plain run had written: the
    versions went beside the old labeled.parquet and splits, which eval, train, import-reviews
    and datasets.load_dataset went on reading without a word."""
    data = tmp_path / "data"
    write(data, "a.parquet", make_texts(10))
    plain = fake_job(data)
    run_job(plain)
    root = Path(plain.output.dir)
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(OutputError, match="holds the outputs of a run that was not incremental"):
        run_incremental(fake_job(data, incremental=True))
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written beside them

    other = fake_job(data, incremental=True, output={"dir": str(tmp_path / "versions")})
    assert run_incremental(other) is not None
    with pytest.raises(OutputError, match=r"an incremental job's output folder \(versions.json\)"):
        run_job(fake_job(data, output={"dir": str(tmp_path / "versions")}))
