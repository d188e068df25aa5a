"""The zslabel command, end to end on real Parquet files (fake source unless stated)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from zslabel.cli import main

from .conftest import make_texts

JOB = """\
input: {{path: {input}, text_column: text, id_column: doc_id}}
labels:
  sports: "sport, a match or a team"
  weather: ["rain or storms", "a weather forecast"]
  finance: "money, banks or markets"
sources:
  - {{kind: fake}}
selection: {{per_class_top_fraction: 0.5}}
output: {{dir: out, format: parquet, splits: {{train: 0.8, validation: 0.1, test: 0.1}}, seed: 0}}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def job_file(tmp_path: Path, texts_file: Path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(JOB.format(input=texts_file.name))
    return path


def test_label_with_a_job_file_prints_a_summary(
    capsys: pytest.CaptureFixture[str], job_file: Path
) -> None:
    code, out, _ = run(capsys, "label", str(job_file), "--no-progress")
    assert code == 0
    assert "Labeled 60 rows" in out
    assert "invalid" in out
    assert "null_text 1" in out
    assert (job_file.parent / "out" / "manifest.json").is_file()


def test_overrides_from_flags(
    capsys: pytest.CaptureFixture[str], job_file: Path, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "label", str(job_file), "--out", str(tmp_path / "elsewhere"),
        "--per-class-top-fraction", "1.0", "--min-above-chance", "0", "--format", "csv",
        "--json", "--no-progress",
    )  # fmt: skip
    assert code == 0
    counts = json.loads(out)
    assert counts["status"]["accepted"] == 58
    assert (tmp_path / "elsewhere" / "train.csv").is_file()


def test_quick_form_without_a_job_file(
    capsys: pytest.CaptureFixture[str], texts_file: Path, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "label", str(texts_file), "--labels", "sports,weather,finance",
        "--text-column", "text", "--out", str(tmp_path / "quick"), "--dry-run", "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    manifest = json.loads((tmp_path / "quick-dry-run" / "manifest.json").read_text())
    assert manifest["sources"][0]["kind"] == "fake"
    assert [label["name"] for label in manifest["labels"]] == ["sports", "weather", "finance"]


def test_eval_reports_accuracy_from_a_gold_column(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    texts = make_texts(30)
    gold = [t.split(": ")[1].split(" ")[0] for t in texts]  # the fake source sees label names
    path = write_parquet({"text": texts, "gold": gold})
    out_dir = tmp_path / "o"
    run(capsys, "label", str(path), "--labels", "sports,weather,finance", "--out", str(out_dir),
        "--dry-run", "--no-progress")  # fmt: skip
    code, out, _ = run(capsys, "eval", f"{out_dir}-dry-run", "--gold-column", "gold", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["forced"]["accuracy"] == 1.0
    assert report["coverage"] == pytest.approx(0.5, abs=0.05)
    code, out, _ = run(capsys, "eval", f"{out_dir}-dry-run", "--gold-column", "gold")
    assert "accepted rows:   accuracy 1.000" in out


def test_eval_leaves_reviewers_labels_out_and_counts_accepted_rows_without_gold(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    """A new user's trial: 33 reviews lifted the model's all-rows accuracy 0.777 -> 0.802."""
    import pyarrow.parquet as pq

    texts = make_texts(30)
    gold = [t.split(": ")[1].split(" ")[0] for t in texts]
    path = write_parquet({"text": texts, "gold": gold})
    out_dir = tmp_path / "o"
    run(capsys, "label", str(path), "--labels", "sports,weather,finance", "--out", str(out_dir),
        "--dry-run", "--no-progress")  # fmt: skip
    labeled = tmp_path / "o-dry-run" / "labeled.parquet"
    frame = pq.read_table(labeled).to_pandas()
    before = json.loads(run(capsys, "eval", str(labeled.parent), "--gold-column", "gold",
                            "--json")[1])  # fmt: skip
    abstained = frame.index[frame["zs_status"] == "abstained"][:3]
    frame.loc[abstained, ["zs_status", "zs_reason"]] = ["accepted", "human_review"]
    accepted = frame.index[(frame["zs_status"] == "accepted") & frame["zs_reason"].isna()][:2]
    frame.loc[accepted, "gold"] = None
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), labeled)

    code, out, _ = run(capsys, "eval", str(labeled.parent), "--gold-column", "gold", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["human_reviewed_rows"] == 3
    assert report["accepted_rows_without_gold"] == 2
    assert report["valid_rows"] == before["valid_rows"] - 3 - 2
    assert report["accepted_rows"] == before["accepted_rows"] - 2
    _, out, _ = run(capsys, "eval", str(labeled.parent), "--gold-column", "gold")
    assert "left out: 3 row(s) accepted with a reviewer's label (human_review)" in out
    assert "not judged: 2 accepted row(s) without gold" in out


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d, f: ["label", str(d / "missing.yaml")], "job file not found"),
        (lambda d, f: ["label", str(d / "nope.parquet"), "--labels", "a,b", "--out", str(d / "o")],
         "input not found"),
        (lambda d, f: ["label", str(f), "--labels", "a", "--out", str(d / "o")],
         "at least 2 labels"),
        (lambda d, f: ["label", str(f), "--labels", "a,a", "--out", str(d / "o")],
         "duplicate label 'a'"),
        (lambda d, f: ["label", str(f), "--labels", "a,b", "--out", str(d / "o"),
                       "--text-column", "body"], "columns are text, doc_id, n"),
        (lambda d, f: ["label", str(f), "--labels", "a,b", "--out", str(d / "o"),
                       "--min-confidence", "2"], "--min-confidence 2: must be <= 1"),
        (lambda d, f: ["label", str(f), "--labels", "a,b", "--out", str(d / "o"),
                       "--text-column", "n"], "has type int64, expected a string"),
        (lambda d, f: ["label", str(f)], "give a job file"),
        (lambda d, f: ["eval", str(d), "--gold-column", "x"], "labeled.parquet: not found"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    texts_file: Path,
    make_args: Callable[[Path, Path], list[str]],
    message: str,
) -> None:
    code, _, err = run(capsys, *make_args(tmp_path, texts_file))
    assert code == 2
    assert message in err
    assert err.startswith("zslabel: error: ")
    assert err.count("\n") == 1


def test_output_path_that_is_a_file_exits_non_zero(
    capsys: pytest.CaptureFixture[str], texts_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "label", str(texts_file), "--labels", "a,b", "--out",
                       str(tmp_path / "file"))  # fmt: skip
    assert code == 1
    assert "output path exists and is not a folder" in err


def test_split_fractions_must_sum_to_one(
    capsys: pytest.CaptureFixture[str], job_file: Path
) -> None:
    job_file.write_text(job_file.read_text().replace("test: 0.1", "test: 0.3"))
    code, _, err = run(capsys, "label", str(job_file))
    assert code == 2
    assert "output.splits, line 9: split fractions must sum to 1, got 1.2" in err


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    proc = subprocess.run(
        [sys.executable, "-m", "zslabel.cli", "label", str(bad), "--labels", "a,b", "--out",
         str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.parquet: not a readable Parquet" in proc.stderr


# -- a bad flag value is blamed on the flag, not on the job file's line ----------------------


def test_a_bad_flag_value_names_the_flag_not_the_job_files_line(
    capsys: pytest.CaptureFixture[str], job_file: Path
) -> None:
    # The job file sets per_class_top_fraction on its line 8; the bad value is the flag's.
    code, _, err = run(capsys, "label", str(job_file), "--per-class-top-fraction", "1.5")
    assert code == 2
    assert err == "zslabel: error: --per-class-top-fraction 1.5: must be <= 1\n"


def test_flag_and_file_errors_are_each_blamed_on_their_own_source(
    capsys: pytest.CaptureFixture[str], job_file: Path
) -> None:
    job_file.write_text(job_file.read_text().replace("test: 0.1", "test: 0.3"))
    code, _, err = run(capsys, "label", str(job_file), "--min-margin", "-1", "--review-limit", "0")
    assert code == 2
    assert err == (
        f"zslabel: error: {job_file}: output.splits, line 9: split fractions must sum to 1, "
        "got 1.2; --min-margin -1: must be >= 0; --review-limit 0: must be > 0\n"
    )


def test_the_quick_form_blames_the_flag_too(
    capsys: pytest.CaptureFixture[str], texts_file: Path, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "label", str(texts_file), "--labels", "a,b", "--out", str(tmp_path / "o"),
        "--per-class-top-fraction", "1.5", "--template", "no placeholder",
    )  # fmt: skip
    assert code == 2
    assert err == "zslabel: error: --per-class-top-fraction 1.5: must be <= 1\n"
    code, _, err = run(
        capsys, "label", str(texts_file), "--labels", "a,b", "--out", str(tmp_path / "o"),
        "--template", "no placeholder",
    )  # fmt: skip
    assert err == (
        "zslabel: error: --template 'no placeholder': the template must contain {description} "
        "or {label}\n"
    )


@pytest.mark.parametrize("command", [["run"], ["serve", "--interval", "60"]])
def test_run_and_serve_validate_their_flags_before_prefect_starts(
    job_file: Path, command: list[str]
) -> None:
    from zslabel.cli import _parser
    from zslabel.cli.jobargs import job_from_args, load_checked
    from zslabel.errors import ConfigError

    check = load_checked if command[0] == "serve" else job_from_args
    argv = [command[0], str(job_file), *command[1:]]
    args = _parser().parse_args([*argv, "--per-class-top-fraction", "1.5"])
    with pytest.raises(ConfigError) as caught:
        check(args)
    assert str(caught.value) == "--per-class-top-fraction 1.5: must be <= 1"
    args = _parser().parse_args([*argv, "--review-limit", "7"])
    assert check(args).review.limit == 7


def test_a_missing_text_column_suggests_the_likely_one(
    capsys: pytest.CaptureFixture[str], write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    tickets = write_parquet(
        {
            "id": ["t-0001", "t-0002", "t-0003"],
            "body": ["I was charged twice this month", "Where is my parcel?", "Reset password"],
            "created_at": ["2024-01-01T10:00", "2024-01-02T11:30", "2024-01-03T09:15"],
        },
        name="tickets.parquet",
    )
    code, _, err = run(capsys, "label", str(tickets), "--labels", "a,b", "--out",
                       str(tmp_path / "o"))  # fmt: skip
    assert code == 2
    assert err == (
        f"zslabel: error: {tickets}: text column 'text' not found; columns are id, body, "
        "created_at; did you mean --text-column body / text_column: body?\n"
    )


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`zslabel eval OUT | head -4` printed `zslabel: error: [Errno 32] Broken pipe` and exit 1
    on some runs (a new user's trial); now nothing, and 141 as for a tool killed by SIGPIPE."""
    code = (
        "import argparse, sys\n"
        "import zslabel.cli as cli\n"
        "def boom(args):\n"
        "    print('partial output')\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "class Parser:\n"
        "    def parse_args(self, argv):\n"
        "        return argparse.Namespace(handler=boom)\n"
        "cli._parser = Parser\n"
        "sys.exit(cli.main([]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert (done.returncode, done.stderr) == (141, "")
