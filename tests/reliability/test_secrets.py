"""Credentials in storage URIs never reach a manifest, an error, a log or a Prefect artifact, and
models load only from safetensors, without remote code, with their identity recorded."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import LABELS, make_texts
from tests.reliability.conftest import job_dict, write_folder
from zslabel.config import JobConfig
from zslabel.errors import InputError, OutputError
from zslabel.models import resolve_model
from zslabel.redact import redact, redact_value
from zslabel.runner import RunResult, run_job

PACKAGE = Path(__file__).parents[2] / "zslabel"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("s3://AKIAXXXX:wJalrXUtnFEMI@bucket/data", "s3://***@bucket/data"),
        ("gs://user@bucket/x", "gs://***@bucket/x"),
        ("postgresql+asyncpg://prefect:pw@db:5432/prefect", "postgresql+asyncpg://***@db:5432/prefect"),
        ("https://acct.blob.core.windows.net/c/d?sv=2022&sig=abc%2F&se=1", "https://acct.blob.core.windows.net/c/d?sv=2022&sig=***&se=1"),
        ("https://h/x?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff", "https://h/x?X-Amz-Credential=***&X-Amz-Signature=***"),
        ("https://h/x?token=t0k&page=2", "https://h/x?token=***&page=2"),
        ("error at 'hdfs://u:p@nn:8020/a' (denied)", "error at 'hdfs://***@nn:8020/a' (denied)"),
        # Nothing secret: left exactly as it is.
        ("/data/year=2024/key=3/part-0.parquet", "/data/year=2024/key=3/part-0.parquet"),
        ("s3://bucket/a@b/c", "s3://bucket/a@b/c"),
        ("job.yaml: a, line 5: want x=1; got y", "job.yaml: a, line 5: want x=1; got y"),
    ],
)  # fmt: skip
def test_redact(given: str, shown: str) -> None:
    assert redact(given) == shown


def test_redact_value_walks_json() -> None:
    value = {"input": {"path": "s3://k:s@b/p"}, "list": ["x", "tcp://u:p@h:1"], "n": 3}
    assert redact_value(value) == {
        "input": {"path": "s3://***@b/p"},
        "list": ["x", "tcp://***@h:1"],
        "n": 3,
    }


def test_errors_are_redacted_when_made() -> None:
    """So that the CLI, Prefect's failed states and logged tracebacks all show the masked text."""
    for error in (InputError, OutputError):
        assert str(error("s3://KEY:SECRET@bucket/x: input not found")) == (
            "s3://***@bucket/x: input not found"
        )


def _run_with_secrets(tmp_path: Path) -> RunResult:
    """A run whose input folder and gold file names carry a token, standing in for signed URLs,
    and whose Dask scheduler address has a password: all three land in the manifest."""
    data = write_folder(tmp_path / "data?token=hunter2")
    gold = tmp_path / "gold?sig=hunter2.parquet"
    pq.write_table(pa.table({"text": make_texts(6), "label": LABELS * 2}), gold)
    raw = job_dict(
        data,
        tmp_path / "out",
        runner={"address": "tcp://admin:hunter2@sched:8786"},
        calibration={"gold": str(gold)},
    )
    return run_job(JobConfig.from_dict(raw))


def test_secrets_stay_out_of_manifest_run_info_and_summary_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_with_secrets(tmp_path)
    for name in ("manifest.json", "run.json"):
        assert "hunter2" not in (result.output_dir / name).read_text()
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert manifest["input"]["path"].endswith("data?token=***")
    assert manifest["config"]["runner"]["address"] == "tcp://***@sched:8786"
    assert "gold?sig=***" in json.dumps(manifest["combine"])

    from zslabel.flows import artifacts
    from zslabel.summary import format_run

    published: list[Any] = []
    for create in ("create_markdown_artifact", "create_table_artifact", "create_link_artifact"):
        monkeypatch.setattr(artifacts, create, lambda *a, **k: published.append((a, k)))
    artifacts.publish(result, format_run(result), artifacts.ArtifactKeys.for_job("job"))
    assert "token=***" in str(published)
    assert "hunter2" not in str(published)


def test_no_output_file_quotes_a_secret(tmp_path: Path) -> None:
    result = _run_with_secrets(tmp_path)
    for path in result.output_dir.iterdir():
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path.name


def test_a_model_is_identified_by_the_hash_of_its_weights(tiny_model: Path) -> None:
    model = resolve_model(str(tiny_model))
    weights = (tiny_model / "model.safetensors").read_bytes()
    assert model.weights_sha256 == hashlib.sha256(weights).hexdigest()


def test_pickled_weights_beside_safetensors_are_neither_hashed_nor_loaded(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = shutil.copytree(tiny_model, tmp_path / "model")
    (folder / "pytorch_model.bin").write_bytes(b"a pickle that must never be opened")
    assert (
        resolve_model(str(folder)).weights_sha256 == resolve_model(str(tiny_model)).weights_sha256
    )


def test_hub_downloads_skip_pickles_and_record_the_commit(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = shutil.copytree(tiny_model, tmp_path / "snapshots" / commit)
    asked: dict[str, Any] = {}

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        asked.update(repo_id=repo_id, **kwargs)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    model = resolve_model("org/tiny@v1")
    assert asked["revision"] == "v1"
    assert "pytorch_model*.bin" in asked["ignore_patterns"]
    assert (model.name, model.origin, model.revision) == ("org/tiny", "hub", commit)


def test_remote_code_is_never_trusted() -> None:
    """Every from_pretrained call in the package leaves trust_remote_code off (its default) or
    sets it to False literally, and the name appears nowhere else: nothing can switch it on."""
    calls = 0
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert source.count("trust_remote_code") == source.count("trust_remote_code=False"), path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "from_pretrained":
                calls += 1
                for keyword in node.keywords:
                    if keyword.arg == "trust_remote_code":
                        assert isinstance(keyword.value, ast.Constant), f"{path}:{node.lineno}"
                        assert keyword.value.value is False, f"{path}:{node.lineno}"
    assert calls >= 4
