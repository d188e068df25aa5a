"""The flow's drift verdict (artifact, logs, a Failed run with on_drift: fail) and its optional
train-student task, run under the temporary Prefect server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client

import zslabel.student as student_package
from tests.conftest import make_texts
from tests.test_drift import finance_heavy, new_topic
from zslabel import cli
from zslabel.errors import DriftFailed, InputError
from zslabel.flows.label_dataset import label_dataset
from zslabel.student import StudentModel

pytestmark = pytest.mark.usefixtures("prefect_server")


def latest_artifacts() -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_latest_artifacts()}


def test_on_drift_fail_ends_the_run_failed_naming_the_shift_with_the_version_written(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = {"incremental": True, "drift": {"on_drift": "fail"}}
    first = label_dataset(job_path=str(job_file), overrides=overrides)
    assert first["manifest"]["drift"]["first_version"] is True
    assert "baseline" in str(latest_artifacts()["zslabel-job-drift"].data)

    shifted = finance_heavy(150, seed=3) + new_topic(90, seed=3) + [""] * 60
    pq.write_table(pa.table({"text": shifted}), job_file.parent / "data/shifted.parquet")
    state = label_dataset(job_path=str(job_file), overrides=overrides, return_state=True)
    assert state.is_failed()
    # Returned as a Failed state, not raised: no "encountered an exception" and no traceback
    # in the log, and the exception carries what the flow returns otherwise.
    assert str(state.message).startswith(str(job_file.parent / "out" / "v0002") + ": drift: ")
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, DriftFailed)
    assert failure.outcome["output_dir"] == str(job_file.parent / "out" / "v0002")
    assert "class mix changed: finance" in str(state.message)
    assert "invalid_rate" in str(state.message)
    out = job_file.parent / "out"
    index = json.loads((out / "versions.json").read_text())
    assert index["latest"] == "v0002"  # written and recorded before the run failed
    drift = json.loads((out / "v0002" / "drift.json").read_text())
    assert drift["drifted"] is True
    assert drift["baseline"] == "../v0001"
    artifact = str(latest_artifacts()["zslabel-job-drift"].data)
    assert artifact.startswith("## zslabel drift: DRIFT")
    assert "| psi |" in artifact
    assert "**crossed**" in artifact
    assert "`vacunación`" in artifact

    # Through `zslabel run`: like texts again are a shift back from v0002; one line, exit 1.
    pq.write_table(
        pa.table({"text": make_texts(90, seed=4)}), job_file.parent / "data/back.parquet"
    )
    text = job_file.read_text() + "incremental: true\ndrift: {on_drift: fail}\n"
    job_file.write_text(text)
    assert cli.main(["run", str(job_file)]) == 1
    captured = capsys.readouterr()
    # The version's summary, then one line naming the thresholds, as `zslabel label` prints.
    assert "drift: on_drift is fail: this run is marked failed (outputs kept)" in captured.out
    assert re.search(r"^zslabel run: .*v0003: drift: .*class mix changed", captured.err, re.M)
    assert "Traceback" not in captured.err
    assert json.loads((out / "versions.json").read_text())["latest"] == "v0003"


def test_the_student_task_trains_a_model_that_predicts(job_file: Path, tiny_model: Path) -> None:
    overrides = {"student": {"model": str(tiny_model), "rounds": 1}}
    outcome = label_dataset(job_path=str(job_file), overrides=overrides)
    out = Path(outcome["output_dir"])
    assert outcome["student"]["rounds"]  # its metrics.json, returned by the task
    assert json.loads((out / "student" / "metrics.json").read_text()) == outcome["student"]
    model = StudentModel.load(out / "student" / "model")
    probs = model.predict_proba(make_texts(12, seed=7))
    assert probs.shape == (12, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert "Student trained" in str(latest_artifacts()["zslabel-job-student"].data)


def test_a_failed_student_keeps_the_version_and_the_run_completed(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise InputError("injected: the train split is empty")

    monkeypatch.setattr(student_package, "train", broken)
    state = label_dataset(
        job_path=str(job_file), overrides={"student": {"rounds": 0}}, return_state=True
    )
    assert state.is_completed()
    outcome = state.result()
    assert outcome["student"] == {"error": "injected: the train split is empty"}
    assert (Path(outcome["output_dir"]) / "labeled.parquet").is_file()
    artifact = str(latest_artifacts()["zslabel-job-student"].data)
    assert artifact.startswith("**Student training failed**")
