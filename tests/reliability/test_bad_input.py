"""The bad-input matrix: every case fails in one line naming what is wrong, with a non-zero exit,
no traceback and no output left behind; or, for faults of single rows, labels the rest and marks
those rows invalid with a reason.

Cases go through ``zslabel label`` (``cli.main``) as a user would meet them.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import LABELS, make_texts, save_tiny_bert
from tests.reliability.conftest import leftovers, snapshot, write_folder
from zslabel import export
from zslabel.cli import main

ROOT = Path(__file__).parents[2]


@dataclass
class Case:
    """A folder of three good files, a job over it, and what a case changes in either."""

    tmp: Path

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def job(
        self,
        *,
        input_extra: str = "",
        labels: str = "[sports, weather, finance]",
        sources: str = "[{kind: fake}]",
        extra: str = "",
        path: Path | None = None,
    ) -> Path:
        job = self.tmp / "job.yaml"
        job.write_text(
            f"input: {{path: {path or self.data}, shard_rows: 10{input_extra}}}\n"
            f"labels: {labels}\n"
            f"sources: {sources}\n"
            f"output: {{dir: {self.out}}}\n" + extra,
            encoding="utf-8",
        )
        return job

    def adding(self, name: str, columns: dict[str, pa.Array | list[object]]) -> Case:
        """Write one more file among the good ones."""
        pq.write_table(pa.table(columns), self.data / name)
        return self

    def damaging(self, name: str, how: str) -> Case:
        """Damage a good file: replace it with junk, cut it in half, or flip bytes in its pages."""
        path = self.data / name
        data = bytearray(path.read_bytes())
        if how == "junk":
            data = bytearray(b"not parquet" * 50)
        elif how == "truncate":
            data = data[: len(data) // 2]
        else:  # the data pages just after the leading magic bytes
            for i in range(40, 400):
                data[i] ^= 0x5A
        path.write_bytes(bytes(data))
        return self

    def model(self, id2label: dict[int, str] | None = None) -> Path:
        return save_tiny_bert(self.tmp / "model", id2label)


NO_ENTAILMENT = {0: "positive", 1: "negative"}
NULL_ID = pa.array([None], pa.int64())

# (id, build the case and return its job file, what the one-line error must say)
FATAL: list[tuple[str, Callable[[Case], Path], str]] = [
    (
        "corrupt-file-among-good",
        lambda c: c.damaging("part-001.parquet", "junk").job(),
        r"part-001\.parquet: not a readable Parquet file",
    ),
    (
        "corrupt-first-file",
        lambda c: c.damaging("part-000.parquet", "junk").job(),
        r"not a readable Parquet dataset .*part-000\.parquet",
    ),
    (
        "truncated-file",
        lambda c: c.damaging("part-002.parquet", "truncate").job(),
        r"part-002\.parquet: not a readable Parquet file",
    ),
    (
        "corrupt-data-pages",
        lambda c: c.damaging("part-001.parquet", "pages").job(),
        r"part-001\.parquet: cannot read rows",
    ),
    (
        "columns-differ-between-files",
        lambda c: c.adding("part-009.parquet", {"text": ["x"]}).job(),
        r"part-009\.parquet: its columns differ from the rest of the dataset \(missing 'id'\)",
    ),
    (
        "column-type-differs-between-files",
        lambda c: c.adding("part-009.parquet", {"text": ["x"], "id": ["a"]}).job(),
        r"part-009\.parquet: column 'id' has type string, but int64 in the rest",
    ),
    (
        "text-column-not-text",
        lambda c: c.job(input_extra=", text_column: id"),
        r"text column 'id' has type int64, expected a string",
    ),
    (
        "text-column-missing",
        lambda c: c.job(input_extra=", text_column: body"),
        r"text column 'body' not found; columns are text, id",
    ),
    (
        "text-column-of-type-null",  # what pandas writes for a column of None only
        lambda c: c.adding("nulls.parquet", {"text": pa.nulls(3)}).job(
            path=c.data / "nulls.parquet"
        ),
        r"nulls\.parquet: text column 'text' has type null, expected a string",
    ),
    (
        "duplicate-ids",
        lambda c: c.adding("part-009.parquet", {"text": ["x"], "id": [7]}).job(
            input_extra=", id_column: id"
        ),
        r"id column 'id' has duplicate value 7 \(rows 7 and 60, counting from 0: row 7 of "
        r"part-000\.parquet and row 0 of part-009\.parquet\); ids must be unique across the files",
    ),
    (
        "null-id",
        lambda c: c.adding("part-009.parquet", {"text": ["x"], "id": NULL_ID}).job(
            input_extra=", id_column: id"
        ),
        r"id column 'id' is null at row 60 \(counting from 0: row 0 of part-009\.parquet\)",
    ),
    (
        "id-column-missing",
        lambda c: c.job(input_extra=", id_column: doc_id"),
        r"id column 'doc_id' not found",
    ),
    (
        "input-not-found",
        lambda c: c.job(path=c.tmp / "nowhere"),
        r"nowhere: input not found",
    ),
    (
        "empty-label-name",
        lambda c: c.job(labels="[sports, '', finance]"),
        r"job\.yaml: labels\[1\], line 2: label names must be non-empty strings, got ''",
    ),
    (
        "whitespace-label-name",
        lambda c: c.job(labels="[sports, '   ', finance]"),
        r"label names must be non-empty strings, got '   '",
    ),
    (
        "yaml-syntax-error",
        lambda c: c.job(extra="selection: {min_confidence: [\n"),
        r"job\.yaml, line 6, column 1: YAML syntax error",
    ),
    (
        "unknown-source-kind",
        lambda c: c.job(sources="[{kind: magic}]"),
        r"sources\[0\], line 3: kind 'magic' is not a source kind \(embedding, nli, .*fake\)",
    ),
    (
        "model-path-missing",
        lambda c: c.job(sources=f"[{{kind: embedding, model: {c.tmp / 'no-model'}}}]"),
        r"model path '.*no-model' does not exist or is not a folder",
    ),
    (
        "nli-model-without-entailment",
        lambda c: c.job(sources=f"[{{kind: nli, model: {c.model(NO_ENTAILMENT)}}}]"),
        r"has no entailment label \(labels: positive, negative\): it is not an NLI model",
    ),
    (
        "pickled-weights-only",
        lambda c: c.job(sources=f"[{{kind: embedding, model: {_pickle_only(c.model())}}}]"),
        r"holds only pickled weights \(pytorch_model\.bin\)",
    ),
    (
        "min-confidence-above-1",
        lambda c: c.job(extra="selection: {min_confidence: 1.5}\n"),
        r"selection\.min_confidence, line 5: Input should be less than or equal to 1",
    ),
    (
        "class-confidence-negative",
        lambda c: c.job(extra="selection: {per_class_min_confidence: {sports: -0.1}}\n"),
        r"selection\.per_class_min_confidence\.sports, line 5: .*greater than or equal to 0",
    ),
    (
        "top-fraction-zero",
        lambda c: c.job(extra="selection: {per_class_top_fraction: 0}\n"),
        r"selection\.per_class_top_fraction, line 5: Input should be greater than 0",
    ),
    (
        "margin-above-1",
        lambda c: c.job(extra="selection: {min_margin: 2}\n"),
        r"selection\.min_margin, line 5: Input should be less than or equal to 1",
    ),
]


def _pickle_only(model: Path) -> Path:
    """Turn a saved model's safetensors weights into a pickled checkpoint only."""
    import torch
    from safetensors.torch import load_file

    weights = model / "model.safetensors"
    torch.save(load_file(weights), model / "pytorch_model.bin")
    weights.unlink()
    return model


