"""The flow warns about ids earlier versions labeled too, as the library does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_reused_ids import check_reused, weekly_job
from zslabel.config import JobConfig
from zslabel.flows.label_dataset import label_dataset

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_flow_versions_warn_about_reused_ids(
    tmp_path: Path, fake_job: Callable[..., JobConfig]
) -> None:
    data = tmp_path / "data"
    job = weekly_job(fake_job, data).model_dump(mode="json")

    def run() -> dict[str, Any]:
        outcome = label_dataset(job=job)
        assert isinstance(outcome, dict)
        manifest: dict[str, Any] = outcome["manifest"]
        return manifest

    check_reused(run, data)