def label(job: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["label", str(job), "--no-progress"])
    return code, capsys.readouterr().err


def assert_nothing_written(out: Path) -> None:
    """No output file, staging folder, temporary file or lock: at most the work folder's cache
    of shards scored before a fault found later (what makes the fixed rerun quick)."""
    if out.exists():
        assert [p.name for p in out.iterdir()] == [".zslabel"]
        assert leftovers(out) == []


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in FATAL], ids=[c[0] for c in FATAL])
def test_bad_input_fails_in_one_line_and_leaves_nothing(
    build: Callable[[Case], Path],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = Case(tmp_path)
    write_folder(case.data)
    code, err = label(build(case), capsys)
    assert code != 0
    assert err.count("\n") == 1, err
    assert err.startswith("zslabel: error: "), err
    assert "Traceback" not in err
    assert re.search(expected, err), err
    assert_nothing_written(case.out)


def test_invalid_utf8_in_a_binary_file_among_string_files_makes_invalid_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first file's text column is a string: the binary file used to fail the whole run when
    its column was cast to string."""
    case = Case(tmp_path)
    write_folder(case.data)
    texts = pa.array([b"\xff\xfe not UTF-8", b"sports: a goal"], pa.binary())
    pq.write_table(pa.table({"text": texts, "id": [60, 61]}), case.data / "part-009.parquet")
    code, err = label(case.job(), capsys)
    assert code == 0, err
    rows = pq.read_table(case.out / "labeled.parquet").to_pylist()
    assert len(rows) == 62
    by_id = {row["id"]: row for row in rows}
    assert (by_id[60]["zs_status"], by_id[60]["zs_reason"]) == ("invalid", "invalid_utf8")
    assert by_id[61]["zs_status"] != "invalid"
    manifest = json.loads((case.out / "manifest.json").read_text())
    assert manifest["counts"]["invalid_reasons"] == {"invalid_utf8": 1}


def test_an_all_null_text_column_labels_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Null texts are faults of rows: every row comes out invalid with its reason, and counted."""
    case = Case(tmp_path)
    case.data.mkdir()
    table = pa.table({"text": pa.array([None] * 12, pa.string()), "id": list(range(12))})
    pq.write_table(table, case.data / "part-000.parquet")
    code, err = label(case.job(), capsys)
    assert code == 0, err
    counts = json.loads((case.out / "manifest.json").read_text())["counts"]
    assert counts["status"] == {"accepted": 0, "abstained": 0, "invalid": 12}
    assert counts["invalid_reasons"] == {"null_text": 12}


def test_a_very_long_text_is_truncated_by_tokens_and_the_limit_recorded(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path)
    case.data.mkdir()
    texts = [*make_texts(5), "sports " * 200_000]  # 1.4 MB, some 200,000 tokens
    pq.write_table(pa.table({"text": texts}), case.data / "part-000.parquet")
    source = f"[{{kind: embedding, model: {tiny_model}, max_length: 64}}]"
    code, err = label(case.job(sources=source), capsys)
    assert code == 0, err
    rows = pq.read_table(case.out / "labeled.parquet").to_pylist()
    assert rows[-1]["zs_status"] != "invalid"
    assert rows[-1]["zs_label"] in LABELS
    manifest = json.loads((case.out / "manifest.json").read_text())
    recorded = manifest["sources"][0]
    assert (recorded["max_length"], recorded["long_texts"]) == (64, "truncate")
    # The one text past 64 tokens is counted as cut; a rerun from the cache still knows it.
    assert manifest["counts"]["truncated_texts"] == {"embedding": 1}
    assert label(case.job(sources=source), capsys)[0] == 0
    again = json.loads((case.out / "manifest.json").read_text())
    assert again["counts"]["truncated_texts"] == {"embedding": 1}
    # In windows, a text is cut only past max_chunks windows: 200,000 tokens still are.
    chunked = f"[{{kind: embedding, model: {tiny_model}, max_length: 64, long_texts: chunk}}]"
    assert label(case.job(sources=chunked), capsys)[0] == 0
    windows = json.loads((case.out / "manifest.json").read_text())
    assert windows["counts"]["truncated_texts"] == {"embedding": 1}


def test_a_long_text_fits_the_models_own_positions(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path)
    case.data.mkdir()
    pq.write_table(pa.table({"text": ["sports " * 1000]}), case.data / "part-000.parquet")
    code, _ = label(case.job(sources=f"[{{kind: embedding, model: {tiny_model}}}]"), capsys)
    assert code == 0


class _FullDisk(export.pq.ParquetWriter):  # type: ignore[misc]
    """A Parquet writer on a disk that fills up after its first row group."""

    def write_table(self, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_export_keeps_the_previous_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case(tmp_path)
    write_folder(case.data)
    job = case.job()
    assert label(job, capsys)[0] == 0
    before = snapshot(case.out)
    job.write_text(job.read_text() + "selection: {min_confidence: 0.4}\n")
    monkeypatch.setattr(export.pq, "ParquetWriter", _FullDisk)
    code, err = label(job, capsys)
    assert code == 1
    assert err.count("\n") == 1, err
    assert re.search(
        r"out: cannot write \w+\.parquet \(No space left on device\); the previous", err
    )
    assert snapshot(case.out) == before
    assert leftovers(case.out) == []


def _run_cli(job: Path, *, file_limit: int | None = None, as_user: bool = False) -> str:
    """``zslabel label JOB`` in a subprocess: with a file size limit, or bound by permissions."""
    setup = ""
    if file_limit is not None:
        # Writes past the limit fail with EFBIG, as on a full or quota-limited disk; SIGXFSZ
        # would kill the process instead of letting the write fail.
        setup = (
            "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_limit}, {file_limit})); "
        )
    code = f"{setup}import sys; from zslabel.cli import main; sys.exit(main(sys.argv[1:]))"
    prefix: list[str] = []
    if as_user and os.geteuid() == 0:
        # Root writes into read-only folders: drop the capabilities that let it.
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", code, "label", str(job), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_a_file_size_limit_hit_while_exporting_is_one_line(tmp_path: Path) -> None:
    """A real failed write(2) in Arrow's C++ writer, not a patched one."""
    case = Case(tmp_path)
    write_folder(case.data)
    err = _run_cli(case.job(), file_limit=4096)
    assert re.search(r"out: cannot write \w+\.parquet \(.*File too large.*\)", err), err
    assert_nothing_written(case.out)


def test_a_read_only_output_folder_is_one_line(tmp_path: Path) -> None:
    case = Case(tmp_path)
    write_folder(case.data)
    case.out.mkdir()
    case.out.chmod(0o555)
    err = _run_cli(case.job(), as_user=True)
    assert re.search(r"out: cannot create folder .*out/\.zslabel \(Permission denied\)", err)
    assert list(case.out.iterdir()) == []


def test_a_duplicate_id_is_refused_before_any_shard_is_scored(
    tmp_path: Path, zslabel_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`label` found a duplicate id only at the split, after scoring every shard; `check`
    passed the same job. Both now refuse it first, with the same line."""
    case = Case(tmp_path)
    write_folder(case.data)
    job = case.adding("part-009.parquet", {"text": ["x"], "id": [7]}).job(
        input_extra=", id_column: id"
    )
    expected = (
        r"id column 'id' has duplicate value 7 \(rows 7 and 60, counting from 0: row 7 of "
        r"part-000\.parquet and row 0 of part-009\.parquet\); ids must be unique"
    )
    code, err = label(job, capsys)
    assert code != 0
    assert re.search(expected, err), err
    scored = [p for p in zslabel_cache.rglob("*") if p.is_file()]
    assert scored == [], scored
    assert main(["check", str(job)]) != 0
    assert re.search(expected, capsys.readouterr().err)
